#include "runtime/event.h"

#include "runtime/internal/waiter.h"

namespace gevent {

Event::Event() : Waitable(get_hub()) {}

void Event::set() {
  if (get_hub_if_exists() != hub()) {
    // From another thread: the flag is set, and waiters woken, on the
    // Event's own hub (the Event must outlive the hand-over).
    hub()->run_callback_threadsafe([this] { set(); });
    return;
  }
  flag_ = true;
  owed_wakeups_ = link_count();
  notify_links();
}

void Event::clear() { flag_ = false; }

bool Event::keep_notifying() const {
  if (owed_wakeups_ > 0) {
    --owed_wakeups_;
    return true;
  }
  return flag_;
}

bool Event::wait(absl::Duration timeout) {
  if (flag_) return true;
  internal::Waiter waiter(hub());
  internal::Waiter::WakeLink link(&waiter);
  rawlink(&link);
  return waiter.wait("Event.wait", timeout) || flag_;
}

}  // namespace gevent
