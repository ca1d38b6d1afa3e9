// The machine context of one greenlet and the switch between two of them.
//
// Built on Boost.Context's fcontext (a few instructions per switch). A switch
// also carries what must follow the running code from stack to stack:
//  - the C++ exception state (`__cxa_get_globals`): each greenlet has its own
//    "currently caught" exceptions, so `throw;` and std::current_exception()
//    inside a catch block still work after the greenlet switched away and back;
//  - AddressSanitizer's notion of the current stack (fiber annotations), so
//    ASan neither reports false stack overflows nor misses real errors.
#ifndef GEVENTPP_RUNTIME_INTERNAL_CONTEXT_H_
#define GEVENTPP_RUNTIME_INTERNAL_CONTEXT_H_

#include <cstddef>

#include <boost/context/detail/fcontext.hpp>

#include "runtime/internal/sanitizers.h"

namespace gevent {
namespace internal {

struct Context {
  boost::context::detail::fcontext_t fctx = nullptr;
  // Stack bounds, as AddressSanitizer wants them (bottom = lowest address).
  const void* stack_bottom = nullptr;
  size_t stack_size = 0;
  void* asan_fake_stack = nullptr;
  // What a context made by MakeContext runs when first jumped to.
  void (*entry)(void*) = nullptr;
  void* entry_arg = nullptr;
};

// Prepares `ctx` to run `entry(arg)` on the given stack the first time it is
// jumped to. `entry` must never return; it ends with FinalJump.
void MakeContext(Context* ctx, char* stack_base, size_t stack_size,
                 void (*entry)(void*), void* arg);

// Suspends the running code into `from` and resumes `to`. Returns when some
// other context jumps back to `from`.
void Jump(Context* from, Context* to);

// Like Jump, but `from` is finished and will never be resumed.
[[noreturn]] void FinalJump(Context* from, Context* to);

}  // namespace internal
}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_INTERNAL_CONTEXT_H_
