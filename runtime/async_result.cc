#include "runtime/async_result.h"

#include "runtime/internal/hub_check.h"
#include "runtime/internal/waiter_list.h"

namespace gevent {
namespace internal {

void AsyncResultBase::set_exception(std::exception_ptr error) {
  if (error == nullptr) {
    throw std::invalid_argument("AsyncResult::set_exception: null exception");
  }
  OnHub([this, error] {
    error_ = error;
    MarkReady();
  });
}

bool AsyncResultBase::wait(absl::Duration timeout) {
  CheckOwnHub(hub(), "AsyncResult", "wait");
  if (ready_) return true;
  Waiter waiter(hub());
  Waiter::WakeLink link(&waiter);
  rawlink(&link);
  if (!waiter.wait("AsyncResult.wait", timeout) && !link.linked()) {
    internal::ThrowDestroyedWhileWaiting("AsyncResult.wait");
  }
  return ready_;
}

void AsyncResultBase::WaitForGet(bool block, absl::Duration timeout) {
  CheckOwnHub(hub(), "AsyncResult", "get");
  if (!ready_) {
    if (!block) throw TimeoutError(absl::ZeroDuration(), 0);
    Waiter waiter(hub());
    Waiter::WakeLink link(&waiter);
    rawlink(&link);
    if (!waiter.wait("AsyncResult.get", timeout) && !link.linked()) {
      internal::ThrowDestroyedWhileWaiting("AsyncResult.get");
    }
    if (!ready_) throw TimeoutError(timeout, 0);
  }
  if (error_ != nullptr) std::rethrow_exception(error_);
}

}  // namespace internal
}  // namespace gevent
