// The echo service of examples/echo_server: a StreamServer whose handler
// reads and sends back, until the client closes. The same code runs on the
// epoll hub (echo_server, the benchmark) and on the simulated network
// (echo_server_test).
#ifndef GEVENTPP_EXAMPLES_ECHO_H_
#define GEVENTPP_EXAMPLES_ECHO_H_

#include <functional>
#include <memory>

#include "runtime/server.h"
#include "runtime/socket.h"

namespace echo {

// Called with each chunk the server received on a connection, before it
// echoes it (tests use it to see what arrived).
using Observer = std::function<void(const gevent::Socket& connection, const char* data,
                                    size_t len)>;

// Echoes one connection until the peer closes it.
void Serve(gevent::Socket& connection, const Observer& observer = nullptr);

// A started echo server on `address` (port 0: any free port).
std::unique_ptr<gevent::StreamServer> Start(const gevent::Address& address,
                                            Observer observer = nullptr);

}  // namespace echo

#endif  // GEVENTPP_EXAMPLES_ECHO_H_
