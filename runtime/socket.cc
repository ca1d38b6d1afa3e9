#include "runtime/socket.h"

#include <errno.h>

#include <atomic>
#include <stdexcept>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runtime/hub.h"
#include "runtime/hub_backend.h"
#include "runtime/internal/hub_check.h"

namespace gevent {
namespace {

// Nanoseconds; -1: no timeout (block).
std::atomic<int64_t> g_default_timeout_ns{-1};

NetworkBackend& NetworkOf(Hub* hub) {
  NetworkBackend* net = hub->backend().network();
  if (net == nullptr) {
    throw std::logic_error(
        absl::StrCat("the ", hub->backend_name(), " hub has no network"));
  }
  return *net;
}

[[noreturn]] void ThrowErrno(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

void CheckBuffer(const void* buf, size_t len, const char* op) {
  if (buf == nullptr && len > 0) {
    throw std::invalid_argument(absl::StrCat(op, ": null buffer of ", len, " bytes"));
  }
}

}  // namespace

Socket::Socket(int family, SocketType type)
    : family_(family), type_(type), timeout_(default_timeout()) {
  if (family != AF_INET && family != AF_INET6 && family != AF_UNIX) {
    throw std::invalid_argument(absl::StrCat(
        "unsupported address family ", family, " (AF_INET, AF_INET6 or AF_UNIX)"));
  }
  int err = 0;
  transport_ = NetworkOf(get_hub()).Open(family, type, &err);
  if (transport_ == nullptr) ThrowErrno(err == 0 ? EINVAL : err, "socket");
}

Socket::Socket(std::unique_ptr<SocketTransport> transport, int family,
               SocketType type)
    : transport_(std::move(transport)),
      family_(family),
      type_(type),
      timeout_(default_timeout()) {}

Socket::~Socket() { close(); }

Socket::Socket(Socket&& other) noexcept
    : transport_(std::move(other.transport_)),
      family_(other.family_),
      type_(other.type_),
      timeout_(other.timeout_) {}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    close();
    transport_ = std::move(other.transport_);
    family_ = other.family_;
    type_ = other.type_;
    timeout_ = other.timeout_;
  }
  return *this;
}

int Socket::fileno() const { return transport_ ? transport_->fileno() : -1; }

SocketTransport& Socket::Open(const char* op) const {
  if (transport_ == nullptr) {
    ThrowErrno(EBADF, absl::StrCat(op, " on a closed socket"));
  }
  if (transport_->orphaned()) {
    ThrowErrno(EBADF, absl::StrCat(op, ": the socket's hub was destroyed"));
  }
  if (ABSL_PREDICT_FALSE(!internal::OnOwnHub(transport_->hub()))) {
    // (Made on another thread, or before a Simulation replaced the
    // thread's hub.)
    internal::ThrowInvalidThreadUse("Socket", op, transport_->hub());
  }
  return *transport_;
}

void Socket::Fail(int err, const char* op) const { ThrowErrno(err, op); }

absl::Time Socket::Deadline() const {
  if (timeout_ == absl::InfiniteDuration()) return absl::InfiniteFuture();
  return transport_->hub()->now() + timeout_;
}

void Socket::Wait(uint32_t direction, absl::Time deadline, const char* op) {
  if (timeout_ == absl::ZeroDuration()) {
    ThrowErrno(EAGAIN, absl::StrCat(op, " would block (non-blocking socket)"));
  }
  switch (transport_->WaitReady(direction, deadline, op)) {
    case SocketTransport::WaitResult::kReady:
      return;
    case SocketTransport::WaitResult::kTimedOut:
      throw SocketTimeout();
    case SocketTransport::WaitResult::kClosed:
      // `this` may be gone too: the closer may have destroyed it.
      ThrowErrno(EBADF, absl::StrCat(op, ": the socket was closed in another greenlet"));
  }
}

void Socket::bind(const Address& address) {
  int r = Open("bind").Bind(address);
  if (r < 0) ThrowErrno(-r, absl::StrCat("bind to ", address.ToString()));
}

void Socket::listen(int backlog) {
  int r = Open("listen").Listen(backlog < 0 ? 0 : backlog);
  if (r < 0) Fail(-r, "listen");
}

Socket Socket::accept(Address* peer) {
  const absl::Time deadline = Deadline();
  for (;;) {
    std::unique_ptr<SocketTransport> out;
    Address from;
    int r = Open("accept").Accept(&out, &from);
    if (r >= 0) {
      if (peer != nullptr) *peer = from;
      if (transport_->bytes_private()) out->set_bytes_private(true);
      return Socket(std::move(out), family_, type_);
    }
    if (r != -EAGAIN) Fail(-r, "accept");
    Wait(SocketTransport::kRead, deadline, "accept");
  }
}

int Socket::ConnectUntil(const Address& address, absl::Time deadline, bool* timed_out) {
  SocketTransport& t = Open("connect");
  int r = t.Connect(address);
  while (r == -EINPROGRESS || r == -EAGAIN || r == -EALREADY) {
    if (timeout_ == absl::ZeroDuration()) return -EINPROGRESS;
    switch (t.WaitReady(SocketTransport::kWrite, deadline, "connect")) {
      case SocketTransport::WaitResult::kReady:
        break;
      case SocketTransport::WaitResult::kTimedOut:
        *timed_out = true;
        return -ETIMEDOUT;
      case SocketTransport::WaitResult::kClosed:
        ThrowErrno(EBADF, "connect: the socket was closed in another greenlet");
    }
    r = t.ConnectResult();
  }
  return r;
}

void Socket::connect(const Address& address) {
  bool timed_out = false;
  int r = ConnectUntil(address, Deadline(), &timed_out);
  if (timed_out) throw SocketTimeout();
  if (r < 0) ThrowErrno(-r, absl::StrCat("connect to ", address.ToString()));
}

int Socket::connect_ex(const Address& address) {
  if (transport_ == nullptr) return EBADF;
  bool timed_out = false;
  int r = ConnectUntil(address, Deadline(), &timed_out);
  if (timed_out) return EAGAIN;
  return r < 0 ? -r : 0;
}

size_t Socket::recv(void* buf, size_t len) {
  CheckBuffer(buf, len, "recv");
  const absl::Time deadline = Deadline();
  for (;;) {
    ssize_t n = Open("recv").Recv(buf, len, false);
    if (n >= 0) return static_cast<size_t>(n);
    if (n != -EAGAIN) Fail(static_cast<int>(-n), "recv");
    Wait(SocketTransport::kRead, deadline, "recv");
  }
}

std::string Socket::recv(size_t max) {
  std::string out(max, '\0');
  out.resize(recv(out.data(), max));
  return out;
}

size_t Socket::peek(void* buf, size_t len) {
  CheckBuffer(buf, len, "peek");
  const absl::Time deadline = Deadline();
  for (;;) {
    ssize_t n = Open("recv").Recv(buf, len, true);
    if (n >= 0) return static_cast<size_t>(n);
    if (n != -EAGAIN) Fail(static_cast<int>(-n), "recv");
    Wait(SocketTransport::kRead, deadline, "recv");
  }
}

size_t Socket::send(const void* data, size_t len) {
  CheckBuffer(data, len, "send");
  ssize_t n = Open("send").Send(data, len);
  if (n >= 0) return static_cast<size_t>(n);
  if (n != -EAGAIN) Fail(static_cast<int>(-n), "send");
  Wait(SocketTransport::kWrite, Deadline(), "send");
  n = Open("send").Send(data, len);
  if (n >= 0) return static_cast<size_t>(n);
  if (n == -EAGAIN) return 0;
  Fail(static_cast<int>(-n), "send");
}

void Socket::sendall(const void* data, size_t len) {
  CheckBuffer(data, len, "sendall");
  const char* p = static_cast<const char*>(data);
  if (len == 0) {
    Open("sendall");
    return;
  }
  const absl::Time deadline = Deadline();
  while (len > 0) {
    ssize_t n = Open("sendall").Send(p, len);
    if (n > 0) {
      p += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    if (n != -EAGAIN && n != 0) Fail(static_cast<int>(-n), "sendall");
    Wait(SocketTransport::kWrite, deadline, "sendall");
  }
}

size_t Socket::sendto(const void* data, size_t len, const Address& to) {
  CheckBuffer(data, len, "sendto");
  const absl::Time deadline = Deadline();
  for (;;) {
    ssize_t n = Open("sendto").SendTo(data, len, to);
    if (n >= 0) return static_cast<size_t>(n);
    if (n != -EAGAIN) ThrowErrno(static_cast<int>(-n), absl::StrCat("sendto ", to.ToString()));
    Wait(SocketTransport::kWrite, deadline, "sendto");
  }
}

size_t Socket::recvfrom(void* buf, size_t len, Address* from) {
  CheckBuffer(buf, len, "recvfrom");
  const absl::Time deadline = Deadline();
  for (;;) {
    Address sender;
    ssize_t n = Open("recvfrom").RecvFrom(buf, len, &sender);
    if (n >= 0) {
      if (from != nullptr) *from = sender;
      return static_cast<size_t>(n);
    }
    if (n != -EAGAIN) Fail(static_cast<int>(-n), "recvfrom");
    Wait(SocketTransport::kRead, deadline, "recvfrom");
  }
}

void Socket::shutdown(int how) {
  if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) {
    throw std::invalid_argument(absl::StrCat(
        "shutdown: 'how' is ", how, " (SHUT_RD, SHUT_WR or SHUT_RDWR)"));
  }
  int r = Open("shutdown").Shutdown(how);
  if (r < 0) Fail(-r, "shutdown");
}

void Socket::close() {
  if (transport_ == nullptr) return;
  std::unique_ptr<SocketTransport> t = std::move(transport_);
  if (t->orphaned()) return;  // closed when its hub went away
  t->WakeAllForClose();
  t->Close();
}

void Socket::settimeout(absl::Duration timeout) {
  if (timeout < absl::ZeroDuration()) {
    throw std::invalid_argument(absl::StrCat(
        "settimeout: negative timeout ", absl::FormatDuration(timeout)));
  }
  timeout_ = timeout;
}

void Socket::setblocking(bool blocking) {
  timeout_ = blocking ? absl::InfiniteDuration() : absl::ZeroDuration();
}

void Socket::set_default_timeout(absl::Duration timeout) {
  if (timeout < absl::ZeroDuration()) {
    throw std::invalid_argument(absl::StrCat(
        "set_default_timeout: negative timeout ", absl::FormatDuration(timeout)));
  }
  g_default_timeout_ns.store(timeout == absl::InfiniteDuration()
                                 ? -1
                                 : absl::ToInt64Nanoseconds(timeout));
}

absl::Duration Socket::default_timeout() {
  int64_t ns = g_default_timeout_ns.load();
  return ns < 0 ? absl::InfiniteDuration() : absl::Nanoseconds(ns);
}

void Socket::setsockopt(SocketOption option, int value) {
  int r = Open("setsockopt").SetOption(option, value);
  if (r < 0) {
    ThrowErrno(-r, absl::StrCat("setsockopt ", SocketOptionName(option)));
  }
}

int Socket::getsockopt(SocketOption option) {
  int value = 0;
  int r = Open("getsockopt").GetOption(option, &value);
  if (r < 0) {
    ThrowErrno(-r, absl::StrCat("getsockopt ", SocketOptionName(option)));
  }
  return value;
}

Address Socket::local_address() const {
  Address a;
  int r = Open("local_address").LocalAddress(&a);
  if (r < 0) Fail(-r, "local_address");
  return a;
}

Address Socket::peer_address() const {
  Address a;
  int r = Open("peer_address").PeerAddress(&a);
  if (r < 0) Fail(-r, "peer_address");
  return a;
}

std::vector<Address> resolve(absl::string_view host_port) {
  // The port is parsed as Address::Parse does; only the host may be a name.
  absl::string_view host;
  absl::string_view port_text;
  if (!host_port.empty() && host_port[0] == '[') {
    return {Address::Parse(host_port)};
  }
  size_t colon = host_port.rfind(':');
  if (colon == absl::string_view::npos || host_port.empty()) {
    Address::Parse(host_port);  // throws, naming the problem
  }
  host = host_port.substr(0, colon);
  port_text = host_port.substr(colon + 1);
  // A literal (or an error in the port): Parse says which.
  try {
    return {Address::Parse(host_port)};
  } catch (const std::invalid_argument&) {
    uint32_t port = 0;
    if (port_text.empty() || !absl::SimpleAtoi(port_text, &port) || port > 65535 ||
        host.empty() || host.find(':') != absl::string_view::npos) {
      throw;
    }
    std::vector<Address> out =
        NetworkOf(get_hub()).Resolve(std::string(host), static_cast<uint16_t>(port));
    if (out.empty()) {
      throw std::system_error(EHOSTUNREACH, std::generic_category(),
                              absl::StrCat("resolve '", host, "': no address"));
    }
    return out;
  }
}

Socket create_connection(const Address& address, absl::Duration timeout) {
  Socket s(address.family(),
           SocketType::kStream);
  s.settimeout(timeout);
  s.connect(address);
  return s;
}

Socket create_connection(absl::string_view host_port, absl::Duration timeout) {
  std::exception_ptr last;
  for (const Address& a : resolve(host_port)) {
    try {
      return create_connection(a, timeout);
    } catch (const std::system_error&) {
      last = std::current_exception();
    }
  }
  std::rethrow_exception(last);
}

}  // namespace gevent
