// A TCP echo server on green sockets: one greenlet per connection.
//
//   bazel run -c opt //examples:echo_server -- 7000
//
// Listens on 127.0.0.1:PORT (0 or none: any free port, printed) until
// killed. ../shared/bench/echo/run.sh compares it with peers:
//   run.sh 3 'geventpp=bazel-bin/examples/echo_server {PORT}'
#include <cstdio>
#include <cstdlib>
#include <string>

#include "examples/echo.h"
#include "runtime/gevent.h"

int main(int argc, char** argv) {
  int port = 0;
  if (argc > 2 || (argc == 2 && (std::string(argv[1]).find_first_not_of("0123456789") !=
                                     std::string::npos ||
                                 (port = std::atoi(argv[1])) > 65535))) {
    std::fprintf(stderr, "usage: %s [PORT]  (PORT: 0-65535)\n", argv[0]);
    return 2;
  }
  try {
    auto server = echo::Start(gevent::Address::Ip("127.0.0.1", static_cast<uint16_t>(port)));
    std::printf("echo server on %s\n", server->address().ToString().c_str());
    std::fflush(stdout);
    server->serve_forever();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo_server: %s\n", e.what());
    return 1;
  }
}
