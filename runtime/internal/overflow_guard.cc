#include "runtime/internal/overflow_guard.h"

#include <signal.h>
#include <ucontext.h>
#include <string.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "runtime/hub.h"
#include "runtime/internal/sanitizers.h"
#include "runtime/raw_greenlet.h"

namespace gevent {
namespace internal {

// Reads the running greenlet's stack; defined in raw_greenlet access below.
bool CurrentGreenletGuard(const void* addr, const void* sp, char* name,
                          size_t name_size, size_t* size);

namespace {

struct sigaction g_previous;

void WriteAll(const char* s, size_t n) {
  while (n > 0) {
    ssize_t w = write(2, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}

// The stack pointer of the interrupted code (this handler runs on the
// alternate signal stack), or nullptr where it is not known.
const void* InterruptedSp(void* uctx) {
  if (uctx == nullptr) return nullptr;
  const ucontext_t* uc = static_cast<const ucontext_t*>(uctx);
#if defined(__x86_64__)
  return reinterpret_cast<const void*>(uc->uc_mcontext.gregs[REG_RSP]);
#elif defined(__aarch64__)
  return reinterpret_cast<const void*>(uc->uc_mcontext.sp);
#else
  (void)uc;
  return nullptr;
#endif
}

void OnSegv(int sig, siginfo_t* info, void* uctx) {
  char name[256];
  size_t size = 0;
  if (CurrentGreenletGuard(info->si_addr, InterruptedSp(uctx), name,
                           sizeof name, &size)) {
    DieOfStackOverflow(name, size);
  }
  // Not ours: hand it to the previous handler, or die the default way.
  if ((g_previous.sa_flags & SA_SIGINFO) && g_previous.sa_sigaction != nullptr) {
    g_previous.sa_sigaction(sig, info, uctx);
    return;
  }
  if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN &&
      g_previous.sa_handler != nullptr) {
    g_previous.sa_handler(sig);
    return;
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

void DieOfStackOverflow(const char* greenlet_name, size_t stack_size) {
  char buf[512];
  int n = snprintf(buf, sizeof buf,
                   "geventpp: stack overflow in greenlet '%s' (stack size %zu "
                   "KiB); use less stack or spawn it with a larger stack\n",
                   greenlet_name != nullptr ? greenlet_name : "?",
                   stack_size / 1024);
  if (n > 0) WriteAll(buf, static_cast<size_t>(n) < sizeof buf ? n : sizeof buf - 1);
  signal(SIGABRT, SIG_DFL);
  abort();
}

void InstallOverflowHandler() {
#if GEVENT_ASAN
  // AddressSanitizer reports stack overflows itself, naming the address.
  return;
#else
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = &OnSegv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_previous);
  });
  thread_local bool have_altstack = false;
  if (!have_altstack) {
    stack_t current;
    if (sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE)) {
      static constexpr size_t kAltSize = 64 * 1024;
      // Lives as long as the thread; one per thread that has a hub.
      thread_local char* alt = static_cast<char*>(malloc(kAltSize));
      stack_t ss;
      ss.ss_sp = alt;
      ss.ss_size = kAltSize;
      ss.ss_flags = 0;
      sigaltstack(&ss, nullptr);
    }
    have_altstack = true;
  }
#endif
}

}  // namespace internal
}  // namespace gevent
