// Address: a socket address (IPv4, IPv6 or a Unix path), parsed from text.
//
//   gevent::Address a = gevent::Address::Parse("127.0.0.1:8080");
//   gevent::Address b = gevent::Address::Parse("[::1]:8080");
//   gevent::Address c = gevent::Address::Parse("unix:/tmp/echo.sock");
//   gevent::Address any = gevent::Address::Parse(":8080");  // 0.0.0.0:8080
//
// Parse() takes literal addresses only and throws std::invalid_argument
// naming what is wrong ("no port", "port 99999 is out of range", ...). For
// host names use resolve() (socket.h), which asks the resolver of the
// current hub: the system's, on a thread pool, on epoll; the simulated
// network's host table on the simulator.
#ifndef GEVENTPP_RUNTIME_ADDRESS_H_
#define GEVENTPP_RUNTIME_ADDRESS_H_

#include <sys/socket.h>

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/strings/string_view.h"

namespace gevent {

class Address {
 public:
  // An empty address (family() == AF_UNSPEC).
  Address();
  // Parses "a.b.c.d:port", "[v6]:port", ":port" (every IPv4 interface),
  // "unix:/path" or "unix:@abstract". Throws std::invalid_argument.
  static Address Parse(absl::string_view text);
  // An IP address from a literal host ("10.0.0.1", "::1") and a port.
  static Address Ip(absl::string_view host, uint16_t port);
  // From a kernel address; throws std::invalid_argument for a family other
  // than AF_INET, AF_INET6 and AF_UNIX.
  static Address FromSockaddr(const struct sockaddr* sa, socklen_t len);

  int family() const { return storage_.ss_family; }
  bool empty() const { return family() == AF_UNSPEC; }
  bool is_ip() const { return family() == AF_INET || family() == AF_INET6; }
  // "10.0.0.1", "::1", or a Unix path.
  std::string host() const;
  // The port (0 for Unix addresses).
  uint16_t port() const;
  // The same address with another port.
  Address with_port(uint16_t port) const;
  // "10.0.0.1:80", "[::1]:80", "unix:/path"; "" when empty.
  std::string ToString() const;

  const struct sockaddr* sockaddr() const {
    return reinterpret_cast<const struct sockaddr*>(&storage_);
  }
  struct sockaddr* mutable_sockaddr() {
    return reinterpret_cast<struct sockaddr*>(&storage_);
  }
  socklen_t length() const { return length_; }
  void set_length(socklen_t len) { length_ = len; }

  // Equal family, host and port (or path). A total order, for maps.
  friend bool operator==(const Address& a, const Address& b);
  friend bool operator!=(const Address& a, const Address& b) { return !(a == b); }
  friend bool operator<(const Address& a, const Address& b);
  friend std::ostream& operator<<(std::ostream& os, const Address& a) {
    return os << a.ToString();
  }

 private:
  struct sockaddr_storage storage_;
  socklen_t length_ = 0;
};

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_ADDRESS_H_
