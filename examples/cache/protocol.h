// The cache's wire protocol: one request per line, one reply per line, on a
// TCP connection (the store speaks the same one).
//
//   GET <key>            ->  VALUE <value>  |  NONE
//   SET <key> <value>    ->  OK
//   NAME <name>          ->  OK     (who the client is, for logs and traces)
//   anything wrong       ->  ERROR <what>
//
// Keys and values are 1 to 250 printable bytes without spaces (memcached's
// rule). LineConn reads and writes such lines over a Socket: a reply may
// arrive in several pieces, or several in one piece.
#ifndef GEVENTPP_EXAMPLES_CACHE_PROTOCOL_H_
#define GEVENTPP_EXAMPLES_CACHE_PROTOCOL_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

#include "absl/strings/string_view.h"
#include "runtime/socket.h"

namespace cache {

// The longest line either side accepts.
constexpr size_t kMaxLine = 600;

// A request or reply that breaks the protocol.
class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Whether `s` may be a key or a value.
bool ValidToken(absl::string_view s);

struct Request {
  enum Kind { kGet, kSet, kName } kind = kGet;
  std::string key;  // kName: the name
  std::string value;  // kSet only
};

// Parses one request line (without its '\n'); throws ProtocolError naming
// what is wrong.
Request ParseRequest(absl::string_view line);

// A line-at-a-time view of a connection (it borrows the socket).
class LineConn {
 public:
  explicit LineConn(gevent::Socket& socket) : socket_(socket) {}

  // The next line, without its '\n'; nullopt at a clean end of stream.
  // Throws ProtocolError for a line longer than kMaxLine or a stream that
  // ends inside a line, and what Socket::recv throws.
  std::optional<std::string> ReadLine();
  // Sends `line` and a '\n'.
  void WriteLine(absl::string_view line);

  gevent::Socket& socket() { return socket_; }

 private:
  gevent::Socket& socket_;
  std::string buffer_;
  size_t scanned_ = 0;  // bytes of buffer_ known to hold no '\n'
};

// Serves one connection: reads requests until the client closes it, and
// answers each with what `handle` returns; NAME it answers itself, naming
// the serving greenlet "<server>: <name>". A request that breaks the
// protocol is answered "ERROR <what>" (and ends the connection if the line
// itself is broken); so is any std::exception `handle` throws. A client that
// resets the connection just ends it.
using RequestHandler = std::function<std::string(const Request&)>;
void ServeConnection(gevent::Socket& connection, const std::string& server,
                     const RequestHandler& handle);

}  // namespace cache

#endif  // GEVENTPP_EXAMPLES_CACHE_PROTOCOL_H_
