// What a hub reports to an observer: the kinds of events, the event, and the
// observer interface (traces/ records them; the simulator hashes them).
//
// An observer sees events, not bytes: how an event is stored is the
// observer's business. The kinds' numbers are not a file format: traces/
// maps each kind to its own tag.
#ifndef GEVENTPP_RUNTIME_HUB_OBSERVER_H_
#define GEVENTPP_RUNTIME_HUB_OBSERVER_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/time/time.h"
#include "runtime/nanos.h"
#include "runtime/scheduling_policy.h"

namespace gevent {

class RawGreenlet;

// What the hub reports to an observer (the simulator's event hash, traces).
enum class HubEventKind : uint8_t {
  kSpawn = 1,         // a greenlet was created and scheduled (a = parent id)
  kSwitch = 2,        // a greenlet is about to run
  kFinish = 3,        // a greenlet finished (a: 0 value, 1 error, 2 killed)
  kTimerFired = 4,    // a timer fired (a = its start sequence number)
  kCallback = 5,      // a callback ran
  kIo = 6,            // a file descriptor was delivered (a = fd, b = revents)
  kIdle = 7,          // idle watchers ran
  kTimeAdvanced = 8,  // the clock moved (a = by how many ns)
  kDecision = 9,      // a choice: a = options, b = option taken, c = Decision
  kLoopExit = 10,     // the loop ran out of referenced work
  kSleep = 11,        // a greenlet sleeps (a = ns)
  kTimeoutFired = 12, // a Timeout fired into `greenlet`
  kKill = 13,         // a kill is delivered to `greenlet`
  kLinkNotified = 14, // a link was called
  kNote = 15,         // a user note (text)
  kTimerStarted = 16, // a timer was started (greenlet = who, a = its start
                      // sequence number, b = delay in ns); e.time is the
                      // clock reading its deadline counts from
  kForeignWork = 17,  // a callback another thread sent was taken into the
                      // FIFO (a = its tag, 0 for none: run_callback_threadsafe)
  kLastKind = kForeignWork,
};

struct HubEvent {
  HubEventKind kind;
  int64_t time_ns;  // the hub's clock (runtime/nanos.h); see time()
  uint64_t greenlet = 0;  // id of the greenlet concerned, 0 for none
  int64_t a = 0;
  int64_t b = 0;
  int64_t c = 0;
  const RawGreenlet* who = nullptr;  // for names; valid during the call only
  const char* text = nullptr;        // kNote; valid during the call only
  absl::Time time() const { return TimeFromNanos(time_ns); }

  // The fields by name, per kind (what a, b and c hold):
  uint64_t parent() const { return static_cast<uint64_t>(a); }  // kSpawn
  // kFinish: how the greenlet ended.
  enum class Finish : int64_t { kValue = 0, kError = 1, kKilled = 2 };
  Finish finish() const { return static_cast<Finish>(a); }
  uint64_t timer_seq() const { return static_cast<uint64_t>(a); }  // kTimerFired, kTimerStarted
  int64_t delay_ns() const { return b; }                           // kTimerStarted
  int fd() const { return static_cast<int>(a); }                   // kIo
  uint32_t revents() const { return static_cast<uint32_t>(b); }    // kIo
  int64_t advanced_ns() const { return a; }                        // kTimeAdvanced
  size_t options() const { return static_cast<size_t>(a); }        // kDecision
  size_t option_taken() const { return static_cast<size_t>(b); }   // kDecision
  Decision decision() const { return static_cast<Decision>(c); }   // kDecision
  int64_t sleep_ns() const { return a; }                           // kSleep
  bool sleep_referenced() const { return b != 0; }                 // kSleep
};

struct HubEventLane;  // event_lane.h

class HubObserver {
 public:
  virtual ~HubObserver() = default;
  virtual void OnHubEvent(const HubEvent& e) = 0;
  // False if the observer ignores kCallback events (the commonest event,
  // one per callback the loop runs): the hub then does not report them.
  // Asked when the observer is set.
  virtual bool WantsCallbacks() const { return true; }
  // The observer's fast lane (see HubEventLane), or nullptr. Asked when the
  // observer is set; the lane must stay valid while it is.
  virtual HubEventLane* lane() { return nullptr; }
  // True if the observer wants BeforeWait. Asked when the observer is set.
  virtual bool WantsBeforeWait() const { return false; }
  // The loop is about to wait for events until `deadline_ns` (the hub's
  // clock; kNanosFuture: no timer), having nothing to run: time the program
  // does not use, for the observer's own work (a recorder writes its file).
  // Returns when the loop is to come back at the latest: `deadline_ns`, or
  // earlier, after `now_ns`, for more of that work (a wake-up with no
  // events, which the clock's move reports).
  virtual int64_t BeforeWait(int64_t now_ns, int64_t deadline_ns) {
    (void)now_ns;
    return deadline_ns;
  }
};

// Called with the greenlet (nullptr for a hub callback) and the error that
}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_HUB_OBSERVER_H_
