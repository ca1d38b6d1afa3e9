#include "runtime/semaphore.h"

#include "absl/strings/str_cat.h"
#include "runtime/internal/hub_check.h"
#include "runtime/internal/waiter.h"

namespace gevent {

// A greenlet waiting in acquire(). Lives on its stack.
// Served: it was granted a permit.
struct Semaphore::Waiter : internal::ListedWaiter {
  explicit Waiter(Hub* hub) : waiter(hub), wake(&waiter) {}
  internal::Waiter waiter;
  internal::Waiter::WakeCallback wake;
};

Semaphore::Semaphore(int64_t value)
    : Waitable(get_hub()), counter_(value), initial_(value) {
  if (value < 0) {
    throw std::invalid_argument(
        absl::StrCat("Semaphore: initial value must be >= 0, got ", value));
  }
}

Semaphore::~Semaphore() {
  // Its waiters stay blocked (on nothing now) until they are killed.
  waiters_.DetachAll([](Waiter* w) { w->waiter.greenlet()->set_blocked_on(nullptr); });
}

std::string Semaphore::describe() const {
  return name_.empty() ? kind() : absl::StrCat(kind(), " '", name_, "'");
}

const RawGreenlet* Semaphore::holder() const {
  return initial_ == 1 && counter_ <= 0 ? holder_ : nullptr;
}

bool Semaphore::acquire(bool blocking, absl::Duration timeout) {
  if (ABSL_PREDICT_FALSE(!internal::OnOwnHub(hub()))) {
    internal::ThrowInvalidThreadUse(kind(), "acquire", hub());
  }
  if (counter_ > 0 && waiters_.empty()) {
    --counter_;
    if (initial_ == 1) holder_ = hub()->current();
    return true;
  }
  if (!blocking) return false;
  Hub* const hub = this->hub();
  Waiter w(hub);
  waiters_.Wait(&w);
  hub->current()->set_blocked_on(this);
  struct Leave {
    Semaphore* sem;  // not touched once the waiter is detached
    Hub* hub;
    Waiter* w;
    ~Leave() {
      w->waiter.greenlet()->set_blocked_on(nullptr);
      if (!w->detached) sem->waiters_.Leave(w);
      if (w->wake.pending()) hub->cancel(&w->wake);
    }
  } leave{this, hub, &w};
  try {
    w.waiter.wait("Semaphore.acquire", timeout);
  } catch (...) {
    // Killed (or timed out by a Timeout) after the permit was handed over:
    // pass it on so it is not lost (unless the semaphore is gone).
    if (w.served && !w.detached) {
      waiters_.Leave(&w);
      Release();
    }
    throw;
  }
  if (!w.served && w.detached) internal::ThrowDestroyedWhileWaiting("Semaphore.acquire");
  return w.served;
}

void Semaphore::release() {
  if (!internal::OnOwnHub(hub())) {
    // From another thread (or hub): the permit is returned on the
    // semaphore's own hub, soon (it must outlive the hand-over).
    hub()->run_callback_threadsafe([this] { Release(); });
    return;
  }
  Release();
}

void Semaphore::Release() {
  if (Waiter* w = waiters_.Serve()) {
    holder_ = w->waiter.greenlet();
    hub()->run_callback(&w->wake);
    if (link_count() > 0) {
      owed_wakeups_ = link_count();
      notify_links();
    }
    return;
  }
  ++counter_;
  holder_ = nullptr;
  notify_links();
}

bool Semaphore::keep_notifying() const {
  if (owed_wakeups_ > 0) {
    --owed_wakeups_;
    return true;
  }
  return counter_ > 0;
}

BoundedSemaphore::BoundedSemaphore(int64_t value)
    : Semaphore(value), limit_(value) {}

void BoundedSemaphore::release() {
  // Its limit (and a Lock's holder) can only be checked on its own hub.
  if (!internal::OnOwnHub(hub())) {
    internal::ThrowInvalidThreadUse(kind(), "release", hub());
  }
  if (counter() >= limit_) {
    throw std::logic_error(absl::StrCat(
        "BoundedSemaphore released too many times (its limit is ", limit_, ")"));
  }
  Release();
}

bool RLock::acquire(bool blocking, absl::Duration timeout) {
  internal::CheckOwnHub(block_.hub(), "RLock", "acquire");
  RawGreenlet* me = getcurrent();
  if (owner_.lock().get() == me) {
    ++count_;
    return true;
  }
  if (!block_.acquire(blocking, timeout)) return false;
  owner_ = me->shared_from_this();
  count_ = 1;
  return true;
}

void RLock::release() {
  internal::CheckOwnHub(block_.hub(), "RLock", "release");
  if (owner_.lock().get() != getcurrent()) {
    throw std::logic_error("cannot release an RLock this greenlet does not hold");
  }
  if (--count_ == 0) {
    owner_.reset();
    block_.release();
  }
}

}  // namespace gevent
