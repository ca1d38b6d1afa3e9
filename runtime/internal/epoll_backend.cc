#include "runtime/internal/epoll_backend.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "runtime/internal/kernel_network.h"

namespace gevent {
namespace internal {
namespace {

[[noreturn]] void DieSys(const char* what) {
  fprintf(stderr, "geventpp: epoll hub: %s failed: %s\n", what, strerror(errno));
  abort();
}

uint32_t ToEpoll(uint32_t mask) {
  uint32_t ev = 0;
  if (mask & IoWatcher::kRead) ev |= EPOLLIN | EPOLLRDHUP;
  if (mask & IoWatcher::kWrite) ev |= EPOLLOUT;
  if (mask & IoWatcher::kEdge) ev |= EPOLLET;
  return ev;
}

uint32_t FromEpoll(uint32_t ev) {
  uint32_t mask = 0;
  if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) mask |= IoWatcher::kRead;
  if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) mask |= IoWatcher::kWrite;
  if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) mask |= IoWatcher::kHangup;
  return mask;
}

}  // namespace

EpollBackend::EpollBackend() { OpenKernelObjects(); }

EpollBackend::~EpollBackend() { CloseKernelObjects(); }

NetworkBackend* EpollBackend::network() {
  if (network_ == nullptr) network_ = std::make_unique<KernelNetwork>(hub_);
  return network_.get();
}

void EpollBackend::OnHubDestroyed() {
  if (network_ != nullptr) network_->Shutdown();
}

void EpollBackend::OpenKernelObjects() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) DieSys("epoll_create1");
  wakeup_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wakeup_fd_ < 0) DieSys("eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wakeup_fd_;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wakeup_fd_, &ev) != 0) {
    DieSys("epoll_ctl(eventfd)");
  }
}

void EpollBackend::CloseKernelObjects() {
  if (wakeup_fd_ >= 0) close(wakeup_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
  wakeup_fd_ = epoll_fd_ = -1;
}

void EpollBackend::Reinit() {
  // After fork() the child shares the parent's epoll set; make its own.
  CloseKernelObjects();
  OpenKernelObjects();
}

int64_t EpollBackend::NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void EpollBackend::WaitForEvents(int64_t deadline, std::vector<IoEvent>* ready) {
  int timeout_ms;
  if (deadline == kNanosPast) {
    timeout_ms = 0;
  } else if (deadline == kNanosFuture) {
    timeout_ms = -1;
  } else {
    const int64_t left = deadline - NowNs();
    if (left <= 0) {
      timeout_ms = 0;
    } else {
      // Round up: waking early would just loop once more.
      const int64_t ms = (left + 999999) / 1000000;
      timeout_ms = ms > 1000000 ? 1000000 : static_cast<int>(ms);
    }
  }
  epoll_event events[128];
  int n = epoll_wait(epoll_fd_, events, 128, timeout_ms);
  if (n < 0) {
    if (errno == EINTR) return;
    DieSys("epoll_wait");
  }
  for (int i = 0; i < n; ++i) {
    int fd = events[i].data.fd;
    if (fd == internal_fd_) continue;  // the hub reads it itself
    if (fd == wakeup_fd_) {
      uint64_t value;
      while (read(wakeup_fd_, &value, sizeof value) > 0) {
      }
      continue;
    }
    ready->push_back({fd, FromEpoll(events[i].events)});
  }
}

void EpollBackend::Wakeup() {
  uint64_t one = 1;
  ssize_t r = write(wakeup_fd_, &one, sizeof one);
  (void)r;  // EAGAIN means a wake-up is already pending
}

void EpollBackend::UpdateInterest(int fd, uint32_t old_mask, uint32_t new_mask) {
  epoll_event ev{};
  ev.events = ToEpoll(new_mask);
  ev.data.fd = fd;
  int op = new_mask == 0 ? EPOLL_CTL_DEL
                         : (old_mask == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD);
  if (epoll_ctl(epoll_fd_, op, fd, &ev) == 0) return;
  if (op == EPOLL_CTL_ADD && errno == EEXIST &&
      epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) == 0) {
    return;
  }
  if (op == EPOLL_CTL_MOD && errno == ENOENT &&
      epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0) {
    return;
  }
  int err = errno;
  if (op == EPOLL_CTL_DEL) return;  // closed already: nothing to remove
  if (err == EPERM) {
    throw std::invalid_argument(absl::StrCat(
        "file descriptor ", fd,
        " cannot be waited on (epoll does not support it: a regular file?)"));
  }
  if (err == EBADF) {
    throw std::invalid_argument(
        absl::StrCat("file descriptor ", fd, " is not open"));
  }
  throw std::system_error(err, std::generic_category(),
                          absl::StrCat("epoll_ctl on file descriptor ", fd));
}

void EpollBackend::WatchInternalFd(int fd, bool watch) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (watch) {
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0 && errno != EEXIST) {
      DieSys("epoll_ctl(internal fd)");
    }
    internal_fd_ = fd;
  } else {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, &ev);
    internal_fd_ = -1;
  }
}

std::unique_ptr<Hub> MakeEpollHub() {
  return std::make_unique<Hub>(std::make_unique<EpollBackend>());
}

}  // namespace internal
}  // namespace gevent
