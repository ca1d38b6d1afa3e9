// The hub's signal watchers (through a signalfd) and fork watchers, with
// reinit() for a forked child.
#include "runtime/hub.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"

namespace gevent {

// ---- signals

void Hub::start(SignalWatcher* w) {
  if (w->hub_ != nullptr) return;
  const int sig = w->signum_;
  if (sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP) {
    throw std::invalid_argument(absl::StrCat(
        "cannot handle signal ", sig,
        sig == SIGKILL || sig == SIGSTOP ? " (it cannot be caught)"
                                         : " (not a valid signal number)"));
  }
  if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE) {
    // A fault is delivered to the faulting thread at once: a signalfd never
    // sees it, and blocking it would hide a crash (and stack overflows).
    throw std::invalid_argument(absl::StrCat(
        "cannot handle signal ", sig, " (", sigabbrev_np(sig),
        "): a fault signal cannot be delivered to the hub; it stays the crash it is"));
  }
  w->hub_ = this;
  signals_.push_back(w);
  UpdateSignalFd();
}

void Hub::stop(SignalWatcher* w) {
  if (w->hub_ == nullptr) return;
  signals_.remove(w);
  w->hub_ = nullptr;
  UpdateSignalFd();
}

void Hub::UpdateSignalFd() {
  sigset_t mask;
  sigemptyset(&mask);
  signals_.for_each([&](SignalWatcher* w) { sigaddset(&mask, w->signum_); });
  // Signals this hub blocked that no watcher wants any more get their
  // previous disposition back: unblocked, after the instances already
  // pending for the gone handlers are taken off (so that they do not now
  // run the default action).
  for (int sig = 1; blocked_any_ && sig < NSIG; ++sig) {
    if (!sigismember(&blocked_by_hub_, sig) || sigismember(&mask, sig)) continue;
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    const timespec zero{0, 0};
    while (sigtimedwait(&one, nullptr, &zero) == sig) {
    }
    pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
    sigdelset(&blocked_by_hub_, sig);
  }
  if (signals_.empty()) {
    if (signal_fd_ >= 0) {
      backend_->WatchInternalFd(signal_fd_, false);
      close(signal_fd_);
      signal_fd_ = -1;
    }
    return;
  }
  sigset_t before;
  pthread_sigmask(SIG_BLOCK, &mask, &before);
  for (int sig = 1; sig < NSIG; ++sig) {
    // Blocked here, not by the program: to be unblocked when unwatched.
    if (sigismember(&mask, sig) && !sigismember(&before, sig)) {
      sigaddset(&blocked_by_hub_, sig);
      blocked_any_ = true;
    }
  }
  const bool fresh = signal_fd_ < 0;
  int fd = signalfd(signal_fd_, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) {
    throw std::system_error(errno, std::generic_category(), "signalfd");
  }
  signal_fd_ = fd;
  if (fresh) backend_->WatchInternalFd(signal_fd_, true);
}

void Hub::DispatchSignals() {
  if (signal_fd_ < 0) return;
  signalfd_siginfo info[16];
  for (;;) {
    ssize_t n = read(signal_fd_, info, sizeof info);
    if (n <= 0) return;
    for (size_t i = 0; i < static_cast<size_t>(n) / sizeof(info[0]); ++i) {
      const int sig = static_cast<int>(info[i].ssi_signo);
      std::vector<SignalWatcher*> targets;
      signals_.for_each([&](SignalWatcher* w) {
        if (w->signum_ == sig) targets.push_back(w);
      });
      for (SignalWatcher* w : targets) {
        // A handler may stop another watcher: only run the ones still armed.
        bool armed = false;
        signals_.for_each([&](SignalWatcher* x) { armed |= (x == w); });
        if (armed) CallWatcher([w] { w->fn_(w); });
      }
    }
  }
}

// ---- fork

void Hub::start(ForkWatcher* w) {
  if (w->hub_ != nullptr) return;
  w->hub_ = this;
  fork_.push_back(w);
}

void Hub::stop(ForkWatcher* w) {
  if (w->hub_ == nullptr) return;
  fork_.remove(w);
  w->hub_ = nullptr;
}

void Hub::reinit() {
  thread_id_ = static_cast<int>(gettid());  // the child's thread
  backend_->Reinit();
  if (signal_fd_ >= 0) {
    // The signalfd itself survives fork (it reads the child's signals);
    // tell the new backend about it.
    backend_->WatchInternalFd(signal_fd_, true);
  }
  // Re-register every descriptor with the renewed backend.
  for (auto& [fd, f] : fds_) backend_->UpdateInterest(fd, 0, f.mask);
  std::vector<ForkWatcher*> watchers;
  fork_.for_each([&](ForkWatcher* w) { watchers.push_back(w); });
  for (ForkWatcher* w : watchers) {
    if (w->hub_ == this) CallWatcher([w] { w->fn_(w); });
  }
}

}  // namespace gevent
