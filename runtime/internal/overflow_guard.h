// Turning a greenlet stack overflow into a clear fatal message.
//
// A guarded stack overflows into its guard page and faults; the SIGSEGV
// handler (running on an alternate signal stack) recognises the guard page of
// the running greenlet, or a stack pointer up to 1 MiB below its stack (a
// frame larger than the guard page that faulted further down), and ends the
// process with
//   "geventpp: stack overflow in greenlet '<name>' (stack size N KiB)".
// Unguarded stacks are checked through their canary when they switch out.
// docs/design.md ("Stacks") says what is still not caught.
#ifndef GEVENTPP_RUNTIME_INTERNAL_OVERFLOW_GUARD_H_
#define GEVENTPP_RUNTIME_INTERNAL_OVERFLOW_GUARD_H_

#include <cstddef>

namespace gevent {
namespace internal {

// Installs the process-wide SIGSEGV handler and this thread's alternate
// signal stack. Idempotent; called when a hub is created.
void InstallOverflowHandler();

[[noreturn]] void DieOfStackOverflow(const char* greenlet_name,
                                     size_t stack_size);

}  // namespace internal
}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_INTERNAL_OVERFLOW_GUARD_H_
