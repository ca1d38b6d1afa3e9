#include "runtime/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>
#include <stdexcept>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace gevent {
namespace {

[[noreturn]] void Bad(absl::string_view text, absl::string_view why) {
  throw std::invalid_argument(absl::StrCat("bad address '", text, "': ", why));
}

uint16_t ParsePort(absl::string_view text, absl::string_view port) {
  if (port.empty()) Bad(text, "no port after ':'");
  for (char c : port) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      Bad(text, absl::StrCat("port '", port, "' is not a number"));
    }
  }
  uint64_t value = 0;
  if (port.size() > 5 || !absl::SimpleAtoi(port, &value) || value > 65535) {
    Bad(text, absl::StrCat("port ", port, " is out of range (0-65535)"));
  }
  return static_cast<uint16_t>(value);
}

}  // namespace

Address::Address() {
  std::memset(&storage_, 0, sizeof storage_);
  storage_.ss_family = AF_UNSPEC;
}

Address Address::Ip(absl::string_view host, uint16_t port) {
  Address a;
  std::string h(host);
  if (h.empty()) h = "0.0.0.0";
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage_);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
  if (inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    a.length_ = sizeof(sockaddr_in);
    return a;
  }
  std::memset(&a.storage_, 0, sizeof a.storage_);
  if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    a.length_ = sizeof(sockaddr_in6);
    return a;
  }
  throw std::invalid_argument(absl::StrCat(
      "bad address '", host, "': not an IP address (use resolve() for names)"));
}

Address Address::Parse(absl::string_view text) {
  if (text.empty()) Bad(text, "empty");
  if (absl::StartsWith(text, "unix:")) {
    absl::string_view path = text.substr(5);
    if (path.empty()) Bad(text, "no path after 'unix:'");
    Address a;
    auto* un = reinterpret_cast<sockaddr_un*>(&a.storage_);
    if (path.size() >= sizeof un->sun_path) {
      Bad(text, absl::StrCat("a Unix socket path is at most ",
                             sizeof un->sun_path - 1, " bytes, this one has ",
                             path.size()));
    }
    if (path.find('\0') != absl::string_view::npos) Bad(text, "NUL in the path");
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, path.data(), path.size());
    // "@name" is Linux's abstract namespace: a leading NUL, no terminator.
    if (path[0] == '@') {
      un->sun_path[0] = '\0';
      a.length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
    } else {
      a.length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
    }
    return a;
  }
  absl::string_view host;
  absl::string_view port;
  if (text[0] == '[') {
    size_t close = text.find(']');
    if (close == absl::string_view::npos) Bad(text, "no closing ']'");
    host = text.substr(1, close - 1);
    absl::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest[0] != ':') Bad(text, "no ':port' after ']'");
    port = rest.substr(1);
    if (host.empty()) Bad(text, "empty IPv6 address in '[]'");
  } else {
    size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) {
      Bad(text, "no port (expected host:port, [v6]:port or unix:/path)");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != absl::string_view::npos) {
      Bad(text, "an IPv6 address needs brackets, as in [::1]:80");
    }
  }
  const uint16_t p = ParsePort(text, port);
  Address a;
  std::string h(host.empty() ? "0.0.0.0" : std::string(host));
  const int family = text[0] == '[' ? AF_INET6 : AF_INET;
  if (family == AF_INET6) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
    if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) != 1) {
      Bad(text, absl::StrCat("'", host, "' is not an IPv6 address"));
    }
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(p);
    a.length_ = sizeof(sockaddr_in6);
  } else {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage_);
    if (inet_pton(AF_INET, h.c_str(), &v4->sin_addr) != 1) {
      Bad(text, absl::StrCat("'", host,
                             "' is not an IPv4 address (use resolve() for names)"));
    }
    v4->sin_family = AF_INET;
    v4->sin_port = htons(p);
    a.length_ = sizeof(sockaddr_in);
  }
  return a;
}

Address Address::FromSockaddr(const struct sockaddr* sa, socklen_t len) {
  Address a;
  if (sa == nullptr || len < static_cast<socklen_t>(sizeof(sa_family_t)) ||
      len > static_cast<socklen_t>(sizeof a.storage_)) {
    throw std::invalid_argument("bad socket address length");
  }
  if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6 &&
      sa->sa_family != AF_UNIX) {
    throw std::invalid_argument(
        absl::StrCat("unsupported address family ", sa->sa_family));
  }
  std::memcpy(&a.storage_, sa, len);
  a.length_ = len;
  return a;
}

std::string Address::host() const {
  char buf[INET6_ADDRSTRLEN] = {};
  switch (family()) {
    case AF_INET:
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr,
                buf, sizeof buf);
      return buf;
    case AF_INET6:
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr,
                buf, sizeof buf);
      return buf;
    case AF_UNIX: {
      const auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
      const size_t off = offsetof(sockaddr_un, sun_path);
      if (length_ <= off) return "";
      size_t n = length_ - off;
      if (un->sun_path[0] == '\0') {
        return absl::StrCat("@", absl::string_view(un->sun_path + 1, n - 1));
      }
      return std::string(un->sun_path, strnlen(un->sun_path, n));
    }
  }
  return "";
}

uint16_t Address::port() const {
  switch (family()) {
    case AF_INET:
      return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    case AF_INET6:
      return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  }
  return 0;
}

Address Address::with_port(uint16_t port) const {
  Address a = *this;
  if (family() == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&a.storage_)->sin_port = htons(port);
  } else if (family() == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&a.storage_)->sin6_port = htons(port);
  }
  return a;
}

std::string Address::ToString() const {
  switch (family()) {
    case AF_INET:
      return absl::StrCat(host(), ":", port());
    case AF_INET6:
      return absl::StrCat("[", host(), "]:", port());
    case AF_UNIX:
      return absl::StrCat("unix:", host());
  }
  return "";
}

bool operator==(const Address& a, const Address& b) {
  return a.family() == b.family() && a.host() == b.host() && a.port() == b.port();
}

bool operator<(const Address& a, const Address& b) {
  return std::make_tuple(a.family(), a.host(), a.port()) <
         std::make_tuple(b.family(), b.host(), b.port());
}

}  // namespace gevent
