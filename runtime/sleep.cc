#include "runtime/sleep.h"

#include "runtime/hub.h"
#include "runtime/internal/waiter.h"

namespace gevent {

void sleep(absl::Duration seconds, bool ref) {
  Hub* hub = get_hub();
  if (seconds <= absl::ZeroDuration()) {
    hub->yield();
    return;
  }
  // The timer resumes the sleeper itself (no Waiter: a sleep is only ended
  // by its timer, or by an exception thrown in, after which the timer's
  // destructor stops it). Small frames matter: with thousands of sleepers,
  // every cache line of a sleeper's stack is a miss when it wakes.
  ResumeTimer timer(hub, hub->current());
  hub->start_sleep(&timer, seconds, ref);  // reports the sleep, then the start
  hub->wait(ref ? "sleep" : "sleep(ref=false)");
}

void idle(int priority) {
  Hub* hub = get_hub();
  internal::Waiter waiter(hub);
  struct WakeIdle : IdleWatcher {
    WakeIdle(internal::Waiter* w, int priority)
        : IdleWatcher(&Fire, priority), waiter(w) {}
    static void Fire(IdleWatcher* i) { static_cast<WakeIdle*>(i)->waiter->wake(); }
    internal::Waiter* waiter;
  } watcher(&waiter, priority);
  hub->start(&watcher);
  waiter.wait("idle");
}

}  // namespace gevent
