// AsyncResult<T>: a value (or an error) that will be available later.
//
//   gevent::AsyncResult<int> result;
//   gevent::spawn_later(absl::Milliseconds(10), [&] { result.set(42); });
//   int v = result.get();   // blocks this greenlet until set
//
// Like Event, it wakes every waiter when it becomes ready; unlike Event it
// stays ready. set() and set_exception() may be called from another thread
// (or hub): the value is handed to the AsyncResult's own hub, which wakes its
// waiters (gevent issue 1739). get() and wait() from another hub or thread
// throw InvalidThreadUseError. A greenlet's outcome can flow into it: pass it to
// Greenlet::link (`g->link(std::ref(result))`), as gevent allows.
#ifndef GEVENTPP_RUNTIME_ASYNC_RESULT_H_
#define GEVENTPP_RUNTIME_ASYNC_RESULT_H_

#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "absl/time/time.h"
#include "runtime/exceptions.h"
#include "runtime/greenlet.h"
#include "runtime/hub.h"
#include "runtime/internal/waiter.h"
#include "runtime/timeout.h"
#include "runtime/internal/wait_name.h"
#include "runtime/waitable.h"

namespace gevent {

namespace internal {

// What AsyncResult<T> and AsyncResult<void> share: readiness, the error,
// waiting, and handing results over from other threads.
class AsyncResultBase : public Waitable {
 public:
  bool ready() const override { return ready_; }
  // True if it holds a value (not an error).
  bool successful() const { return ready_ && error_ == nullptr; }
  // The error it was set with, or nullptr.
  std::exception_ptr exception() const { return error_; }
  // Stores the error and wakes every waiter. From any thread. As in gevent,
  // a later set() or set_exception() replaces the outcome.
  void set_exception(std::exception_ptr error);
  template <typename E, typename = std::enable_if_t<!std::is_same_v<
                            std::decay_t<E>, std::exception_ptr>>>
  void set_exception(E error) {
    set_exception(std::make_exception_ptr(std::move(error)));
  }
  // Blocks until ready or `timeout`; returns ready().
  bool wait(absl::Duration timeout = absl::InfiniteDuration());
  // An optional name, for deadlock reports ("main waits for AsyncResult
  // 'reply'").
  void set_name(std::string name) { name_.Set("AsyncResult", std::move(name)); }
  const std::string& name() const { return name_.Get(); }

 protected:
  AsyncResultBase() : Waitable(get_hub()) {}
  // Blocks for get(): throws TimeoutError if not ready in time, rethrows the
  // error if there is one.
  void WaitForGet(bool block, absl::Duration timeout);
  // Waits (as `what`) until ready or `timeout`; returns ready().
  bool Block(const char* what, absl::Duration timeout);
  // True if called on this object's own hub (its thread, with that hub
  // installed).
  bool OnOwnThread() const { return get_hub_if_exists() == hub(); }
  // Runs `apply` on this object's hub: now if on its thread, else through
  // run_callback_threadsafe (the object must outlive the hand-over).
  template <typename F>
  void OnHub(F&& apply) {
    if (OnOwnThread()) {
      apply();
    } else {
      hub()->run_callback_threadsafe(std::forward<F>(apply));
    }
  }
  void MarkReady() {
    ready_ = true;
    notify_links();
  }
  bool ready_ = false;
  std::exception_ptr error_;
  WaitName name_;
};

}  // namespace internal

template <typename T>
class AsyncResult : public internal::AsyncResultBase {
 public:
  AsyncResult() = default;

  // Stores the value and wakes every waiter. From any thread.
  void set(T value) {
    auto apply = [this, v = std::make_shared<T>(std::move(value))]() mutable {
      value_.emplace(std::move(*v));
      error_ = nullptr;
      MarkReady();
    };
    OnHub(std::move(apply));
  }
  // Waits (see Greenlet::get) and returns the value or rethrows the error.
  T get(bool block = true, absl::Duration timeout = absl::InfiniteDuration()) {
    WaitForGet(block, timeout);
    return *value_;
  }
  // get(timeout=...): blocks for at most `timeout`.
  T get(absl::Duration timeout) { return get(true, timeout); }
  const std::optional<T>& value() const { return value_; }

  // As a link target: takes the greenlet's outcome.
  void operator()(GreenletBase& source) {
    if (source.exception() != nullptr) {
      set_exception(source.exception());
    } else if (auto* typed = dynamic_cast<Greenlet<T>*>(&source);
               typed != nullptr && typed->value().has_value()) {
      set(*typed->value());
    } else {
      set_exception(NoValueError("greenlet '" + source.name() +
                                 "' was killed and has no value"));
    }
  }

 private:
  std::optional<T> value_;
};

template <>
class AsyncResult<void> : public internal::AsyncResultBase {
 public:
  AsyncResult() = default;
  void set() {
    OnHub([this] {
      error_ = nullptr;
      MarkReady();
    });
  }
  void get(bool block = true, absl::Duration timeout = absl::InfiniteDuration()) {
    WaitForGet(block, timeout);
  }
  // get(timeout=...): blocks for at most `timeout`.
  void get(absl::Duration timeout) { get(true, timeout); }
  void operator()(GreenletBase& source) {
    if (source.exception() != nullptr) {
      set_exception(source.exception());
    } else {
      set();
    }
  }
};

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_ASYNC_RESULT_H_
