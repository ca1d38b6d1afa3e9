#include "examples/cache/client.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace cache {

Client::Client(std::string address, absl::Duration timeout, std::string name)
    : address_(std::move(address)), timeout_(timeout), name_(std::move(name)) {
  if (!name_.empty() && !ValidToken(name_)) {
    throw std::invalid_argument("a client name must be 1-250 printable bytes");
  }
}

std::string Client::Call(const std::string& request) {
  try {
    if (conn_ == nullptr) {
      socket_ = gevent::create_connection(address_, timeout_);
      socket_.settimeout(timeout_);
      socket_.setsockopt(gevent::SocketOption::kTcpNoDelay, 1);
      conn_ = std::make_unique<LineConn>(socket_);
      if (!name_.empty()) {
        conn_->WriteLine(absl::StrCat("NAME ", name_));
        if (conn_->ReadLine() != std::optional<std::string>("OK")) {
          throw ProtocolError("the server did not take the client's name");
        }
      }
    }
    conn_->WriteLine(request);
    std::optional<std::string> reply = conn_->ReadLine();
    if (!reply) throw ProtocolError("the server closed the connection");
    if (absl::StartsWith(*reply, "ERROR ")) throw ServerError(reply->substr(6));
    return *std::move(reply);
  } catch (const ServerError&) {
    throw;  // the connection is still good
  } catch (...) {
    conn_.reset();
    socket_.close();
    throw;
  }
}

std::optional<std::string> Client::get(const std::string& key) {
  if (!ValidToken(key)) throw std::invalid_argument("a key must be 1-250 printable bytes");
  const std::string reply = Call(absl::StrCat("GET ", key));
  if (reply == "NONE") return std::nullopt;
  if (absl::StartsWith(reply, "VALUE ")) return reply.substr(6);
  throw ProtocolError(absl::StrCat("unexpected reply to GET: '", reply, "'"));
}

void Client::set(const std::string& key, const std::string& value) {
  if (!ValidToken(key)) throw std::invalid_argument("a key must be 1-250 printable bytes");
  if (!ValidToken(value)) throw std::invalid_argument("a value must be 1-250 printable bytes");
  const std::string reply = Call(absl::StrCat("SET ", key, " ", value));
  if (reply != "OK") throw ProtocolError(absl::StrCat("unexpected reply to SET: '", reply, "'"));
}

}  // namespace cache
