#include "greeter.h"

#include "runtime/socket.h"

namespace greeter {

std::unique_ptr<gevent::StreamServer> Start(const gevent::Address& address) {
  auto server = std::make_unique<gevent::StreamServer>(
      address, [](gevent::Socket& conn, const gevent::Address&) {
        std::string name;
        while (true) {
          std::string part = conn.recv(256);
          if (part.empty()) break;
          name += part;
        }
        conn.sendall("hello, " + name);
      });
  server->start();
  return server;
}

std::string Greet(const gevent::Address& address, const std::string& name) {
  gevent::Socket s = gevent::create_connection(address, absl::Seconds(5));
  s.sendall(name);
  s.shutdown(SHUT_WR);
  std::string answer;
  while (true) {
    std::string part = s.recv(256);
    if (part.empty()) break;
    answer += part;
  }
  return answer;
}

}  // namespace greeter
