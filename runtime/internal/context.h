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

// boost::context::detail::jump_fcontext, entered with a jump instead of a
// call. jump_fcontext resumes the other context with an indirect jump, not
// a `ret`, so a plain call leaves one stale entry on the CPU's return-stack
// predictor per switch. Every `ret` on the way back up the resumed
// greenlet's frames is then predicted one frame off: a misprediction each.
// Entered by a jump, the switch adds no entry. When two greenlets switch to
// each other through the same code (a hand-off between like greenlets),
// their return addresses match, and every return is predicted. Same
// semantics as the call: callee-saved registers are saved by jump_fcontext,
// and the caller-saved ones are declared clobbered.
inline boost::context::detail::transfer_t JumpFcontext(
    boost::context::detail::fcontext_t to, void* data) {
#if defined(__x86_64__) && !GEVENT_ASAN
  void* from_ctx;
  void* from_data;
  asm volatile(
      "movq %%rsp, %%r12\n\t"
      "subq $128, %%rsp\n\t"  // step over the red zone
      "andq $-16, %%rsp\n\t"
      "leaq 1f(%%rip), %%rax\n\t"
      "pushq %%rax\n\t"  // the return address jump_fcontext resumes at
      "jmp jump_fcontext\n"
      "1:\n\t"
      "movq %%r12, %%rsp\n\t"
      : "=a"(from_ctx), "=d"(from_data), "+D"(to), "+S"(data)
      :
      : "rbx", "rcx", "r8", "r9", "r10", "r11", "r12", "memory", "cc",
        "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
        "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
        "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)");
  return {from_ctx, from_data};
#else
  return boost::context::detail::jump_fcontext(to, data);
#endif
}

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
  boost::context::detail::transfer_t t = JumpFcontext(to->fctx, &jd);
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
