#include "runtime/semaphore.h"

#include "absl/strings/str_cat.h"
#include "runtime/internal/waiter.h"

namespace gevent {

// A greenlet waiting in acquire(). Lives on its stack.
struct Semaphore::Waiter : internal::ListNode {
  explicit Waiter(Hub* hub) : waiter(hub), wake(&waiter) {}
  internal::Waiter waiter;
  internal::Waiter::WakeCallback wake;
  bool granted = false;
};

Semaphore::Semaphore(int64_t value) : Waitable(get_hub()), counter_(value) {
  if (value < 0) {
    throw std::invalid_argument(
        absl::StrCat("Semaphore: initial value must be >= 0, got ", value));
  }
}

Semaphore::~Semaphore() = default;

bool Semaphore::acquire(bool blocking, absl::Duration timeout) {
  if (counter_ > 0 && waiters_.empty()) {
    --counter_;
    return true;
  }
  if (!blocking) return false;
  Waiter w(hub());
  waiters_.push_back(&w);
  struct Leave {
    Semaphore* sem;
    Waiter* w;
    ~Leave() {
      if (w->linked()) sem->waiters_.remove(w);
      if (w->wake.pending()) sem->hub()->cancel(&w->wake);
    }
  } leave{this, &w};
  try {
    w.waiter.wait("Semaphore.acquire", timeout);
  } catch (...) {
    // Killed (or timed out by a Timeout) after the permit was handed over:
    // pass it on so it is not lost.
    if (w.granted) {
      w.granted = false;
      Release();
    }
    throw;
  }
  return w.granted;
}

void Semaphore::release() { Release(); }

void Semaphore::Release() {
  if (Waiter* w = waiters_.pop_front()) {
    w->granted = true;
    hub()->run_callback(&w->wake);
    if (link_count() > 0) {
      owed_wakeups_ = link_count();
      notify_links();
    }
    return;
  }
  ++counter_;
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
  if (counter() >= limit_) {
    throw std::logic_error(absl::StrCat(
        "BoundedSemaphore released too many times (its limit is ", limit_, ")"));
  }
  Release();
}

bool RLock::acquire(bool blocking, absl::Duration timeout) {
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
  if (owner_.lock().get() != getcurrent()) {
    throw std::logic_error("cannot release an RLock this greenlet does not hold");
  }
  if (--count_ == 0) {
    owner_.reset();
    block_.release();
  }
}

}  // namespace gevent
