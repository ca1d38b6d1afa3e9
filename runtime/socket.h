// Socket: a green socket (gevent.socket). Every blocking call blocks only
// the calling greenlet; the same code runs on the epoll hub (the kernel's
// sockets) and on the simulator (an in-memory network, sim/network.h).
//
//   gevent::Socket listener(AF_INET, gevent::SocketType::kStream);
//   listener.setsockopt(gevent::SocketOption::kReuseAddr, 1);
//   listener.bind(gevent::Address::Parse("127.0.0.1:0"));
//   listener.listen();
//   gevent::Address peer;
//   gevent::Socket conn = listener.accept(&peer);
//   char buf[4096];
//   size_t n = conn.recv(buf, sizeof buf);   // 0: the peer closed
//   conn.sendall(buf, n);
//
// Timeouts follow gevent: settimeout(InfiniteDuration()) blocks (the
// default, or set_default_timeout()'s value), settimeout(ZeroDuration())
// never waits (a call that would block throws EAGAIN), and a positive
// timeout is one deadline per call (recv, send, accept, connect, sendall...),
// fixed when the call starts; passing it throws SocketTimeout ("timed out").
//
// Errors: an OS error is a std::system_error with its errno (ECONNREFUSED,
// ECONNRESET, EPIPE, ...) and the operation in the message. Using a closed
// socket is EBADF. A socket closed by one greenlet while another waits on it
// wakes the waiter with EBADF ("closed in another greenlet"). A second
// greenlet reading (or writing) while one already waits for the same
// direction gets ConcurrentObjectUseError.
//
// A Socket owns its endpoint (RAII, movable, not copyable) and belongs to
// the hub of the thread that made it.
#ifndef GEVENTPP_RUNTIME_SOCKET_H_
#define GEVENTPP_RUNTIME_SOCKET_H_

#include <sys/socket.h>

#include <cstddef>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "runtime/address.h"
#include "runtime/socket_transport.h"

namespace gevent {

// A socket operation's timeout passed (gevent's socket.timeout, Python's
// TimeoutError): what() is "timed out", code() is ETIMEDOUT.
class SocketTimeout : public std::system_error {
 public:
  SocketTimeout()
      : std::system_error(std::make_error_code(std::errc::timed_out), "timed out") {}
  const char* what() const noexcept override { return "timed out"; }
};

class Socket {
 public:
  // A socket that is not open (is_open() false).
  Socket() = default;
  // A new socket of `family` (AF_INET, AF_INET6, AF_UNIX) and `type`.
  // Throws std::system_error (e.g. EMFILE) or std::invalid_argument.
  Socket(int family, SocketType type);
  // Wraps a transport (for backends and servers).
  explicit Socket(std::unique_ptr<SocketTransport> transport, int family,
                  SocketType type);
  ~Socket();
  Socket(Socket&& other) noexcept;
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  bool is_open() const { return transport_ != nullptr; }
  int family() const { return family_; }
  SocketType type() const { return type_; }
  // The kernel descriptor (-1 when closed, or on the simulator).
  int fileno() const;

  void bind(const Address& address);
  // Starts accepting connections; `backlog` as listen(2) (gevent: 128).
  void listen(int backlog = 128);
  // Waits for a connection and returns it; `peer`, if given, receives the
  // peer's address. The new socket starts with the default timeout (as
  // Python's accept()).
  Socket accept(Address* peer = nullptr);
  // Connects, waiting (one deadline for the whole connect) as needed.
  void connect(const Address& address);
  // connect() returning the error number instead of throwing (0: done;
  // EAGAIN: timed out, as gevent's connect_ex).
  int connect_ex(const Address& address);

  // Receives up to `len` bytes: the count, 0 at the end of the stream.
  size_t recv(void* buf, size_t len);
  // The same (gevent's recv_into).
  size_t recv_into(void* buf, size_t len) { return recv(buf, len); }
  // Up to `max` bytes, as a string ("" at the end of the stream).
  std::string recv(size_t max);
  // Like recv(buf, len), but leaves the bytes to be read again.
  size_t peek(void* buf, size_t len);
  // Sends some of `data`: the count taken, which may be less than asked.
  // Waits once if nothing can be sent now; returns 0 if it still cannot
  // (gevent's send), or throws SocketTimeout when the timeout passed.
  size_t send(const void* data, size_t len);
  size_t send(absl::string_view data) { return send(data.data(), data.size()); }
  // Sends all of `data`, waiting as needed, within one deadline (the
  // timeout). On an error or timeout part of it may have been sent.
  void sendall(const void* data, size_t len);
  void sendall(absl::string_view data) { sendall(data.data(), data.size()); }
  // Datagrams.
  size_t sendto(const void* data, size_t len, const Address& to);
  size_t sendto(absl::string_view data, const Address& to) {
    return sendto(data.data(), data.size(), to);
  }
  size_t recvfrom(void* buf, size_t len, Address* from);

  // SHUT_RD, SHUT_WR or SHUT_RDWR. The peer reads end-of-stream after
  // SHUT_WR; this socket can still read.
  void shutdown(int how);
  // Closes the socket (idempotent). A greenlet waiting on it wakes with
  // EBADF.
  void close();

  // InfiniteDuration(): block (default); ZeroDuration(): never wait;
  // otherwise the limit per wait. Negative durations are
  // std::invalid_argument.
  void settimeout(absl::Duration timeout);
  absl::Duration gettimeout() const { return timeout_; }
  // setblocking(true) is settimeout(InfiniteDuration()), false is
  // settimeout(ZeroDuration()).
  void setblocking(bool blocking);
  // The timeout new sockets start with (gevent's setdefaulttimeout).
  static void set_default_timeout(absl::Duration timeout);
  static absl::Duration default_timeout();

  void setsockopt(SocketOption option, int value);
  int getsockopt(SocketOption option);

  Address local_address() const;
  Address peer_address() const;

  // Marks this connection's bytes as private (or not): an observer of the
  // network, such as a trace recorder, keeps none of the bytes it reads or
  // sends, only the lengths (recorded payloads can hold secrets: passwords,
  // keys, personal data). A listening socket passes the mark on to the
  // connections it accepts. Free: nothing changes for the network.
  void set_bytes_private(bool on) { Open("set_bytes_private").set_bytes_private(on); }
  bool bytes_private() const { return transport_ != nullptr && transport_->bytes_private(); }

  // The transport under this socket (nullptr when closed).
  SocketTransport* transport() const { return transport_.get(); }

 private:
  SocketTransport& Open(const char* op) const;
  [[noreturn]] void Fail(int err, const char* op) const;
  absl::Time Deadline() const;
  // Waits for `direction` until `deadline`; throws SocketTimeout, EAGAIN
  // (non-blocking socket) or EBADF (closed meanwhile).
  void Wait(uint32_t direction, absl::Time deadline, const char* op);
  int ConnectUntil(const Address& address, absl::Time deadline, bool* timed_out);

  std::unique_ptr<SocketTransport> transport_;
  int family_ = AF_UNSPEC;
  SocketType type_ = SocketType::kStream;
  absl::Duration timeout_ = absl::InfiniteDuration();
};

// The addresses of "host:port" (a name or a literal; "[v6]:port"). Blocks
// only the calling greenlet (on epoll, getaddrinfo runs on a thread pool).
// Throws std::invalid_argument for a malformed text and std::system_error
// when the name does not resolve.
std::vector<Address> resolve(absl::string_view host_port);

// Connects a TCP socket to "host:port", trying each resolved address in
// turn, within `timeout` for each (gevent's create_connection). Throws the
// last error.
Socket create_connection(absl::string_view host_port,
                         absl::Duration timeout = absl::InfiniteDuration());
Socket create_connection(const Address& address,
                         absl::Duration timeout = absl::InfiniteDuration());

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_SOCKET_H_
