// Network programs for the I/O record/replay tests and benchmark: a service
// that runs on the thread's hub (recorded on epoll, replayed on the
// simulator) and its clients, which run on threads of their own with
// blocking kernel sockets (the outside world: not recorded, and not run
// again by a replay).
#ifndef GEVENTPP_TRACES_NET_PROGRAMS_H_
#define GEVENTPP_TRACES_NET_PROGRAMS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "traces/recorder.h"

namespace gevent {
namespace trace {
namespace programs {

// Called with the service's port once it listens (from the hub's thread):
// starts the clients, or does nothing in a replay.
using StartClients = std::function<void(uint16_t port)>;

// An HTTP-like service with a race that shows only under load. It accepts
// `connections` connections on 127.0.0.1 and serves each in a greenlet:
// reads a request ("GET /<n>\r\n\r\n", possibly in several recvs), reads a
// shared hit counter, sends a response of `body` bytes with sendall, then
// stores counter + 1. When a client reads slowly, sendall waits, another
// handler reads the same counter value, and an update is lost.
struct ServiceOutcome {
  int hits = 0;                       // the counter at the end
  std::vector<std::string> requests;  // what each handler read, in order
};
ServiceOutcome RacyHttpService(int connections, size_t body,
                               const StartClients& start_clients);

// Threads that each connect to 127.0.0.1:`port`, send one request, and
// read the whole response (small receive buffers: the server's sendall
// has to wait). Returns once every client has sent its request: the load
// arrives at once (the connections wait in the listener's backlog), so
// the service's handlers overlap and the race shows. Join them with
// JoinAll.
std::vector<std::thread> HttpClients(uint16_t port, int clients);
void JoinAll(std::vector<std::thread>* threads);

// An echo service: resolves "localhost" (the name of its port) first,
// then accepts `connections` connections, each handler
// echoes what it reads (recv of up to `recv_size` bytes, then sendall)
// until the peer closes. Returns the bytes echoed. `flip`: each echo has
// its first bit flipped (a program that sends other bytes than the one
// recorded).
uint64_t EchoService(int connections, const StartClients& start_clients,
                     size_t recv_size = 4096, bool flip = false);

// Threads that each connect to 127.0.0.1:`port` and make `round_trips`
// round trips of `size`-byte messages, then close.
std::vector<std::thread> EchoClients(uint16_t port, int clients, int round_trips,
                                     size_t size);

// Records EchoService(clients) with EchoClients(clients, round_trips, size)
// on a fresh epoll hub into `path`; returns the bytes echoed.
uint64_t RecordEchoOnEpoll(const std::string& path, int clients, int round_trips,
                           size_t size, const RecorderOptions& options = {});

}  // namespace programs
}  // namespace trace
}  // namespace gevent

#endif  // GEVENTPP_TRACES_NET_PROGRAMS_H_
