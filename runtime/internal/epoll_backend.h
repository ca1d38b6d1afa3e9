// The production hub backend: epoll for I/O, eventfd for cross-thread
// wake-ups, CLOCK_MONOTONIC for time. Everything else (callbacks, timers,
// watchers, greenlet switching) is the shared Hub.
#ifndef GEVENTPP_RUNTIME_INTERNAL_EPOLL_BACKEND_H_
#define GEVENTPP_RUNTIME_INTERNAL_EPOLL_BACKEND_H_

#include <memory>
#include <vector>

#include "runtime/hub.h"
#include "runtime/hub_backend.h"

namespace gevent {
namespace internal {

class EpollBackend final : public HubBackend {
 public:
  EpollBackend();
  ~EpollBackend() override;
  const char* name() const override { return "epoll"; }
  int64_t NowNs() override;
  void WaitForEvents(int64_t deadline_ns, std::vector<IoEvent>* ready) override;
  void Wakeup() override;
  void UpdateInterest(int fd, uint32_t old_mask, uint32_t new_mask) override;
  void Reinit() override;
  void WatchInternalFd(int fd, bool watch) override;
  void Attach(Hub* hub) override { hub_ = hub; }
  NetworkBackend* network() override;
  void OnHubDestroyed() override;

 private:
  Hub* hub_ = nullptr;
  std::unique_ptr<class KernelNetwork> network_;  // made on first use
  void OpenKernelObjects();
  void CloseKernelObjects();

  int epoll_fd_ = -1;
  int wakeup_fd_ = -1;
  int internal_fd_ = -1;  // the hub's signalfd
};

// A hub on the epoll backend (registered as "epoll").
std::unique_ptr<Hub> MakeEpollHub();

}  // namespace internal
}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_INTERNAL_EPOLL_BACKEND_H_
