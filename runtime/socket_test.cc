// Tests for runtime/socket.h and runtime/server.h: the same socket code on
// both hubs (kernel sockets on epoll, the simulated network on sim).
#include "runtime/socket.h"

#include <dirent.h>
#include <errno.h>
#include <sys/socket.h>

#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "runtime/gevent.h"
#include "runtime/hub_backend.h"
#include "runtime/server.h"
#include "testing/hub_test.h"

namespace gevent {
namespace {

using absl::Milliseconds;
using absl::Seconds;

class SocketTest : public testing::HubTest {
 protected:
  // Counted before the hub exists and after it is gone: the hub's own
  // descriptors (epoll, eventfd, the resolver's) are in neither count, and
  // a descriptor leaked by the test cannot hide behind them.
  void SetUp() override {
    fds_before_ = OpenFds();
    HubTest::SetUp();
  }
  void TearDown() override {
    // Checked while the hub lives: destroying it closes what is still open.
    // On the simulator this is the only count (it has no descriptors).
    NetworkBackend* net = hub()->backend().network();
    if (net != nullptr) EXPECT_EQ(net->open_count(), 0u) << "sockets left open";
    HubTest::TearDown();
    EXPECT_LE(OpenFds(), fds_before_) << "descriptors leaked";
  }
  static int OpenFds() {
    int n = 0;
    if (DIR* d = opendir("/proc/self/fd")) {
      while (readdir(d) != nullptr) ++n;
      closedir(d);
    }
    return n;
  }
  // An echo server on a free loopback port.
  std::unique_ptr<StreamServer> EchoServer(StreamServer::Options options = {}) {
    auto server = std::make_unique<StreamServer>(
        Address::Parse("127.0.0.1:0"),
        [](Socket& conn, const Address&) {
          char buf[4096];
          while (size_t n = conn.recv(buf, sizeof buf)) conn.sendall(buf, n);
        },
        options);
    server->start();
    return server;
  }
  int fds_before_ = 0;
};

int ErrnoOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::system_error& e) {
    return e.code().value();
  }
  return 0;
}

// The error sending gives on a connection the peer reset (none: 0). The
// first sends may still succeed (the kernel may not have seen the reset).
int ErrnoOfSendingAfterAReset(Socket& s) {
  return ErrnoOf([&] {
    for (int i = 0; i < 10; ++i) {
      s.sendall("more");
      sleep(Milliseconds(10));
    }
  });
}

// Waits (10 ms steps, at most 5 s) until `done()`: robust on a loaded
// machine, where a fixed pause may end before the other side has run.
template <typename F>
bool WaitUntil(F done) {
  for (int i = 0; i < 500 && !done(); ++i) sleep(Milliseconds(10));
  return done();
}

std::string RecvExactly(Socket& s, size_t n) {
  std::string out;
  while (out.size() < n) {
    std::string part = s.recv(n - out.size());
    if (part.empty()) break;
    out += part;
  }
  return out;
}

TEST_P(SocketTest, EchoRoundTrip) {
  auto server = EchoServer();
  EXPECT_NE(server->address().port(), 0);
  Socket client = create_connection(server->address());
  client.sendall("hello");
  EXPECT_EQ(RecvExactly(client, 5), "hello");
  EXPECT_EQ(client.peer_address(), server->address());
  client.close();
  server->stop();
  EXPECT_EQ(server->accepted(), 1u);
}

TEST_P(SocketTest, ManyClientsAtOnce) {
  auto server = EchoServer();
  std::vector<std::shared_ptr<Greenlet<std::string>>> clients;
  for (int i = 0; i < 20; ++i) {
    clients.push_back(spawn([&server, i] {
      Socket s = create_connection(server->address());
      std::string msg = "client-" + std::to_string(i);
      s.sendall(msg);
      return RecvExactly(s, msg.size());
    }));
  }
  for (int i = 0; i < 20; ++i) EXPECT_EQ(clients[i]->get(), "client-" + std::to_string(i));
  server->stop();
}

TEST_P(SocketTest, ConnectToAClosedPortIsRefused) {
  Address free_port;
  {
    Socket probe(AF_INET, SocketType::kStream);
    probe.bind(Address::Parse("127.0.0.1:0"));
    free_port = probe.local_address();
  }
  Socket s(AF_INET, SocketType::kStream);
  try {
    s.connect(free_port);
    FAIL() << "connected to a port nobody listens on";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ECONNREFUSED);
    EXPECT_NE(std::string(e.what()).find(free_port.ToString()), std::string::npos) << e.what();
  }
  Socket s2(AF_INET, SocketType::kStream);
  EXPECT_EQ(s2.connect_ex(free_port), ECONNREFUSED);
}

TEST_P(SocketTest, RecvTimesOutWithSocketTimeout) {
  auto server = std::make_unique<StreamServer>(
      Address::Parse("127.0.0.1:0"), [](Socket& conn, const Address&) {
        char c;
        conn.recv(&c, 1);  // never answers
      });
  server->start();
  Socket client = create_connection(server->address());
  client.settimeout(Milliseconds(20));
  EXPECT_EQ(client.gettimeout(), Milliseconds(20));
  char buf[8];
  try {
    client.recv(buf, sizeof buf);
    FAIL() << "recv returned";
  } catch (const SocketTimeout& e) {
    EXPECT_STREQ(e.what(), "timed out");
    EXPECT_EQ(e.code().value(), ETIMEDOUT);
  }
  client.close();
  server->stop();
}

TEST_P(SocketTest, NonBlockingRecvThrowsEagain) {
  auto server = EchoServer();
  Socket client = create_connection(server->address());
  client.setblocking(false);
  char buf[8];
  EXPECT_EQ(ErrnoOf([&] { client.recv(buf, sizeof buf); }), EAGAIN);
  client.close();
  server->stop();
}

TEST_P(SocketTest, PeerCloseReadsEndOfStream) {
  StreamServer server(Address::Parse("127.0.0.1:0"), [](Socket& conn, const Address&) {
    conn.sendall("bye");
  });
  server.start();
  Socket client = create_connection(server.address());
  EXPECT_EQ(RecvExactly(client, 3), "bye");
  EXPECT_EQ(client.recv(16), "");  // end of stream
  EXPECT_EQ(client.recv(16), "");  // and it stays so
  server.stop();
}

TEST_P(SocketTest, ShutdownWriteLetsThePeerAnswer) {
  StreamServer server(Address::Parse("127.0.0.1:0"), [](Socket& conn, const Address&) {
    std::string all;
    while (true) {
      std::string part = conn.recv(100);
      if (part.empty()) break;
      all += part;
    }
    conn.sendall("got " + all);
  });
  server.start();
  Socket client = create_connection(server.address());
  client.sendall("abc");
  client.shutdown(SHUT_WR);
  EXPECT_EQ(RecvExactly(client, 7), "got abc");
  EXPECT_EQ(ErrnoOf([&] { client.sendall("more"); }), EPIPE);
  server.stop();
}

TEST_P(SocketTest, ClosedSocketIsEbadf) {
  Socket s(AF_INET, SocketType::kStream);
  s.close();
  s.close();  // idempotent
  EXPECT_FALSE(s.is_open());
  char c;
  EXPECT_EQ(ErrnoOf([&] { s.recv(&c, 1); }), EBADF);
  EXPECT_EQ(ErrnoOf([&] { s.sendall("x"); }), EBADF);
  EXPECT_EQ(ErrnoOf([&] { s.bind(Address::Parse("127.0.0.1:0")); }), EBADF);
  Socket never_opened;
  EXPECT_EQ(ErrnoOf([&] { never_opened.accept(); }), EBADF);
  try {
    s.recv(&c, 1);
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("closed socket"), std::string::npos) << e.what();
  }
}

TEST_P(SocketTest, CloseWhileAnotherGreenletWaitsWakesItWithEbadf) {
  auto server = EchoServer();
  Socket client = create_connection(server->address());
  auto reader = spawn([&client] {
    char c;
    return ErrnoOf([&] { client.recv(&c, 1); });
  });
  sleep(Milliseconds(10));
  client.close();
  EXPECT_EQ(reader->get(), EBADF);
  server->stop();
}

TEST_P(SocketTest, TwoReadersAtOnceIsConcurrentObjectUse) {
  auto server = EchoServer();
  Socket client = create_connection(server->address());
  auto first = spawn([&client] {
    char c;
    return ErrnoOf([&] { client.recv(&c, 1); });
  });
  sleep(Milliseconds(10));
  char c;
  EXPECT_THROW(client.recv(&c, 1), ConcurrentObjectUseError);
  client.close();
  EXPECT_EQ(first->get(), EBADF);
  server->stop();
}

TEST_P(SocketTest, SendallOfMegabytesArrivesWhole) {
  StreamServer server(Address::Parse("127.0.0.1:0"), [](Socket& conn, const Address&) {
    uint64_t total = 0, sum = 0;
    char buf[65536];
    while (size_t n = conn.recv(buf, sizeof buf)) {
      for (size_t i = 0; i < n; ++i) sum = sum * 31 + static_cast<unsigned char>(buf[i]);
      total += n;
    }
    conn.sendall(std::to_string(total) + " " + std::to_string(sum));
  });
  server.start();
  std::string data(3 * 1024 * 1024 + 7, '\0');
  uint64_t sum = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<char>(i * 7 + i / 251);
    sum = sum * 31 + static_cast<unsigned char>(data[i]);
  }
  Socket client = create_connection(server.address());
  client.sendall(data);
  client.shutdown(SHUT_WR);
  std::string answer;
  while (true) {
    std::string part = client.recv(100);
    if (part.empty()) break;
    answer += part;
  }
  EXPECT_EQ(answer, std::to_string(data.size()) + " " + std::to_string(sum));
  server.stop();
}

TEST_P(SocketTest, SendallTimesOutWhenThePeerDoesNotRead) {
  auto gate = std::make_shared<Event>();
  StreamServer server(Address::Parse("127.0.0.1:0"), [gate](Socket&, const Address&) {
    gate->wait();
  });
  server.start();
  Socket client = create_connection(server.address());
  client.settimeout(Milliseconds(30));
  std::string big(64 * 1024 * 1024, 'x');
  EXPECT_THROW(client.sendall(big), SocketTimeout);
  gate->set();
  client.close();
  server.stop();
}

TEST_P(SocketTest, ClosingWithUnreadDataResetsThePeer) {
  auto done = std::make_shared<Event>();
  StreamServer server(Address::Parse("127.0.0.1:0"), [done](Socket& conn, const Address&) {
    done->wait();  // returns without reading: the connection closes with data unread
  });
  server.start();
  Socket client = create_connection(server.address());
  client.sendall("unread data");
  sleep(Milliseconds(10));
  done->set();
  sleep(Milliseconds(20));
  char buf[16];
  EXPECT_EQ(ErrnoOf([&] { client.recv(buf, sizeof buf); }), ECONNRESET);
  // Writing after the reset fails too.
  const int err = ErrnoOfSendingAfterAReset(client);
  EXPECT_TRUE(err == EPIPE || err == ECONNRESET) << err;
  server.stop();
}

TEST_P(SocketTest, KillDuringAcceptLeavesTheListenerUsable) {
  Socket listener(AF_INET, SocketType::kStream);
  listener.bind(Address::Parse("127.0.0.1:0"));
  listener.listen();
  auto acceptor = spawn([&listener] { listener.accept(); });
  sleep(Milliseconds(10));
  acceptor->kill();
  EXPECT_TRUE(acceptor->dead());
  EXPECT_TRUE(acceptor->successful());  // GreenletExit
  Socket client(AF_INET, SocketType::kStream);
  client.connect(listener.local_address());
  Address peer;
  Socket conn = listener.accept(&peer);
  EXPECT_EQ(peer, client.local_address());
}

TEST_P(SocketTest, TimeoutInTheMiddleOfSendallDoesNotLoseAcknowledgedData) {
  // Whatever sendall took before the Timeout is what the peer reads, in order.
  auto received = std::make_shared<std::string>();
  auto read_all = std::make_shared<Event>();
  auto go = std::make_shared<Event>();
  StreamServer server(Address::Parse("127.0.0.1:0"),
                      [received, read_all, go](Socket& conn, const Address&) {
                        go->wait();
                        char buf[65536];
                        while (size_t n = conn.recv(buf, sizeof buf)) received->append(buf, n);
                        read_all->set();
                      });
  server.start();
  Socket client = create_connection(server.address());
  std::string big(16 * 1024 * 1024, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i % 253);
  {
    Timeout t(Milliseconds(20));
    t.start();
    try {
      client.sendall(big);
      FAIL() << "sendall of 16 MiB finished while nobody read";
    } catch (const TimeoutError& caught) {
      EXPECT_TRUE(caught.is(t));
    }
  }
  client.shutdown(SHUT_WR);
  go->set();
  read_all->wait();
  ASSERT_GT(received->size(), 0u);
  ASSERT_LT(received->size(), big.size());
  EXPECT_EQ(*received, big.substr(0, received->size()));
  server.stop();
}

TEST_P(SocketTest, HandlerErrorIsReportedAndTheServerGoesOn) {
  int errors = 0;
  hub()->set_error_handler([&errors](const RawGreenlet*, std::exception_ptr) { ++errors; });
  StreamServer server(Address::Parse("127.0.0.1:0"), [](Socket& conn, const Address&) {
    std::string word = conn.recv(10);
    if (word == "boom") throw std::runtime_error("handler failed");
    conn.sendall("ok");
  });
  server.start();
  {
    Socket a = create_connection(server.address());
    a.sendall("boom");
    EXPECT_EQ(a.recv(10), "");  // closed after the error
  }
  Socket b = create_connection(server.address());
  b.sendall("fine");
  EXPECT_EQ(RecvExactly(b, 2), "ok");
  EXPECT_EQ(errors, 1);
  server.stop();
}

TEST_P(SocketTest, MaxConnectionsHoldsBackTheNextClient) {
  auto release = std::make_shared<Event>();
  std::vector<std::string> log;
  StreamServer::Options options;
  options.max_connections = 1;
  StreamServer server(
      Address::Parse("127.0.0.1:0"),
      [release, &log](Socket& conn, const Address&) {
        std::string who = conn.recv(10);
        log.push_back("start " + who);
        if (who == "first") release->wait();
        log.push_back("end " + who);
      },
      options);
  server.start();
  Socket first = create_connection(server.address());
  first.sendall("first");
  ASSERT_TRUE(WaitUntil([&] { return log.size() == 1; }));
  Socket second = create_connection(server.address());  // queued by the kernel
  second.sendall("second");
  sleep(Milliseconds(20));  // time enough to start a second handler, if it could
  EXPECT_EQ(log, (std::vector<std::string>{"start first"}));
  EXPECT_EQ(server.connection_count(), 1u);
  release->set();
  ASSERT_TRUE(WaitUntil([&] { return log.size() == 4; }));
  EXPECT_EQ(log, (std::vector<std::string>{"start first", "end first", "start second",
                                           "end second"}));
  server.stop();
}

TEST_P(SocketTest, StopKillsHandlersThatDoNotFinish) {
  auto started = std::make_shared<Event>();
  StreamServer server(Address::Parse("127.0.0.1:0"), [started](Socket& conn, const Address&) {
    started->set();
    char c;
    conn.recv(&c, 1);  // the client never sends
  });
  server.start();
  Socket client = create_connection(server.address());
  started->wait();
  server.stop(Milliseconds(20));
  EXPECT_EQ(server.connection_count(), 0u);
  EXPECT_EQ(client.recv(1), "");  // the server side was closed
  Socket late(AF_INET, SocketType::kStream);
  EXPECT_EQ(late.connect_ex(server.address()), ECONNREFUSED);
}

TEST_P(SocketTest, StopLetsHandlersFinishAndEndsServeForever) {
  auto started = std::make_shared<Event>();
  auto finished = std::make_shared<bool>(false);
  StreamServer server(Address::Parse("127.0.0.1:0"),
                      [started, finished](Socket& conn, const Address&) {
                        started->set();
                        sleep(Milliseconds(20));  // still busy when stop() comes
                        conn.sendall("done");
                        *finished = true;
                      });
  auto serving = spawn([&server] { server.serve_forever(); });
  ASSERT_TRUE(WaitUntil([&] { return server.started(); }));
  Socket client = create_connection(server.address());
  started->wait();
  server.stop(Seconds(5));  // the handler finishes well within it
  EXPECT_TRUE(*finished);
  EXPECT_EQ(RecvExactly(client, 4), "done");
  serving->join(Seconds(5));
  EXPECT_TRUE(serving->dead());
  EXPECT_TRUE(serving->successful());
}

// The peer goes away in the middle of a stream (it closes with data it never
// read, so the kernel resets the connection): a greenlet blocked in recv
// wakes with ECONNRESET, after reading everything sent before.
TEST_P(SocketTest, PeerVanishingMidStreamWakesABlockedReader) {
  auto vanish = std::make_shared<Event>();
  StreamServer server(Address::Parse("127.0.0.1:0"), [vanish](Socket& conn, const Address&) {
    std::string head = conn.recv(4);
    conn.sendall("partial:" + head);
    vanish->wait();  // returns with the client's tail unread
  });
  server.start();
  Socket client = create_connection(server.address());
  client.sendall("head");
  EXPECT_EQ(RecvExactly(client, 12), "partial:head");
  client.sendall("tail the server never reads");
  auto reader = spawn([&client] {
    char buf[16];
    return ErrnoOf([&] { client.recv(buf, sizeof buf); });
  });
  sleep(Milliseconds(10));  // the reader is blocked in recv
  EXPECT_FALSE(reader->ready());
  vanish->set();
  EXPECT_EQ(reader->get(), ECONNRESET);
  const int err = ErrnoOfSendingAfterAReset(client);
  EXPECT_TRUE(err == EPIPE || err == ECONNRESET) << err;
  server.stop();
}

TEST_P(SocketTest, StopGivesUpOnAHandlerThatRefusesToDie) {
  auto stubborn = std::make_shared<int>(0);
  auto started = std::make_shared<Event>();
  auto let_go = std::make_shared<Event>();
  StreamServer server(Address::Parse("127.0.0.1:0"),
                      [stubborn, started, let_go](Socket&, const Address&) {
                        started->set();
                        for (;;) {
                          try {
                            if (let_go->wait(Seconds(60))) return;
                          } catch (const GreenletExit&) {
                            ++*stubborn;  // swallowed: it goes on
                          }
                        }
                      });
  server.start();
  Socket client = create_connection(server.address());
  started->wait();
  server.stop(Milliseconds(10));  // returns: it does not wait for ever, nor throw
  EXPECT_GE(*stubborn, 1);
  EXPECT_EQ(server.connection_count(), 1u);  // still running
  let_go->set();  // it ends on its own, and its connection closes
  EXPECT_TRUE(WaitUntil([&] { return server.connection_count() == 0; }));
  client.close();
}

TEST_P(SocketTest, BindTwiceToOnePortIsAddressInUse) {
  Socket a(AF_INET, SocketType::kStream);
  a.bind(Address::Parse("127.0.0.1:0"));
  a.listen();
  Socket b(AF_INET, SocketType::kStream);
  EXPECT_EQ(ErrnoOf([&] { b.bind(a.local_address()); }), EADDRINUSE);
}

TEST_P(SocketTest, DatagramEcho) {
  DatagramServer server(Address::Parse("127.0.0.1:0"),
                        [](const std::string& data, const Address& from, Socket& sock) {
                          sock.sendto("re:" + data, from);
                        });
  server.start();
  Socket client(AF_INET, SocketType::kDatagram);
  client.settimeout(Seconds(5));
  client.sendto("ping", server.address());
  char buf[64];
  Address from;
  size_t n = client.recvfrom(buf, sizeof buf, &from);
  EXPECT_EQ(std::string(buf, n), "re:ping");
  EXPECT_EQ(from, server.address());
  server.stop();
}

TEST_P(SocketTest, Ipv6Loopback) {
  StreamServer server(Address::Parse("[::1]:0"), [](Socket& conn, const Address&) {
    conn.sendall("v6");
  });
  try {
    server.start();
  } catch (const std::system_error& e) {
    GTEST_SKIP() << "no IPv6 here: " << e.what();
  }
  Socket client = create_connection(server.address());
  EXPECT_EQ(RecvExactly(client, 2), "v6");
  EXPECT_EQ(client.family(), AF_INET6);
  server.stop();
}

TEST_P(SocketTest, UnixSocket) {
  std::string path = "/tmp/geventpp-socket-test-" + std::to_string(getpid()) + ".sock";
  unlink(path.c_str());
  StreamServer server(Address::Parse("unix:" + path), [](Socket& conn, const Address&) {
    conn.sendall("unix");
  });
  server.start();
  Socket client(AF_UNIX, SocketType::kStream);
  client.connect(Address::Parse("unix:" + path));
  EXPECT_EQ(RecvExactly(client, 4), "unix");
  server.stop();
  unlink(path.c_str());
}

TEST_P(SocketTest, ResolveLocalhost) {
  std::vector<Address> addrs = resolve("localhost:80");
  ASSERT_FALSE(addrs.empty());
  EXPECT_EQ(addrs[0].port(), 80);
  EXPECT_THROW(resolve("localhost:http"), std::invalid_argument);
  EXPECT_THROW(resolve("no-such-host.invalid:80"), std::system_error);
}

TEST_P(SocketTest, NullBuffersAreRefusedNotDereferenced) {
  auto server = EchoServer();
  Socket client = create_connection(server->address());
  EXPECT_THROW(client.recv(nullptr, 10), std::invalid_argument);
  EXPECT_THROW(client.sendall(nullptr, 10), std::invalid_argument);
  EXPECT_THROW(client.send(nullptr, 1), std::invalid_argument);
  EXPECT_EQ(client.send(nullptr, 0), 0u);
  client.sendall("ok");
  EXPECT_EQ(RecvExactly(client, 2), "ok");
  server->stop();
}

TEST_P(SocketTest, WrongUseGivesTheKernelsErrors) {
  Socket udp(AF_INET, SocketType::kDatagram);
  EXPECT_NE(ErrnoOf([&] { udp.listen(); }), 0);
  Socket tcp(AF_INET, SocketType::kStream);
  EXPECT_EQ(ErrnoOf([&] { tcp.accept(); }), EINVAL);  // not listening
  EXPECT_EQ(ErrnoOf([&] { tcp.peer_address(); }), ENOTCONN);
  EXPECT_EQ(ErrnoOf([&] { tcp.sendall("x"); }), EPIPE);  // Linux's answer
  EXPECT_NE(ErrnoOf([&] { tcp.bind(Address::Parse("[::1]:0")); }), 0);  // wrong family
  EXPECT_THROW(Socket(12345, SocketType::kStream), std::invalid_argument);
}

TEST_P(SocketTest, SetAndGetOptions) {
  Socket s(AF_INET, SocketType::kStream);
  for (SocketOption o : {SocketOption::kTcpNoDelay, SocketOption::kReuseAddr,
                         SocketOption::kReusePort, SocketOption::kKeepAlive}) {
    EXPECT_EQ(s.getsockopt(o), 0) << SocketOptionName(o);
    s.setsockopt(o, 1);
    EXPECT_NE(s.getsockopt(o), 0) << SocketOptionName(o);
  }
  EXPECT_THROW(s.settimeout(Seconds(-1)), std::invalid_argument);
  EXPECT_THROW(s.shutdown(42), std::invalid_argument);
}

TEST_P(SocketTest, UseFromAnotherThreadIsALogicError) {
  Socket s(AF_INET, SocketType::kStream);
  std::string error;
  std::thread other([&] {
    try {
      s.bind(Address::Parse("127.0.0.1:0"));
    } catch (const InvalidThreadUseError& e) {
      error = e.what();
    }
    destroy_hub();
  });
  other.join();
  EXPECT_NE(error.find("Socket.bind: this Socket belongs to hub"), std::string::npos) << error;
  s.bind(Address::Parse("127.0.0.1:0"));  // fine on its own thread
}

GEVENT_INSTANTIATE_BACKENDS(SocketTest);

TEST(Address, ParsesTheUsualForms) {
  EXPECT_EQ(Address::Parse("127.0.0.1:80").ToString(), "127.0.0.1:80");
  EXPECT_EQ(Address::Parse("[::1]:8080").ToString(), "[::1]:8080");
  EXPECT_EQ(Address::Parse(":7").ToString(), "0.0.0.0:7");
  EXPECT_EQ(Address::Parse("unix:/tmp/x").ToString(), "unix:/tmp/x");
  EXPECT_EQ(Address::Parse("unix:@abstract").ToString(), "unix:@abstract");
  EXPECT_EQ(Address::Parse("10.1.2.3:65535").port(), 65535);
  EXPECT_EQ(Address::Parse("[::1]:1").family(), AF_INET6);
}

TEST(Address, BadInputNamesTheProblem) {
  auto message = [](const char* text) -> std::string {
    try {
      Address::Parse(text);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "(parsed)";
  };
  EXPECT_NE(message("").find("empty"), std::string::npos);
  EXPECT_NE(message("127.0.0.1").find("no port"), std::string::npos);
  EXPECT_NE(message("127.0.0.1:").find("no port"), std::string::npos);
  EXPECT_NE(message("127.0.0.1:http").find("not a number"), std::string::npos);
  EXPECT_NE(message("127.0.0.1:65536").find("out of range"), std::string::npos);
  EXPECT_NE(message("127.0.0.1:-1").find("not a number"), std::string::npos);
  EXPECT_NE(message("[::1:80").find("closing ']'"), std::string::npos);
  EXPECT_NE(message("[::1]80").find("':port'"), std::string::npos);
  EXPECT_NE(message("::1:80").find("brackets"), std::string::npos);
  EXPECT_NE(message("300.1.1.1:80").find("not an IPv4"), std::string::npos);
  EXPECT_NE(message("example.com:80").find("resolve()"), std::string::npos);
  EXPECT_NE(message("[zz]:80").find("not an IPv6"), std::string::npos);
  EXPECT_NE(message("unix:").find("no path"), std::string::npos);
  EXPECT_NE(message(("unix:/" + std::string(200, 'a')).c_str()).find("at most"),
            std::string::npos);
}

}  // namespace
}  // namespace gevent
