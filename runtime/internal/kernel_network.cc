#include "runtime/internal/kernel_network.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <system_error>

#include "absl/strings/str_cat.h"

namespace gevent {
namespace internal {
namespace {

bool OptionLevel(SocketOption option, int* level, int* name) {
  switch (option) {
    case SocketOption::kTcpNoDelay: *level = IPPROTO_TCP; *name = TCP_NODELAY; return true;
    case SocketOption::kReuseAddr: *level = SOL_SOCKET; *name = SO_REUSEADDR; return true;
    case SocketOption::kReusePort: *level = SOL_SOCKET; *name = SO_REUSEPORT; return true;
    case SocketOption::kKeepAlive: *level = SOL_SOCKET; *name = SO_KEEPALIVE; return true;
    case SocketOption::kSendBuffer: *level = SOL_SOCKET; *name = SO_SNDBUF; return true;
    case SocketOption::kRecvBuffer: *level = SOL_SOCKET; *name = SO_RCVBUF; return true;
    case SocketOption::kBroadcast: *level = SOL_SOCKET; *name = SO_BROADCAST; return true;
  }
  return false;
}

bool WouldBlock(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

// A kernel socket. It stays registered with the hub (kRead | kWrite,
// edge-triggered) from creation to close, so waiting costs no epoll_ctl.
// ready_ holds what the last edge said: an operation whose direction is not
// ready returns -EAGAIN without a system call (it would fail anyway), and
// EAGAIN or a short stream read/write clears the bit until the next edge.
class KernelSocket final : public SocketTransport {
 public:
  KernelSocket(Hub* hub, KernelNetwork* net, int fd, SocketType type)
      : SocketTransport(hub), net_(net), fd_(fd), type_(type), watch_(fd, this) {
    waits_keep_loop_alive_ = true;
    net_->Register(this);
    hub->start(&watch_, /*ref=*/false);
  }
  ~KernelSocket() override {
    if (!orphaned()) net_->Unregister(this);
    if (fd_ >= 0) Close();
  }

  int fileno() const override { return fd_; }

  int Bind(const Address& a) override {
    return ::bind(fd_, a.sockaddr(), a.length()) == 0 ? 0 : -errno;
  }
  int Listen(int backlog) override {
    if (::listen(fd_, backlog) != 0) return -errno;
    ready_ |= kRead;
    return 0;
  }
  int Connect(const Address& a) override {
    for (;;) {
      if (::connect(fd_, a.sockaddr(), a.length()) == 0) return 0;
      int err = errno;
      if (err == EINTR) continue;
      if (err == EINPROGRESS || err == EAGAIN) {
        ready_ &= ~kWrite;
        return -EINPROGRESS;
      }
      return -err;
    }
  }
  int ConnectResult() override {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return -errno;
    if (err != 0) return -err;
    // An edge from before connect() (a new socket reports writable) must
    // not pass for a finished connect: connected means it has a peer.
    sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    if (getpeername(fd_, reinterpret_cast<sockaddr*>(&peer), &plen) == 0) return 0;
    if (errno == ENOTCONN) {
      ready_ &= ~kWrite;
      return -EINPROGRESS;
    }
    return -errno;
  }
  int Accept(std::unique_ptr<SocketTransport>* out, Address* peer) override {
    if (!(ready_ & kRead)) return -EAGAIN;
    for (;;) {
      sockaddr_storage from;
      socklen_t len = sizeof from;
      int fd = accept4(fd_, reinterpret_cast<sockaddr*>(&from), &len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        *out = std::make_unique<KernelSocket>(hub(), net_, fd, type_);
        if (len > 0 && (from.ss_family == AF_INET || from.ss_family == AF_INET6 ||
                        from.ss_family == AF_UNIX)) {
          *peer = Address::FromSockaddr(reinterpret_cast<sockaddr*>(&from), len);
        }
        return 0;
      }
      int err = errno;
      if (err == EINTR) continue;
      if (WouldBlock(err)) {
        ready_ &= ~kRead;
        return -EAGAIN;
      }
      // The connection went away before it was accepted: try the next.
      if (err == ECONNABORTED) continue;
      return -err;
    }
  }
  ssize_t Recv(void* buf, size_t len, bool peek) override {
    if (!(ready_ & kRead)) return -EAGAIN;
    ssize_t n = Call(kRead, [&] { return ::recv(fd_, buf, len, peek ? MSG_PEEK : 0); });
    // A short stream read emptied the kernel's buffer: the next data brings
    // a new edge. Not after a hang-up: its edge may have come before this
    // read, and the end of stream is still to be read.
    if (type_ == SocketType::kStream && !peek && n > 0 && !hangup_ &&
        static_cast<size_t>(n) < len) {
      ready_ &= ~kRead;
    }
    return n;
  }
  ssize_t Send(const void* buf, size_t len) override {
    if (!(ready_ & kWrite)) return -EAGAIN;
    ssize_t n = Call(kWrite, [&] { return ::send(fd_, buf, len, MSG_NOSIGNAL); });
    if (type_ == SocketType::kStream && n >= 0 && static_cast<size_t>(n) < len) {
      ready_ &= ~kWrite;  // the send buffer is full
    }
    return n;
  }
  ssize_t SendTo(const void* buf, size_t len, const Address& to) override {
    return Call(kWrite, [&] {
      return ::sendto(fd_, buf, len, MSG_NOSIGNAL, to.sockaddr(), to.length());
    });
  }
  ssize_t RecvFrom(void* buf, size_t len, Address* from) override {
    if (!(ready_ & kRead)) return -EAGAIN;
    sockaddr_storage ss;
    socklen_t slen = sizeof ss;
    ssize_t n = Call(kRead, [&] {
      slen = sizeof ss;
      return ::recvfrom(fd_, buf, len, 0, reinterpret_cast<sockaddr*>(&ss), &slen);
    });
    if (n >= 0 && slen > 0 &&
        (ss.ss_family == AF_INET || ss.ss_family == AF_INET6 || ss.ss_family == AF_UNIX)) {
      *from = Address::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), slen);
    }
    return n;
  }
  int Shutdown(int how) override {
    return ::shutdown(fd_, how) == 0 ? 0 : -errno;
  }
  int SetOption(SocketOption option, int value) override {
    int level, name;
    if (!OptionLevel(option, &level, &name)) return -ENOPROTOOPT;
    return setsockopt(fd_, level, name, &value, sizeof value) == 0 ? 0 : -errno;
  }
  int GetOption(SocketOption option, int* value) override {
    int level, name;
    if (!OptionLevel(option, &level, &name)) return -ENOPROTOOPT;
    socklen_t len = sizeof *value;
    return getsockopt(fd_, level, name, value, &len) == 0 ? 0 : -errno;
  }
  int LocalAddress(Address* out) override {
    return NameOf(&getsockname, out);
  }
  int PeerAddress(Address* out) override {
    return NameOf(&getpeername, out);
  }
  void Close() override {
    if (fd_ < 0) return;
    hub()->stop(&watch_);
    ::close(fd_);
    fd_ = -1;
  }
  std::string Describe() const override {
    return absl::StrCat("socket fd ", fd_);
  }

 private:
  struct Watch : IoWatcher {
    Watch(int fd, KernelSocket* s)
        : IoWatcher(fd, kRead | kWrite | kEdge | kHangup, &Fire), owner(s) {}
    static void Fire(IoWatcher* w, uint32_t revents) {
      KernelSocket* s = static_cast<Watch*>(w)->owner;
      if (revents & kHangup) s->hangup_ = true;
      s->ready_ |= revents & (kRead | kWrite);
      s->NotifyReady(revents);
    }
    KernelSocket* owner;
  };

  // Makes a system call, again if interrupted: its result, or -errno. A
  // call that would block clears the readiness bit `direction`.
  template <typename F>
  ssize_t Call(uint32_t direction, F call) {
    for (;;) {
      ssize_t n = call();
      if (n >= 0) return n;
      int err = errno;
      if (err == EINTR) continue;
      if (WouldBlock(err)) {
        ready_ &= ~direction;
        return -EAGAIN;
      }
      return -err;
    }
  }

  int NameOf(int (*fn)(int, sockaddr*, socklen_t*), Address* out) {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (fn(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return -errno;
    try {
      *out = Address::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    } catch (const std::invalid_argument&) {
      return -EAFNOSUPPORT;
    }
    return 0;
  }

  KernelNetwork* net_;
  int fd_;
  SocketType type_;
  uint32_t ready_ = kRead | kWrite;
  bool hangup_ = false;  // sticky: the peer hung up (or an error)
  Watch watch_;
};

}  // namespace

KernelNetwork::~KernelNetwork() = default;

void KernelNetwork::Shutdown() {
  OrphanAll();
  resolver_.reset();
}

std::unique_ptr<SocketTransport> KernelNetwork::Open(int family, SocketType type,
                                                     int* error) {
  int kind = type == SocketType::kStream ? SOCK_STREAM : SOCK_DGRAM;
  int fd = ::socket(family, kind | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = errno;
    return nullptr;
  }
  return Adopt(fd, type);
}

std::unique_ptr<SocketTransport> KernelNetwork::Adopt(int fd, SocketType type) {
  try {
    return std::make_unique<KernelSocket>(hub_, this, fd, type);
  } catch (...) {
    ::close(fd);
    throw;
  }
}

std::vector<Address> KernelNetwork::Resolve(const std::string& host, uint16_t port) {
  if (resolver_ == nullptr) resolver_ = std::make_unique<ThreadPool>(10);
  auto result = resolver_->spawn([host, port]() -> std::vector<Address> {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (rc != 0) {
      throw std::system_error(
          rc == EAI_SYSTEM ? errno : EHOSTUNREACH, std::generic_category(),
          absl::StrCat("resolve '", host, "': ", gai_strerror(rc)));
    }
    std::vector<Address> out;
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
      out.push_back(Address::FromSockaddr(ai->ai_addr, ai->ai_addrlen).with_port(port));
    }
    freeaddrinfo(res);
    return out;
  });
  return result->get();
}

}  // namespace internal
}  // namespace gevent
