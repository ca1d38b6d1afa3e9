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

// The two fields of the Itanium C++ ABI's per-thread exception globals
// (`__cxa_get_globals`): the stack of caught exceptions and the count of
// uncaught ones. Each greenlet has its own; a switch saves and restores them.
struct EhGlobals {
  void* caught_exceptions;
  unsigned int uncaught_exceptions;
};
// The calling thread's exception globals (looked up once per thread).
EhGlobals* ThreadEhGlobals();

// Passed (by address, on the jumper's suspended stack) with every jump, so
// that the context jumped to can store where `from` was suspended.
struct JumpData {
  Context* from;
  Context* to;
};

// Prepares `ctx` to run `entry(arg)` on the given stack the first time it is
// jumped to. `entry` must never return; it ends with FinalJump.
void MakeContext(Context* ctx, char* stack_base, size_t stack_size,
                 void (*entry)(void*), void* arg);

// Suspends the running code into `from` and resumes `to`. Returns when some
// other context jumps back to `from`. `eh` is the thread's exception
// globals (ThreadEhGlobals(); the hub keeps it at hand). Inline: this is the
// hot path of every switch, and jump_fcontext already saves the registers.
inline void Jump(Context* from, Context* to, EhGlobals* eh) {
  const EhGlobals saved = *eh;
  JumpData jd{from, to};
#if GEVENT_ASAN
  __sanitizer_start_switch_fiber(&from->asan_fake_stack, to->stack_bottom,
                                 to->stack_size);
#endif
  boost::context::detail::transfer_t t =
      boost::context::detail::jump_fcontext(to->fctx, &jd);
  static_cast<JumpData*>(t.data)->from->fctx = t.fctx;
#if GEVENT_ASAN
  JumpData* back = static_cast<JumpData*>(t.data);
  __sanitizer_finish_switch_fiber(from->asan_fake_stack,
                                  &back->from->stack_bottom,
                                  &back->from->stack_size);
#endif
  *eh = saved;
}
inline void Jump(Context* from, Context* to) {
  Jump(from, to, ThreadEhGlobals());
}

// Like Jump, but `from` is finished and will never be resumed.
[[noreturn]] void FinalJump(Context* from, Context* to);

}  // namespace internal
}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_INTERNAL_CONTEXT_H_
