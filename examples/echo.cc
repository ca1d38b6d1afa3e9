#include "examples/echo.h"

#include <errno.h>

#include <system_error>
#include <utility>

namespace echo {

void Serve(gevent::Socket& connection, const Observer& observer) {
  connection.setsockopt(gevent::SocketOption::kTcpNoDelay, 1);
  char buf[65536];
  try {
    while (size_t n = connection.recv(buf, sizeof buf)) {
      if (observer) observer(connection, buf, n);
      connection.sendall(buf, n);
    }
  } catch (const std::system_error& e) {
    // A client that resets its connection has just gone away.
    if (e.code().value() != ECONNRESET && e.code().value() != EPIPE) throw;
  }
}

std::unique_ptr<gevent::StreamServer> Start(const gevent::Address& address, Observer observer) {
  gevent::StreamServer::Options options;
  options.backlog = 1024;
  auto server = std::make_unique<gevent::StreamServer>(
      address,
      [observer = std::move(observer)](gevent::Socket& connection, const gevent::Address&) {
        Serve(connection, observer);
      },
      options);
  server->start();
  return server;
}

}  // namespace echo
