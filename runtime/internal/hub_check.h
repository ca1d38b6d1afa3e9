// The hub-ownership check of the primitives and greenlets.
//
// An object bound to a hub may be used only by greenlets of that hub, and
// that hub is the calling thread's hub exactly when it runs them: so the
// check is one compare of the thread's hub pointer with the object's. On a
// mismatch (another thread, or another hub installed on this thread, such as
// a Simulation's) it throws InvalidThreadUseError naming both hubs and
// threads. The compare is not a use-after-free guard: an object used after
// its hub was destroyed is undefined, as any use of a destroyed object is.
#ifndef GEVENTPP_RUNTIME_INTERNAL_HUB_CHECK_H_
#define GEVENTPP_RUNTIME_INTERNAL_HUB_CHECK_H_

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/strings/string_view.h"
#include "runtime/hub.h"

namespace gevent {
namespace internal {

// Throws InvalidThreadUseError: "<object>.<method>: this <object> belongs
// to hub N (thread T), used from hub M (thread U)".
[[noreturn]] ABSL_ATTRIBUTE_NOINLINE void ThrowInvalidThreadUse(
    absl::string_view object, const char* method, const Hub* owner);

// `object` names the kind ("Event"), `method` the call ("wait").
inline void CheckOwnHub(const Hub* owner, const char* object,
                        const char* method) {
  if (ABSL_PREDICT_FALSE(t_hub_ptr != owner)) {
    ThrowInvalidThreadUse(object, method, owner);
  }
}

// True if called on `owner`'s own hub (else a hand-off is needed).
inline bool OnOwnHub(const Hub* owner) { return t_hub_ptr == owner; }

}  // namespace internal
}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_INTERNAL_HUB_CHECK_H_
