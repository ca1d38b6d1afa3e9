#include "examples/cache/protocol.h"

#include <errno.h>

#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "runtime/raw_greenlet.h"

namespace cache {

bool ValidToken(absl::string_view s) {
  if (s.empty() || s.size() > 250) return false;
  for (char c : s) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

Request ParseRequest(absl::string_view line) {
  std::vector<absl::string_view> words = absl::StrSplit(line, ' ');
  Request r;
  if (words[0] == "GET" && words.size() == 2) {
    r.kind = Request::kGet;
  } else if (words[0] == "NAME" && words.size() == 2) {
    r.kind = Request::kName;
  } else if (words[0] == "SET" && words.size() == 3) {
    r.kind = Request::kSet;
    if (!ValidToken(words[2])) throw ProtocolError("a value must be 1-250 printable bytes");
    r.value = std::string(words[2]);
  } else {
    throw ProtocolError("expected 'GET <key>', 'SET <key> <value>' or 'NAME <name>'");
  }
  if (!ValidToken(words[1])) throw ProtocolError("a key must be 1-250 printable bytes");
  r.key = std::string(words[1]);
  return r;
}

std::optional<std::string> LineConn::ReadLine() {
  for (;;) {
    const size_t nl = buffer_.find('\n', scanned_);
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      scanned_ = 0;
      return line;
    }
    scanned_ = buffer_.size();
    if (buffer_.size() > kMaxLine) {
      throw ProtocolError(absl::StrCat("a line longer than ", kMaxLine, " bytes"));
    }
    char chunk[1024];
    const size_t n = socket_.recv(chunk, sizeof chunk);
    if (n == 0) {
      if (buffer_.empty()) return std::nullopt;
      throw ProtocolError("the connection ended inside a line");
    }
    buffer_.append(chunk, n);
  }
}

void LineConn::WriteLine(absl::string_view line) {
  socket_.sendall(absl::StrCat(line, "\n"));
}

void ServeConnection(gevent::Socket& connection, const std::string& server,
                     const RequestHandler& handle) {
  connection.setsockopt(gevent::SocketOption::kTcpNoDelay, 1);
  LineConn conn(connection);
  try {
    for (;;) {
      std::optional<std::string> line;
      try {
        line = conn.ReadLine();
      } catch (const ProtocolError& e) {
        conn.WriteLine(absl::StrCat("ERROR ", e.what()));
        return;
      }
      if (!line) return;
      std::string reply;
      try {
        const Request request = ParseRequest(*line);
        if (request.kind == Request::kName) {
          gevent::getcurrent()->set_name(absl::StrCat(server, ": ", request.key));
          reply = "OK";
        } else {
          reply = handle(request);
        }
      } catch (const std::exception& e) {
        reply = absl::StrCat("ERROR ", e.what());
      }
      conn.WriteLine(reply);
    }
  } catch (const std::system_error& e) {
    // A client that resets its connection has just gone away.
    if (e.code().value() != ECONNRESET && e.code().value() != EPIPE) throw;
  }
}

}  // namespace cache
