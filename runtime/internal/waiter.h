// Waiter: how a greenlet blocks until a hub-side event wakes it.
//
// A Waiter lives on the blocked greenlet's stack. Whatever should wake the
// greenlet (a link, a callback, a timer) calls wake() from the hub; wake()
// before wait() is remembered, as with gevent's Waiter. The optional timeout
// is a Timer owned by the Waiter, so nothing is left armed when the greenlet
// stops waiting, however it stops (woken, timed out, killed).
#ifndef GEVENTPP_RUNTIME_INTERNAL_WAITER_H_
#define GEVENTPP_RUNTIME_INTERNAL_WAITER_H_

#include "absl/time/time.h"
#include "runtime/hub.h"
#include "runtime/raw_greenlet.h"
#include "runtime/waitable.h"

namespace gevent {
namespace internal {

class Waiter {
 public:
  explicit Waiter(Hub* hub) : hub_(hub), greenlet_(hub->current()) {
    timer_.owner = this;
  }
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  // Blocks until wake() (returns true) or until `timeout` passes (returns
  // false). InfiniteDuration waits without a timer. Exceptions thrown into
  // the greenlet while it waits (kill, Timeout) propagate.
  // With `ref_timeout` false, the timeout does not keep the loop alive.
  bool wait(const char* what,
            absl::Duration timeout = absl::InfiniteDuration(),
            bool ref_timeout = true, const RawGreenlet* waiting_for = nullptr) {
    if (woken_) return true;
    if (timeout != absl::InfiniteDuration()) {
      hub_->start(&timer_, timeout, ref_timeout);
    }
    waiting_ = true;
    struct Reset {
      Waiter* w;
      ~Reset() {
        w->waiting_ = false;
        if (w->timer_.active()) w->hub_->stop(&w->timer_);
      }
    } reset{this};
    hub_->wait(what, waiting_for);
    return woken_;
  }

  // From the hub: wakes the waiting greenlet now (it runs until it blocks
  // again), or remembers the wake-up if it is not waiting yet.
  void wake() {
    woken_ = true;
    if (waiting_) {
      waiting_ = false;
      hub_->resume(greenlet_);
    }
  }

  bool woken() const { return woken_; }
  bool waiting() const { return waiting_; }
  RawGreenlet* greenlet() const { return greenlet_; }

  // A link that wakes this waiter when its source becomes ready.
  struct WakeLink : Link {
    explicit WakeLink(Waiter* w) : Link(&Fire), waiter(w) {}
    static void Fire(Link* l, Waitable*) { static_cast<WakeLink*>(l)->waiter->wake(); }
    Waiter* waiter;
  };
  // A callback that wakes this waiter.
  struct WakeCallback : Callback {
    explicit WakeCallback(Waiter* w) : Callback(&Fire), waiter(w) {}
    static void Fire(Callback* c) { static_cast<WakeCallback*>(c)->waiter->wake(); }
    Waiter* waiter;
  };

 private:
  struct TimeoutTimer : Timer {
    TimeoutTimer() : Timer(&Fire) {}
    static void Fire(Timer* t) {
      Waiter* w = static_cast<TimeoutTimer*>(t)->owner;
      if (w->waiting_) {
        w->waiting_ = false;
        w->hub_->resume(w->greenlet_);
      }
    }
    Waiter* owner = nullptr;
  };

  Hub* hub_;
  RawGreenlet* greenlet_;
  TimeoutTimer timer_;
  bool waiting_ = false;
  bool woken_ = false;
};

}  // namespace internal
}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_INTERNAL_WAITER_H_
