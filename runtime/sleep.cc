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
  internal::Waiter waiter(hub);
  if (hub->observing()) {
    hub->Emit(HubEventKind::kSleep, hub->current()->id(),
              absl::ToInt64Nanoseconds(seconds), ref ? 1 : 0);
  }
  struct WakeTimer : Timer {
    explicit WakeTimer(internal::Waiter* w) : Timer(&Fire), waiter(w) {}
    static void Fire(Timer* t) { static_cast<WakeTimer*>(t)->waiter->wake(); }
    internal::Waiter* waiter;
  } timer(&waiter);
  hub->start(&timer, seconds, ref);
  waiter.wait(ref ? "sleep" : "sleep(ref=false)");
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
