// Semaphore, BoundedSemaphore, Lock and RLock.
//
//   gevent::Semaphore slots(3);
//   {
//     gevent::ScopedAcquire hold(slots);   // acquire(), release() on exit
//     // ... at most 3 greenlets at a time here ...
//   }
//
// Waiters are served first come, first served: release() hands the permit
// straight to the greenlet that has waited longest, so a greenlet that calls
// acquire() later cannot overtake it. A waiter that times out or is killed
// leaves the queue with nothing behind (a permit handed to it just before is
// passed on). For wait()/iwait(), a Semaphore is ready while a permit is
// free; a release() also wakes the wait()ers linked at that moment even if
// the permit goes straight to an acquirer (gevent wakes both).
//
// Threads (docs/api.md, "Threads"): a semaphore belongs to the hub of the
// thread that made it. Semaphore::release() may be called from any thread
// (or another hub): the permit is returned on the semaphore's own hub, soon,
// and wakes its longest waiter there (the semaphore must outlive that
// hand-over). Everything else from another thread or hub throws
// InvalidThreadUseError and changes nothing: acquire() of any kind, and
// release() of a BoundedSemaphore, Lock or RLock (whose limit and holder
// can only be checked on its hub).
#ifndef GEVENTPP_RUNTIME_SEMAPHORE_H_
#define GEVENTPP_RUNTIME_SEMAPHORE_H_

#include <cstdint>
#include <memory>
#include <stdexcept>

#include "absl/time/time.h"
#include "runtime/internal/intrusive_list.h"
#include "runtime/raw_greenlet.h"
#include "runtime/internal/waiter_list.h"
#include "runtime/waitable.h"

namespace gevent {

class Semaphore : public Waitable, public BlockingObject {
 public:
  // `value` permits to start with; negative is std::invalid_argument.
  explicit Semaphore(int64_t value = 1);
  ~Semaphore() override;

  // Takes a permit. Blocks (if `blocking`) until one is free or `timeout`
  // passed; returns true if it got one.
  bool acquire(bool blocking = true,
               absl::Duration timeout = absl::InfiniteDuration());
  // Returns a permit: to the longest waiter if there is one. From another
  // thread or hub: handed over to the semaphore's hub (see above).
  virtual void release();

  int64_t counter() const { return counter_; }
  // An optional name, for deadlock reports ("Lock 'accounts' held by
  // worker").
  void set_name(std::string name) { name_ = std::move(name); }
  const std::string& name() const { return name_; }
  // "Semaphore 'name'" (or the Lock's, BoundedSemaphore's kind).
  std::string describe() const override;
  // For a semaphore of one permit (a Lock): the greenlet that took it, while
  // it is taken; else nullptr.
  const RawGreenlet* holder() const override;
  // True if acquire() would block.
  bool locked() const { return counter_ <= 0 || !waiters_.empty(); }
  bool ready() const override { return counter_ > 0; }
  size_t waiter_count() const { return waiters_.size(); }

 protected:
  void Release();

 private:
  bool keep_notifying() const override;
  struct Waiter;
  internal::WaiterList<Waiter> waiters_;
  int64_t counter_;
  const int64_t initial_;
  std::string name_;
  // Who took the last permit (one-permit semaphores), for reports only.
  const RawGreenlet* holder_ = nullptr;
  virtual const char* kind() const { return "Semaphore"; }
  // wait()ers to wake for a permit that went straight to an acquirer.
  mutable size_t owed_wakeups_ = 0;
};

// A Semaphore that may not be released more often than acquired: that is a
// std::logic_error (gevent: ValueError) naming the limit.
class BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(int64_t value = 1);
  void release() override;

 private:
  const char* kind() const override { return "BoundedSemaphore"; }
  int64_t limit_;
};

// A mutual-exclusion lock between greenlets. Releasing it when it is not
// held is a std::logic_error.
class Lock : public BoundedSemaphore {
 public:
  Lock() : BoundedSemaphore(1) {}
  explicit Lock(std::string name) : BoundedSemaphore(1) { set_name(std::move(name)); }

 private:
  const char* kind() const override { return "Lock"; }
};

// A lock the holding greenlet may take again; it is free once released as
// many times as acquired. Releasing it from a greenlet that does not hold it
// is a std::logic_error.
class RLock {
 public:
  bool acquire(bool blocking = true,
               absl::Duration timeout = absl::InfiniteDuration());
  void release();
  // The greenlet holding it, or nullptr (also once that greenlet is gone:
  // the lock then stays held, as in gevent).
  const RawGreenlet* owner() const { return owner_.lock().get(); }
  int count() const { return count_; }

 private:
  Semaphore block_{1};
  std::weak_ptr<RawGreenlet> owner_;
  int count_ = 0;
};

// Acquires on construction, releases on destruction.
template <typename Lockable>
class ScopedAcquire {
 public:
  explicit ScopedAcquire(Lockable& lock) : lock_(lock) { lock_.acquire(); }
  ~ScopedAcquire() { lock_.release(); }
  ScopedAcquire(const ScopedAcquire&) = delete;
  ScopedAcquire& operator=(const ScopedAcquire&) = delete;

 private:
  Lockable& lock_;
};
template <typename Lockable>
ScopedAcquire(Lockable&) -> ScopedAcquire<Lockable>;

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_SEMAPHORE_H_
