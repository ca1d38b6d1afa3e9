#include "runtime/internal/context.h"

#include <cxxabi.h>

namespace gevent {
namespace internal {
namespace ctx = boost::context::detail;

namespace {

void Trampoline(ctx::transfer_t t) {
  JumpData* jd = static_cast<JumpData*>(t.data);
  jd->from->fctx = t.fctx;
  Context* self = jd->to;
#if GEVENT_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &jd->from->stack_bottom,
                                  &jd->from->stack_size);
#endif
  // A fresh greenlet has caught nothing.
  EhGlobals* g = ThreadEhGlobals();
  g->caught_exceptions = nullptr;
  g->uncaught_exceptions = 0;
  self->entry(self->entry_arg);
  __builtin_trap();  // entry never returns: it ends with FinalJump
}

}  // namespace

EhGlobals* ThreadEhGlobals() {
  thread_local EhGlobals* globals =
      reinterpret_cast<EhGlobals*>(abi::__cxa_get_globals());
  return globals;
}

void MakeContext(Context* c, char* stack_base, size_t stack_size,
                 void (*entry)(void*), void* arg) {
  c->fctx = ctx::make_fcontext(stack_base + stack_size, stack_size, &Trampoline);
  c->stack_bottom = stack_base;
  c->stack_size = stack_size;
  c->asan_fake_stack = nullptr;
  c->entry = entry;
  c->entry_arg = arg;
}

void FinalJump(Context* from, Context* to) {
  JumpData jd{from, to};
#if GEVENT_ASAN
  __sanitizer_start_switch_fiber(nullptr, to->stack_bottom, to->stack_size);
#endif
  ctx::jump_fcontext(to->fctx, &jd);
  __builtin_trap();
}

}  // namespace internal
}  // namespace gevent
