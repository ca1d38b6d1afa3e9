// Small greenlet programs used by the trace tests, the benchmark and the
// example binary. Each uses only greenlets, timers and the primitives, so a
// run recorded on epoll replays identically on the simulated hub.
#ifndef GEVENTPP_TRACES_TEST_PROGRAMS_H_
#define GEVENTPP_TRACES_TEST_PROGRAMS_H_

#include "absl/time/time.h"

namespace gevent {
namespace trace {
namespace programs {

// Four workers behind an Event and a Semaphore(2) sleep and put into a
// bounded Queue read by a consumer; a greenlet hits its Timeout; another is
// killed; links count the finishes. `nap` scales the sleeps. Returns a
// checksum of the results (the same on every backend).
int Workers(absl::Duration nap = absl::Milliseconds(1));

// Two greenlets alternate `n` times with sleep(0).
void PingPong(int n);
// A token passed `n` times round a ring of 4 greenlets through Events (two
// wait without a timeout, two with one; some yield in between), while a
// fifth greenlet naps on timers: exercises the hub's hand-offs and the
// passes they give back to the hub. Returns the number of passes.
int EventRelay(int n);

// Three workers; one adds a note and fails with std::runtime_error("disk on
// fire") after 3 naps. Returns how many succeeded.
int Failing(absl::Duration nap = absl::Milliseconds(1));

// Four greenlets wake at the same deadline and race on a counter
// (read, sleep 1 ms, write): how many increments are lost depends on the
// order and lateness of their timers (the simulator's seed decides).
// Returns the counter.
int Race();

// The main greenlet busy-loops on sleep(0) until a greenlet sleeping `d`
// sets a flag (the hub's switch interval is set to `interval`, so that the
// loop's callback passes end often). Returns the number of loops.
int BusyUntilTimer(absl::Duration d, absl::Duration interval);

// The main greenlet sleeps `n` times.
void Naps(int n, absl::Duration nap = absl::Milliseconds(1));

}  // namespace programs
}  // namespace trace
}  // namespace gevent

#endif  // GEVENTPP_TRACES_TEST_PROGRAMS_H_
