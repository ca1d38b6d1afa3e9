#include "runtime/event.h"

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "runtime/internal/hub_check.h"
#include "runtime/internal/waiter.h"
#include "runtime/internal/waiter_list.h"

namespace gevent {

Event::Event() : Waitable(get_hub()) {}

void Event::set() {
  if (!internal::OnOwnHub(hub())) {
    // From another thread (or hub): the flag is set, and waiters woken, on
    // the Event's own hub (the Event must outlive the hand-over).
    hub()->run_callback_threadsafe([this] { set(); });
    return;
  }
  flag_ = true;
  owed_wakeups_ = link_count();
  notify_links();
}

void Event::clear() {
  internal::CheckOwnHub(hub(), "Event", "clear");
  flag_ = false;
}

bool Event::keep_notifying() const {
  if (owed_wakeups_ > 0) {
    --owed_wakeups_;
    return true;
  }
  return flag_;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool Event::Block(absl::Duration timeout) {
  if (timeout != absl::InfiniteDuration()) {
    internal::Waiter waiter(hub());
    internal::Waiter::WakeLink link(&waiter);
    LinkNotReady(&link);
    if (waiter.wait("Event.wait", timeout)) return true;
    // Timed out: unless the Event is gone (its destructor unlinked us).
    if (!link.linked()) internal::ThrowDestroyedWhileWaiting("Event.wait");
    return flag_;
  }
  // No timeout: the link resumes the waiter itself, no Waiter needed (the
  // wait ends only by the link, or by an exception thrown in, after which
  // the link's destructor unlinks it).
  Hub* h = hub();
  internal::ResumeLink link(h->current());
  LinkNotReady(&link);
  h->wait("Event.wait");
  return true;
}

bool Event::wait(absl::Duration timeout) {
  internal::CheckOwnHub(hub(), "Event", "wait");
  if (flag_) return true;
  if (ABSL_PREDICT_FALSE(name_.named())) {
    internal::WaitName::Scope named(name_, hub());
    return Block(timeout);
  }
  return Block(timeout);
}

}  // namespace gevent
