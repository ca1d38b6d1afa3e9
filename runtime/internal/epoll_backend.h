// The production hub backend: epoll for I/O, eventfd for cross-thread
// wake-ups, CLOCK_MONOTONIC for time. Everything else (callbacks, timers,
// watchers, greenlet switching) is the shared Hub.
#ifndef GEVENTPP_RUNTIME_INTERNAL_EPOLL_HUB_H_
#define GEVENTPP_RUNTIME_INTERNAL_EPOLL_HUB_H_

#include <memory>
#include <vector>

#include "runtime/hub.h"

namespace gevent {
namespace internal {

class EpollHub final : public Hub {
 public:
  EpollHub();
  ~EpollHub() override;
  const char* backend_name() const override { return "epoll"; }

 protected:
  int64_t ClockNowNs() override;
  void WaitForEvents(int64_t deadline_ns, std::vector<IoEvent>* ready) override;
  void Wakeup() override;
  void UpdateInterest(int fd, uint32_t old_mask, uint32_t new_mask) override;
  void ReinitBackend() override;
  void WatchInternalFd(int fd, bool watch) override;

 private:
  void OpenKernelObjects();
  void CloseKernelObjects();

  int epoll_fd_ = -1;
  int wakeup_fd_ = -1;
  int internal_fd_ = -1;  // the hub's signalfd
};

std::unique_ptr<Hub> MakeEpollHub();

}  // namespace internal
}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_INTERNAL_EPOLL_HUB_H_
