// The network seam: what a Socket needs from the network it runs on.
//
// A Socket (socket.h) is the part every backend shares: gevent's timeout
// rules, sendall's deadline, one waiter per direction, closing while another
// greenlet waits. Under it is a SocketTransport, which a hub's backend
// supplies (HubBackend::network()): the kernel's sockets on epoll
// (runtime/internal/kernel_network.h), an in-memory network on the
// simulator (sim/network.h). A transport's operations never block: they
// return -EAGAIN, and the Socket then waits with WaitReady() until the
// transport calls NotifyReady().
//
// All calls come from the hub's own thread.
#ifndef GEVENTPP_RUNTIME_SOCKET_TRANSPORT_H_
#define GEVENTPP_RUNTIME_SOCKET_TRANSPORT_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "runtime/address.h"
#include "runtime/network_observer.h"
#include "runtime/raw_greenlet.h"

namespace gevent {


enum class SocketType : uint8_t { kStream, kDatagram };

// Told when a greenlet starts and stops waiting on a transport (a simulated
// network keeps the loop alive only while someone waits for what it still
// has to deliver). It must outlive the waits.
class WaitTracker {
 public:
  virtual void WaitBegins() = 0;
  virtual void WaitEnds() = 0;

 protected:
  ~WaitTracker() = default;
};

// The options Socket::setsockopt knows.
enum class SocketOption : uint8_t {
  kTcpNoDelay,   // TCP_NODELAY
  kReuseAddr,    // SO_REUSEADDR
  kReusePort,    // SO_REUSEPORT
  kKeepAlive,    // SO_KEEPALIVE
  kSendBuffer,   // SO_SNDBUF
  kRecvBuffer,   // SO_RCVBUF
  kBroadcast,    // SO_BROADCAST
};
// "TCP_NODELAY", "SO_REUSEADDR", ...
const char* SocketOptionName(SocketOption option);

class SocketTransport : public BlockingObject {
 public:
  // Readiness directions (as IoWatcher's bits).
  static constexpr uint32_t kRead = 1;
  static constexpr uint32_t kWrite = 2;

  explicit SocketTransport(Hub* hub) : hub_(hub) {}
  virtual ~SocketTransport() = default;  // BlockingObject's is protected
  SocketTransport(const SocketTransport&) = delete;
  SocketTransport& operator=(const SocketTransport&) = delete;

  // Each returns 0 (or a count) on success and -errno on failure; -EAGAIN
  // means "would block: WaitReady() and try again".
  virtual int Bind(const Address& address) = 0;
  virtual int Listen(int backlog) = 0;
  // 0, -EINPROGRESS (then wait for kWrite and ask ConnectResult()), -errno.
  virtual int Connect(const Address& address) = 0;
  // After the wait for kWrite: 0, -EINPROGRESS (not yet), or -errno.
  virtual int ConnectResult() = 0;
  virtual int Accept(std::unique_ptr<SocketTransport>* out, Address* peer) = 0;
  // >= 0 bytes (0: end of stream) or -errno. `peek`: MSG_PEEK.
  virtual ssize_t Recv(void* buf, size_t len, bool peek) = 0;
  virtual ssize_t Send(const void* buf, size_t len) = 0;
  virtual ssize_t SendTo(const void* buf, size_t len, const Address& to) = 0;
  virtual ssize_t RecvFrom(void* buf, size_t len, Address* from) = 0;
  virtual int Shutdown(int how) = 0;  // SHUT_RD, SHUT_WR, SHUT_RDWR
  virtual int SetOption(SocketOption option, int value) = 0;
  virtual int GetOption(SocketOption option, int* value) = 0;
  virtual int LocalAddress(Address* out) = 0;
  virtual int PeerAddress(Address* out) = 0;
  // Releases the endpoint (the descriptor, or the simulated port). Called
  // once, after every waiter has been woken.
  virtual void Close() = 0;
  // True once the hub was destroyed under an open socket: the endpoint was
  // released then, and every call fails with EBADF.
  bool orphaned() const { return orphaned_; }
  // The kernel descriptor, or -1 (simulated).
  virtual int fileno() const { return -1; }
  // A short description for deadlock reports: "socket 10.0.0.1:80".
  virtual std::string Describe() const = 0;

  Hub* hub() const { return hub_; }

  // The program marked this connection's bytes private
  // (Socket::set_bytes_private): a network observer keeps none of them.
  bool bytes_private() const { return bytes_private_; }
  void set_bytes_private(bool on) { bytes_private_ = on; }

  // ---- Waiting (shared by every transport) ----
  enum class WaitResult : uint8_t { kReady, kTimedOut, kClosed };
  // Blocks the current greenlet until the transport reports `direction`
  // (kRead or kWrite) may be ready (kReady), until `deadline` passes
  // (kTimedOut), or until the socket is closed by another greenlet
  // (kClosed: the transport may be gone; touch nothing of it). One greenlet
  // per direction: a second one gets ConcurrentObjectUseError.
  WaitResult WaitReady(uint32_t direction, absl::Time deadline, const char* what);
  // Wakes every waiting greenlet and marks the transport closed.
  void WakeAllForClose();
  bool closed() const { return closed_; }

  // BlockingObject: deadlock reports name the socket a greenlet waits on.
  std::string describe() const override;
  const RawGreenlet* holder() const override { return nullptr; }

 protected:
  // From the transport: `events` (kRead | kWrite) may be ready now.
  void NotifyReady(uint32_t events);
  // True if a greenlet waiting here keeps the hub's loop alive (a real
  // network may deliver at any time); a simulated network keeps the loop
  // alive by its own pending deliveries instead, so that a greenlet waiting
  // for data nobody will send is a deadlock the simulator reports.
  bool waits_keep_loop_alive_ = false;
  // Told of every wait, if set (the simulated network).
  WaitTracker* wait_tracker_ = nullptr;

 private:
  friend class NetworkBackend;
  bool orphaned_ = false;
  bool bytes_private_ = false;
  struct ReadyWait;
  Hub* hub_;
  ReadyWait* waiters_[2] = {nullptr, nullptr};  // kRead, kWrite
  bool closed_ = false;
};

// A hub's network: opens transports and resolves names.
class NetworkBackend {
 public:
  virtual ~NetworkBackend() = default;
  // Every open transport of this network (a transport registers itself in
  // its constructor and leaves in its destructor).
  void Register(SocketTransport* t) { open_.insert(t); }
  void Unregister(SocketTransport* t) { open_.erase(t); }
  // How many transports are open now (tests check that none leaked).
  size_t open_count() const { return open_.size(); }
  // The hub is being destroyed: closes every transport still open and marks
  // it orphaned (HubBackend::OnHubDestroyed).
  void OrphanAll();
  // A new endpoint of `family` (AF_INET, AF_INET6, AF_UNIX) and `type`, or
  // -errno in *error (then nullptr).
  virtual std::unique_ptr<SocketTransport> Open(int family, SocketType type,
                                                int* error) = 0;
  // The addresses of `host` (a name or a literal), with `port`. Blocks only
  // the calling greenlet. Throws std::system_error (or invalid_argument)
  // when the name does not resolve.
  virtual std::vector<Address> Resolve(const std::string& host, uint16_t port) = 0;

  // Reports the calls of sockets opened from now on to `observer`
  // (network_observer.h; nullptr: stop), if this network supports it
  // (returns false if not: the simulated network does not, its runs are
  // replayed from their seed). Sockets already open keep their state.
  virtual bool set_observer(NetworkObserver* observer) {
    (void)observer;
    return false;
  }
  NetworkObserver* observer() const { return observer_; }

 protected:
  NetworkObserver* observer_ = nullptr;

 private:
  absl::flat_hash_set<SocketTransport*> open_;  // order never observed
};

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_SOCKET_TRANSPORT_H_
