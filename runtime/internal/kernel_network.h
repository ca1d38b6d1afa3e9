// The kernel's network, for the epoll hub: non-blocking sockets registered
// once with the hub (edge-triggered), readiness bits that skip system calls
// known to fail with EAGAIN, and getaddrinfo on a thread pool.
#ifndef GEVENTPP_RUNTIME_INTERNAL_KERNEL_NETWORK_H_
#define GEVENTPP_RUNTIME_INTERNAL_KERNEL_NETWORK_H_

#include <memory>
#include <string>
#include <vector>

#include "runtime/hub.h"
#include "runtime/socket_transport.h"
#include "runtime/threadpool.h"

namespace gevent {
namespace internal {

class KernelNetwork final : public NetworkBackend {
 public:
  explicit KernelNetwork(Hub* hub) : hub_(hub) {}
  ~KernelNetwork() override;
  std::unique_ptr<SocketTransport> Open(int family, SocketType type,
                                        int* error) override;
  std::vector<Address> Resolve(const std::string& host, uint16_t port) override;
  // The hub is going away: closes the sockets left open and stops the
  // resolver's threads.
  void Shutdown();
  // Sockets opened from now on report their calls to `observer`.
  bool set_observer(NetworkObserver* observer) override {
    observer_ = observer;
    return true;
  }
  // Wraps an open non-blocking descriptor.
  std::unique_ptr<SocketTransport> Adopt(int fd, SocketType type);

 private:
  Hub* hub_;
  std::unique_ptr<ThreadPool> resolver_;  // made on first use
};

}  // namespace internal
}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_INTERNAL_KERNEL_NETWORK_H_
