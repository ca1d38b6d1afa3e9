#include "runtime/server.h"

#include <errno.h>

#include <algorithm>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "runtime/hub.h"
#include "runtime/sleep.h"
#include "runtime/wait.h"

namespace gevent {
namespace {

// Errors after which accepting can never succeed again (gevent's fatal
// accept errors): the listener is gone.
bool FatalAcceptError(int err) {
  return err == EBADF || err == EINVAL || err == ENOTSOCK || err == ENETDOWN;
}

template <typename List>
void DropDead(List* list) {
  list->remove_if([](const auto& g) { return g->dead(); });
}

// Waits up to `timeout` for `greenlets` (except the current one) to finish,
// then kills those still running.
template <typename List>
void FinishOrKill(List* list, absl::Duration timeout) {
  DropDead(list);
  GreenletList alive;
  const RawGreenlet* self = getcurrent();
  for (auto& g : *list) {
    if (g.get() != self) alive.push_back(g);
  }
  if (alive.empty()) return;
  if (timeout > absl::ZeroDuration()) joinall(alive, timeout);
  // Kill what is left and give it a second to die (a handler that catches
  // GreenletExit and goes on is left running, as gevent leaves it).
  killall(alive, nullptr, /*block=*/false);
  joinall(alive, absl::Seconds(1));
}

}  // namespace

StreamServer::StreamServer(const Address& address, Handler handler)
    : StreamServer(address, std::move(handler), Options()) {}

StreamServer::StreamServer(const Address& address, Handler handler, Options options)
    : address_(address), options_(options), state_(std::make_shared<State>()) {
  if (!handler) throw std::invalid_argument("StreamServer: the handler is empty");
  if (address.empty()) throw std::invalid_argument("StreamServer: the address is empty");
  state_->handler = std::move(handler);
  if (options_.max_connections > 0) {
    state_->slots =
        std::make_unique<Semaphore>(static_cast<int64_t>(options_.max_connections));
  }
}

StreamServer::~StreamServer() {
  try {
    stop(absl::ZeroDuration());
  } catch (...) {
    // The hub may be gone already (its greenlets with it).
  }
}

void StreamServer::start() {
  if (stopped_) throw std::logic_error("StreamServer::start: the server was stopped");
  if (started_) return;
  Socket listener(address_.family(), SocketType::kStream);
  if (options_.reuse_addr && address_.is_ip()) {
    listener.setsockopt(SocketOption::kReuseAddr, 1);
  }
  listener.bind(address_);
  listener.listen(options_.backlog);
  address_ = listener.local_address();
  listener_ = std::move(listener);
  started_ = true;
  acceptor_ = spawn([this] { AcceptLoop(); });
  acceptor_->set_name("StreamServer-accept");
}

void StreamServer::serve_forever() {
  start();
  stopped_event_.wait();
}

void StreamServer::AcceptLoop() {
  absl::Duration backoff = absl::Milliseconds(10);
  Semaphore* slots = state_->slots.get();
  while (!stopped_) {
    if (slots != nullptr) slots->acquire();
    Socket conn;
    Address peer;
    try {
      conn = listener_.accept(&peer);
    } catch (const std::system_error& e) {
      if (slots != nullptr) slots->release();
      if (stopped_ || FatalAcceptError(e.code().value())) return;
      // EMFILE, ENOBUFS...: report it, back off (10 ms doubling to 1 s).
      getcurrent()->hub()->handle_error(getcurrent(), std::current_exception());
      sleep(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(1));
      continue;
    }
    backoff = absl::Milliseconds(10);
    ++accepted_;
    ++state_->running;
    if (handlers_.size() >= 2 * state_->running + 16) DropDead(&handlers_);
    auto connection = std::make_shared<Socket>(std::move(conn));
    handlers_.push_back(spawn([state = state_, connection, peer] {
      struct Done {
        State* state;
        Socket* connection;
        ~Done() {
          connection->close();
          --state->running;
          if (state->slots != nullptr) state->slots->release();
        }
      } done{state.get(), connection.get()};
      state->handler(*connection, peer);
    }));
  }
}

void StreamServer::stop(absl::Duration timeout) {
  if (stopped_) return;
  stopped_ = true;
  listener_.close();
  if (acceptor_ != nullptr && acceptor_.get() != getcurrent()) acceptor_->kill();
  FinishOrKill(&handlers_, timeout);
  stopped_event_.set();
}

DatagramServer::DatagramServer(const Address& address, Handler handler)
    : address_(address), handler_(std::make_shared<Handler>(std::move(handler))) {
  if (!*handler_) throw std::invalid_argument("DatagramServer: the handler is empty");
  if (address.empty()) throw std::invalid_argument("DatagramServer: the address is empty");
}

DatagramServer::~DatagramServer() {
  try {
    stop(absl::ZeroDuration());
  } catch (...) {
  }
}

void DatagramServer::start() {
  if (stopped_) throw std::logic_error("DatagramServer::start: the server was stopped");
  if (started_) return;
  Socket socket(address_.family(), SocketType::kDatagram);
  socket.bind(address_);
  address_ = socket.local_address();
  *socket_ = std::move(socket);
  started_ = true;
  receiver_ = spawn([this] {
    std::string buf(65536, '\0');
    while (!stopped_) {
      Address from;
      size_t n;
      try {
        n = socket_->recvfrom(buf.data(), buf.size(), &from);
      } catch (const std::system_error& e) {
        if (stopped_ || FatalAcceptError(e.code().value())) return;
        getcurrent()->hub()->handle_error(getcurrent(), std::current_exception());
        sleep(absl::Milliseconds(10));
        continue;
      }
      if (handlers_.size() >= 64) DropDead(&handlers_);
      handlers_.push_back(spawn([handler = handler_, socket = socket_,
                                 data = buf.substr(0, n), from] {
        (*handler)(data, from, *socket);
      }));
    }
  });
  receiver_->set_name("DatagramServer-receive");
}

void DatagramServer::serve_forever() {
  start();
  stopped_event_.wait();
}

void DatagramServer::stop(absl::Duration timeout) {
  if (stopped_) return;
  stopped_ = true;
  if (receiver_ != nullptr && receiver_.get() != getcurrent()) receiver_->kill();
  FinishOrKill(&handlers_, timeout);
  socket_->close();
  stopped_event_.set();
}

}  // namespace gevent
