// sleep() and idle(): giving the hub a chance to run other greenlets.
#ifndef GEVENTPP_RUNTIME_SLEEP_H_
#define GEVENTPP_RUNTIME_SLEEP_H_

#include "absl/time/time.h"

namespace gevent {

// Suspends the current greenlet for `seconds` (zero or negative: just yields
// to every other greenlet that is ready, round-robin, and comes back). With
// `ref` false the sleep does not keep the hub's loop alive: if nothing else
// is left, wait() returns and the main greenlet gets LoopExit instead.
void sleep(absl::Duration seconds = absl::ZeroDuration(), bool ref = true);

// Suspends the current greenlet until the hub has nothing else to do (no
// callback, expired timer or I/O pending). Among idle waiters, higher
// `priority` runs first.
void idle(int priority = 0);

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_SLEEP_H_
