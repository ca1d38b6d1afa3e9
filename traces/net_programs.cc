#include "traces/net_programs.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "runtime/gevent.h"

namespace gevent {
namespace trace {
namespace programs {
namespace {

Socket Listen() {
  Socket listener(AF_INET, SocketType::kStream);
  listener.setsockopt(SocketOption::kReuseAddr, 1);
  listener.bind(Address::Parse("127.0.0.1:0"));
  listener.listen(128);
  return listener;
}

// A blocking kernel socket connected to 127.0.0.1:port (client threads).
int Dial(uint16_t port, int rcvbuf) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    const int err = errno;
    ::close(fd);
    throw std::system_error(err, std::generic_category(), "connect");
  }
  return fd;
}

void WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return;  // the server went away: the test says what it got
    p += k;
    n -= static_cast<size_t>(k);
  }
}

}  // namespace

ServiceOutcome RacyHttpService(int connections, size_t body,
                               const StartClients& start_clients) {
  ServiceOutcome out;
  out.requests.resize(static_cast<size_t>(connections));
  Socket listener = Listen();
  start_clients(listener.local_address().port());
  std::string response =
      absl::StrCat("HTTP/1.0 200 OK\r\nContent-Length: ", body, "\r\n\r\n");
  for (size_t i = 0; i < body; ++i) response.push_back(static_cast<char>('a' + i % 26));
  GreenletList handlers;
  for (int i = 0; i < connections; ++i) {
    auto conn = std::make_shared<Socket>(listener.accept());
    handlers.push_back(spawn([&out, &response, conn, i] {
      std::string& request = out.requests[static_cast<size_t>(i)];
      char buf[256];
      while (request.find("\r\n\r\n") == std::string::npos) {
        const size_t n = conn->recv(buf, sizeof buf);
        if (n == 0) return;
        request.append(buf, n);
      }
      conn->setsockopt(SocketOption::kSendBuffer, 16 * 1024);
      const int seen = out.hits;  // the race: read, wait in sendall, write
      conn->sendall(response);
      out.hits = seen + 1;
      conn->close();
    }));
  }
  for (auto& h : handlers) h->join();
  return out;
}

std::vector<std::thread> HttpClients(uint16_t port, int clients) {
  struct Sent {
    std::mutex mu;
    std::condition_variable cv;
    int count = 0;
  };
  auto sent = std::make_shared<Sent>();
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([port, i, sent] {
      int fd = -1;
      try {
        fd = Dial(port, 8 * 1024);
        const std::string request = absl::StrCat("GET /", i, " HTTP/1.0\r\n\r\n");
        // Two writes: the server may read the request in two parts.
        const size_t half = request.size() / 2;
        WriteAll(fd, request.data(), half);
        WriteAll(fd, request.data() + half, request.size() - half);
      } catch (const std::exception&) {
        // Counted all the same: the service sees a client fewer.
      }
      {
        std::lock_guard<std::mutex> lock(sent->mu);
        ++sent->count;
      }
      sent->cv.notify_all();
      if (fd < 0) return;
      char buf[4096];
      for (;;) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
      }
      ::close(fd);
    });
  }
  std::unique_lock<std::mutex> lock(sent->mu);
  sent->cv.wait(lock, [&] { return sent->count == clients; });
  return threads;
}

void JoinAll(std::vector<std::thread>* threads) {
  for (std::thread& t : *threads) t.join();
  threads->clear();
}

uint64_t EchoService(int connections, const StartClients& start_clients,
                     size_t recv_size, bool flip) {
  Socket listener = Listen();
  // A name looked up first, as a service looks up its peers: every echo
  // trace has a resolve record and work from another thread (the
  // resolver's hand-back), which the trace fuzzing tests then cover.
  const uint16_t port = listener.local_address().port();
  if (resolve("localhost:" + std::to_string(port)).empty()) return 0;
  start_clients(port);
  uint64_t echoed = 0;
  GreenletList handlers;
  for (int i = 0; i < connections; ++i) {
    auto conn = std::make_shared<Socket>(listener.accept());
    handlers.push_back(spawn([&echoed, conn, recv_size, flip] {
      conn->setsockopt(SocketOption::kTcpNoDelay, 1);
      std::string buf(recv_size, '\0');
      for (;;) {
        const size_t n = conn->recv(&buf[0], recv_size);
        if (n == 0) break;
        if (flip) buf[0] = static_cast<char>(buf[0] ^ 1);
        conn->sendall(buf.data(), n);
        echoed += n;
      }
    }));
  }
  for (auto& h : handlers) h->join();
  return echoed;
}

std::vector<std::thread> EchoClients(uint16_t port, int clients, int round_trips,
                                     size_t size) {
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([port, round_trips, size] {
      const int fd = Dial(port, 0);
      std::string msg(size, 'x');
      std::string back(size, '\0');
      for (int r = 0; r < round_trips; ++r) {
        msg[0] = static_cast<char>('a' + r % 26);
        WriteAll(fd, msg.data(), size);
        size_t got = 0;
        while (got < size) {
          const ssize_t n = ::recv(fd, &back[got], size - got, 0);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) break;
          got += static_cast<size_t>(n);
        }
        if (got < size) break;
      }
      ::close(fd);
    });
  }
  return threads;
}

uint64_t RecordEchoOnEpoll(const std::string& path, int clients, int round_trips,
                           size_t size, const RecorderOptions& options) {
  std::vector<std::thread> threads;
  uint64_t echoed = 0;
  {
    std::unique_ptr<Hub> previous = exchange_hub(make_hub("epoll"));
    Hub* hub = get_hub();
    {
      Recording rec(path, options);
      echoed = EchoService(clients, [&](uint16_t port) {
        threads = EchoClients(port, clients, round_trips, size);
      });
    }
    hub->destroy();
    exchange_hub(std::move(previous));
  }
  JoinAll(&threads);
  return echoed;
}

}  // namespace programs
}  // namespace trace
}  // namespace gevent
