#include "runtime/async_result.h"

#include "absl/base/optimization.h"
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
  if (ABSL_PREDICT_FALSE(name_.named())) {
    WaitName::Scope named(name_, hub());
    return Block("AsyncResult.wait", timeout);
  }
  return Block("AsyncResult.wait", timeout);
}

bool AsyncResultBase::Block(const char* what, absl::Duration timeout) {
  Waiter waiter(hub());
  Waiter::WakeLink link(&waiter);
  rawlink(&link);
  if (!waiter.wait(what, timeout) && !link.linked()) {
    internal::ThrowDestroyedWhileWaiting(what);
  }
  return ready_;
}

void AsyncResultBase::WaitForGet(bool block, absl::Duration timeout) {
  CheckOwnHub(hub(), "AsyncResult", "get");
  if (!ready_) {
    if (!block) throw TimeoutError(absl::ZeroDuration(), 0);
    if (ABSL_PREDICT_FALSE(name_.named())) {
      WaitName::Scope named(name_, hub());
      Block("AsyncResult.get", timeout);
    } else {
      Block("AsyncResult.get", timeout);
    }
    if (!ready_) throw TimeoutError(timeout, 0);
  }
  if (error_ != nullptr) std::rethrow_exception(error_);
}

}  // namespace internal
}  // namespace gevent
