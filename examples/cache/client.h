// A client of the cache (or of the store: they speak the same protocol,
// protocol.h). It keeps one connection, opened on first use and again after
// an error; one request at a time.
//
//   cache::Client c("cache:7000");
//   c.set("user:1", "ada");
//   std::optional<std::string> v = c.get("user:1");   // "ada"
#ifndef GEVENTPP_EXAMPLES_CACHE_CLIENT_H_
#define GEVENTPP_EXAMPLES_CACHE_CLIENT_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "examples/cache/protocol.h"
#include "runtime/socket.h"

namespace cache {

// The server answered ERROR.
class ServerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Client {
 public:
  // `address` is "host:port". Each request (connecting included) must
  // finish within `timeout`, or gevent::SocketTimeout is thrown. A `name`
  // is sent on each new connection (NAME): servers label their work with
  // it. Throws std::invalid_argument for a name that is not a token.
  explicit Client(std::string address, absl::Duration timeout = absl::Seconds(5),
                  std::string name = "");

  // The key's value, or nullopt if it has none. Throws ServerError for an
  // ERROR reply, ProtocolError for a reply that makes no sense, and what
  // the socket throws (std::system_error); the connection is then closed.
  std::optional<std::string> get(const std::string& key);
  // Stores the value; returns once the server acknowledged it.
  void set(const std::string& key, const std::string& value);

 private:
  std::string Call(const std::string& request);

  std::string address_;
  absl::Duration timeout_;
  std::string name_;
  gevent::Socket socket_;
  std::unique_ptr<LineConn> conn_;
};

}  // namespace cache

#endif  // GEVENTPP_EXAMPLES_CACHE_CLIENT_H_
