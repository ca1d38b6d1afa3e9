// StreamServer and DatagramServer: gevent.server on green sockets.
//
//   gevent::StreamServer server(gevent::Address::Parse("127.0.0.1:0"),
//                               [](gevent::Socket& conn, const gevent::Address&) {
//                                 char buf[4096];
//                                 while (size_t n = conn.recv(buf, sizeof buf)) {
//                                   conn.sendall(buf, n);
//                                 }
//                               });
//   server.start();                      // binds, listens, accepts
//   int port = server.address().port();  // the port it got
//   server.stop();                       // or serve_forever() to block
//
// Each connection runs the handler in its own greenlet; the connection is
// closed when the handler returns. An error escaping a handler is reported to
// the hub's error handler (as any greenlet's) and the server goes on. With
// max_connections (gevent's pool size), the server stops accepting while
// that many handlers run. stop(timeout) closes the listener, lets handlers
// finish for up to `timeout`, then kills the rest.
#ifndef GEVENTPP_RUNTIME_SERVER_H_
#define GEVENTPP_RUNTIME_SERVER_H_

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "runtime/address.h"
#include "runtime/event.h"
#include "runtime/greenlet.h"
#include "runtime/semaphore.h"
#include "runtime/socket.h"

namespace gevent {

class StreamServer {
 public:
  using Handler = std::function<void(Socket& connection, const Address& peer)>;
  struct Options {
    int backlog = 128;
    // At most this many handlers at once (0: no limit).
    size_t max_connections = 0;
    // SO_REUSEADDR on the listener (gevent sets it on POSIX).
    bool reuse_addr = true;
  };

  // A server for `address` (bound by start()). Throws std::invalid_argument
  // for an empty handler.
  StreamServer(const Address& address, Handler handler);
  StreamServer(const Address& address, Handler handler, Options options);
  // Kills the accept loop and every handler (stop(ZeroDuration())).
  ~StreamServer();
  StreamServer(const StreamServer&) = delete;
  StreamServer& operator=(const StreamServer&) = delete;

  // Binds, listens and starts accepting in a greenlet of its own. Throws the
  // bind or listen error (e.g. EADDRINUSE). A server starts once.
  void start();
  // start() if needed, then blocks until stop() is called.
  void serve_forever();
  // Closes the listener (no new connections), waits up to `timeout` for the
  // handlers to finish, then kills those still running. Idempotent.
  void stop(absl::Duration timeout = absl::Seconds(1));

  bool started() const { return started_ && !stopped_; }
  // The address it listens on (with the port the system chose for port 0).
  Address address() const { return address_; }
  // Handlers running now.
  size_t connection_count() const { return state_->running; }
  // Connections accepted so far.
  uint64_t accepted() const { return accepted_; }

 private:
  void AcceptLoop();
  void Prune();

  // What handler greenlets use: shared, as a handler that ignores
  // GreenletExit may outlive the server object.
  struct State {
    Handler handler;
    std::unique_ptr<Semaphore> slots;  // max_connections
    size_t running = 0;
  };

  Address address_;
  Options options_;
  std::shared_ptr<State> state_;
  Socket listener_;
  std::shared_ptr<Greenlet<void>> acceptor_;
  std::list<std::shared_ptr<Greenlet<void>>> handlers_;
  Event stopped_event_;
  uint64_t accepted_ = 0;
  bool started_ = false;
  bool stopped_ = false;
};

class DatagramServer {
 public:
  // Called for each datagram, in a greenlet of its own; `socket` is the
  // server's socket (reply with socket.sendto(..., from)).
  using Handler = std::function<void(const std::string& data, const Address& from,
                                     Socket& socket)>;
  DatagramServer(const Address& address, Handler handler);
  ~DatagramServer();
  DatagramServer(const DatagramServer&) = delete;
  DatagramServer& operator=(const DatagramServer&) = delete;

  void start();
  void serve_forever();
  void stop(absl::Duration timeout = absl::Seconds(1));
  bool started() const { return started_ && !stopped_; }
  Address address() const { return address_; }
  Socket& socket() { return *socket_; }

 private:
  Address address_;
  // Shared with handler greenlets (see StreamServer::State).
  std::shared_ptr<Handler> handler_;
  std::shared_ptr<Socket> socket_ = std::make_shared<Socket>();
  std::shared_ptr<Greenlet<void>> receiver_;
  std::list<std::shared_ptr<Greenlet<void>>> handlers_;
  Event stopped_event_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_SERVER_H_
