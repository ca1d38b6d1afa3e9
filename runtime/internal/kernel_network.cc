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
// KernelSocket<true> also reports every call to the network's observer
// (network_observer.h), if one is set; KernelSocket<false>, a socket opened
// while nobody observed, has no code for it at all.
template <bool kObserved>
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
    const int r = ::bind(fd_, a.sockaddr(), a.length()) == 0 ? 0 : -errno;
    if constexpr (kObserved) Report(NetOp::kBind, r, 0, 0, &a);
    return r;
  }
  int Listen(int backlog) override {
    int r = 0;
    if (::listen(fd_, backlog) != 0) {
      r = -errno;
    } else {
      ready_ |= kRead;
    }
    if constexpr (kObserved) Report(NetOp::kListen, r, backlog);
    return r;
  }
  int Connect(const Address& a) override {
    const int r = DoConnect(a);
    if constexpr (kObserved) Report(NetOp::kConnect, r, 0, 0, &a);
    return r;
  }
  int DoConnect(const Address& a) {
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
    const int r = DoConnectResult();
    if constexpr (kObserved) Report(NetOp::kConnectResult, r);
    return r;
  }
  int DoConnectResult() {
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
    const int r = DoAccept(out, peer);
    if constexpr (kObserved) {
      if (r == 0 && bytes_private()) (*out)->set_bytes_private(true);
      NetworkObserver* o = net_->observer();
      if (o != nullptr) {
        NetCall c = Call(NetOp::kAccept, r);
        if (r == 0) {
          c.new_fd = (*out)->fileno();
          c.address = peer;
        }
        o->OnNetCall(c);
      }
    }
    return r;
  }
  int DoAccept(std::unique_ptr<SocketTransport>* out, Address* peer) {
    if (!(ready_ & kRead)) return -EAGAIN;
    for (;;) {
      sockaddr_storage from;
      socklen_t len = sizeof from;
      int fd = accept4(fd_, reinterpret_cast<sockaddr*>(&from), &len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        *out = std::make_unique<KernelSocket<kObserved>>(hub(), net_, fd, type_);
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
    const ssize_t n = DoRecv(buf, len, peek);
    if constexpr (kObserved) {
      Report(peek ? NetOp::kPeek : NetOp::kRecv, n, static_cast<int64_t>(len), 0,
             nullptr, buf);
    }
    return n;
  }
  ssize_t DoRecv(void* buf, size_t len, bool peek) {
    if (!(ready_ & kRead)) return -EAGAIN;
    ssize_t n = Sys(kRead, [&] { return ::recv(fd_, buf, len, peek ? MSG_PEEK : 0); });
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
    const ssize_t n = DoSend(buf, len);
    if constexpr (kObserved) {
      Report(NetOp::kSend, n, static_cast<int64_t>(len), 0, nullptr, buf);
    }
    return n;
  }
  ssize_t DoSend(const void* buf, size_t len) {
    if (!(ready_ & kWrite)) return -EAGAIN;
    ssize_t n = Sys(kWrite, [&] { return ::send(fd_, buf, len, MSG_NOSIGNAL); });
    if (type_ == SocketType::kStream && n >= 0 && static_cast<size_t>(n) < len) {
      ready_ &= ~kWrite;  // the send buffer is full
    }
    return n;
  }
  ssize_t SendTo(const void* buf, size_t len, const Address& to) override {
    const ssize_t n = Sys(kWrite, [&] {
      return ::sendto(fd_, buf, len, MSG_NOSIGNAL, to.sockaddr(), to.length());
    });
    if constexpr (kObserved) {
      Report(NetOp::kSendTo, n, static_cast<int64_t>(len), 0, &to, buf);
    }
    return n;
  }
  ssize_t RecvFrom(void* buf, size_t len, Address* from) override {
    const ssize_t n = DoRecvFrom(buf, len, from);
    if constexpr (kObserved) {
      Report(NetOp::kRecvFrom, n, static_cast<int64_t>(len), 0, n >= 0 ? from : nullptr,
             buf);
    }
    return n;
  }
  ssize_t DoRecvFrom(void* buf, size_t len, Address* from) {
    if (!(ready_ & kRead)) return -EAGAIN;
    sockaddr_storage ss;
    socklen_t slen = sizeof ss;
    ssize_t n = Sys(kRead, [&] {
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
    const int r = ::shutdown(fd_, how) == 0 ? 0 : -errno;
    if constexpr (kObserved) Report(NetOp::kShutdown, r, how);
    return r;
  }
  int SetOption(SocketOption option, int value) override {
    int level, name;
    int r = -ENOPROTOOPT;
    if (OptionLevel(option, &level, &name)) {
      r = setsockopt(fd_, level, name, &value, sizeof value) == 0 ? 0 : -errno;
    }
    if constexpr (kObserved) {
      Report(NetOp::kSetOption, r, static_cast<int64_t>(option), value);
    }
    return r;
  }
  int GetOption(SocketOption option, int* value) override {
    int level, name;
    int r = -ENOPROTOOPT;
    if (OptionLevel(option, &level, &name)) {
      socklen_t len = sizeof *value;
      r = getsockopt(fd_, level, name, value, &len) == 0 ? 0 : -errno;
    }
    if constexpr (kObserved) {
      Report(NetOp::kGetOption, r, static_cast<int64_t>(option), r == 0 ? *value : 0);
    }
    return r;
  }
  int LocalAddress(Address* out) override {
    const int r = NameOf(&getsockname, out);
    if constexpr (kObserved) Report(NetOp::kLocalAddress, r, 0, 0, r == 0 ? out : nullptr);
    return r;
  }
  int PeerAddress(Address* out) override {
    const int r = NameOf(&getpeername, out);
    if constexpr (kObserved) Report(NetOp::kPeerAddress, r, 0, 0, r == 0 ? out : nullptr);
    return r;
  }
  void Close() override {
    if (fd_ < 0) return;
    if constexpr (kObserved) Report(NetOp::kClose, 0);
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
  ssize_t Sys(uint32_t direction, F call) {
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

  NetCall Call(NetOp op, int64_t result) const {
    NetCall c;
    c.op = op;
    c.fd = fd_;
    c.result = result;
    c.bytes_private = bytes_private();
    return c;
  }
  // Tells the observer, if there is one still, of a call and its result
  // (`data`: the bytes a successful recv or send moved).
  void Report(NetOp op, int64_t result, int64_t arg = 0, int64_t arg2 = 0,
              const Address* address = nullptr, const void* data = nullptr) {
    NetworkObserver* o = net_->observer();
    if (o == nullptr) return;
    NetCall c = Call(op, result);
    c.arg = arg;
    c.arg2 = arg2;
    c.address = address;
    if (data != nullptr && result > 0) {
      c.data = data;
      c.size = static_cast<size_t>(result);
    }
    o->OnNetCall(c);
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
    if (observer_ != nullptr) {
      NetCall c;
      c.op = NetOp::kOpen;
      c.result = -*error;
      c.arg = family;
      c.arg2 = static_cast<int64_t>(type);
      observer_->OnNetCall(c);
    }
    return nullptr;
  }
  if (observer_ != nullptr) {
    NetCall c;
    c.op = NetOp::kOpen;
    c.fd = fd;
    c.result = fd;
    c.arg = family;
    c.arg2 = static_cast<int64_t>(type);
    observer_->OnNetCall(c);
  }
  return Adopt(fd, type);
}

std::unique_ptr<SocketTransport> KernelNetwork::Adopt(int fd, SocketType type) {
  try {
    if (observer_ != nullptr) {
      return std::make_unique<KernelSocket<true>>(hub_, this, fd, type);
    }
    return std::make_unique<KernelSocket<false>>(hub_, this, fd, type);
  } catch (...) {
    ::close(fd);
    throw;
  }
}

std::vector<Address> KernelNetwork::Resolve(const std::string& host, uint16_t port) {
  if (resolver_ == nullptr) resolver_ = std::make_unique<ThreadPool>(10);
  // The answer, or the error (thrown here, on the hub's thread, once an
  // observer has seen it).
  struct Answer {
    std::vector<Address> addresses;
    int error = 0;
    std::string message;
  };
  Answer answer = resolver_->spawn([host, port]() -> Answer {
    Answer out;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (rc != 0) {
      out.error = rc == EAI_SYSTEM ? errno : EHOSTUNREACH;
      out.message = absl::StrCat("resolve '", host, "': ", gai_strerror(rc));
      return out;
    }
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
      out.addresses.push_back(
          Address::FromSockaddr(ai->ai_addr, ai->ai_addrlen).with_port(port));
    }
    freeaddrinfo(res);
    return out;
  })->get();
  if (observer_ != nullptr) {
    NetCall c;
    c.op = NetOp::kResolve;
    c.data = host.data();
    c.size = host.size();
    c.arg = port;
    c.result = answer.error != 0 ? -int64_t{answer.error}
                                 : static_cast<int64_t>(answer.addresses.size());
    NetCall::Resolved resolved;
    resolved.addresses = answer.addresses.data();
    resolved.count = answer.addresses.size();
    if (answer.error != 0) resolved.message = answer.message.c_str();
    c.resolved = &resolved;
    observer_->OnNetCall(c);
  }
  if (answer.error != 0) {
    throw std::system_error(answer.error, std::generic_category(), answer.message);
  }
  return std::move(answer.addresses);
}

}  // namespace internal
}  // namespace gevent
