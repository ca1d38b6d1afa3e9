// The echo service on both hubs, and on the simulated network with 100
// clients, latency, a partition that heals and a server crash and restart:
// every acknowledged message must have arrived exactly once, in order, on
// its connection.
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "examples/echo.h"
#include "runtime/gevent.h"
#include "sim/network.h"
#include "sim/simulation.h"
#include "testing/hub_test.h"
#include "traces/reader.h"
#include "traces/recorder.h"
#include "traces/replay.h"

namespace {

using absl::Milliseconds;
using absl::Seconds;
using gevent::Address;
using gevent::Socket;

// Reads one '\n'-terminated line (without it); "" at end of stream.
std::string ReadLine(Socket& s, std::string* pending) {
  for (;;) {
    size_t nl = pending->find('\n');
    if (nl != std::string::npos) {
      std::string line = pending->substr(0, nl);
      pending->erase(0, nl + 1);
      return line;
    }
    std::string part = s.recv(4096);
    if (part.empty()) return "";
    *pending += part;
  }
}

class EchoTest : public gevent::testing::HubTest {};

TEST_P(EchoTest, ClientsGetTheirOwnBytesBack) {
  auto server = echo::Start(Address::Parse("127.0.0.1:0"));
  std::vector<std::shared_ptr<gevent::Greenlet<int>>> clients;
  for (int c = 0; c < 10; ++c) {
    clients.push_back(gevent::spawn([&server, c] {
      Socket s = gevent::create_connection(server->address(), Seconds(5));
      std::string pending;
      int ok = 0;
      for (int i = 0; i < 20; ++i) {
        std::string msg = absl::StrCat("client ", c, " message ", i);
        s.sendall(msg + "\n");
        ok += ReadLine(s, &pending) == msg;
      }
      return ok;
    }));
  }
  for (auto& c : clients) EXPECT_EQ(c->get(), 20);
  server->stop();
}

GEVENT_INSTANTIATE_BACKENDS(EchoTest);

// What one client connection sent and had echoed.
struct ClientConnection {
  std::vector<std::string> sent;
  std::vector<std::string> acked;
};

TEST(EchoOnSimulatedNetwork, EveryAcknowledgedMessageArrivedOnceInOrder) {
  gevent::sim::Simulation sim(gevent::sim::SeedFromEnvironment(42));
  auto& net = gevent::sim::Network::current();
  gevent::sim::NetworkOptions options;
  options.link.latency = Milliseconds(2);
  options.link.jitter = Milliseconds(1);
  net.set_options(options);

  // What the server received, per connection (keyed by the client's address).
  std::map<std::string, std::string> server_received;
  net.add_host("server", [&server_received] {
    auto server = echo::Start(Address::Parse(":7000"),
                              [&server_received](const Socket& conn, const char* data,
                                                 size_t len) {
                                server_received[conn.peer_address().ToString()].append(data, len);
                              });
    server->serve_forever();
  });

  constexpr int kClients = 100;
  std::map<std::string, ClientConnection> connections;
  std::vector<std::string> first_half, second_half;
  int reconnects = 0;
  for (int c = 0; c < kClients; ++c) {
    std::string name = absl::StrCat("client", c);
    (c < kClients / 2 ? first_half : second_half).push_back(name);
    net.add_host(name).spawn([&, c] {
      Socket s;
      std::string key;
      std::string pending;
      for (int i = 0; i < 60; ++i) {
        std::string msg = absl::StrCat("c", c, "-", i);
        try {
          if (!s.is_open()) {
            s = gevent::create_connection("server:7000", Seconds(1));
            key = s.local_address().ToString();
            pending.clear();
          }
          s.settimeout(Seconds(1));
          connections[key].sent.push_back(msg);
          s.sendall(msg + "\n");
          std::string echoed = ReadLine(s, &pending);
          if (echoed != msg) throw std::runtime_error("connection lost: '" + echoed + "'");
          connections[key].acked.push_back(msg);
        } catch (const std::exception&) {
          // Reset, timed out or closed: a new connection next time.
          s.close();
          ++reconnects;
        }
        gevent::sleep(Milliseconds(100));
      }
    });
  }
  sim.run_for(Seconds(1));
  net.partition(first_half, {"server"});
  sim.run_for(Seconds(2));
  net.heal();
  sim.run_for(Seconds(1));
  net.crash("server");
  sim.run_for(Milliseconds(500));
  net.restart("server");
  sim.run_for(Seconds(10));

  EXPECT_GT(reconnects, kClients / 2);  // the faults did bite
  size_t acked = 0;
  for (const auto& [key, conn] : connections) {
    // What arrived is what was sent, in order, each once: a prefix of the
    // sent messages (the tail may have been lost with the connection).
    std::vector<std::string> arrived;
    for (absl::string_view line : absl::StrSplit(server_received[key], '\n', absl::SkipEmpty())) {
      arrived.emplace_back(line);
    }
    ASSERT_LE(arrived.size(), conn.sent.size()) << key;
    for (size_t i = 0; i < arrived.size(); ++i) {
      ASSERT_EQ(arrived[i], conn.sent[i]) << key << " message " << i;
    }
    // Every acknowledged message is among them.
    ASSERT_LE(conn.acked.size(), arrived.size()) << key;
    for (size_t i = 0; i < conn.acked.size(); ++i) {
      ASSERT_EQ(conn.acked[i], arrived[i]) << key;
    }
    acked += conn.acked.size();
  }
  EXPECT_GT(acked, static_cast<size_t>(kClients * 40));
}

// A seeded run with faults, recorded to a trace, replays exactly: every
// network choice (latency, splits) comes back from the trace, and the
// trace names each fault.
std::vector<std::string> FaultyEchoRun() {
  auto& net = gevent::sim::Network::current();
  net.add_host("server", [] { echo::Start(Address::Parse(":7000"))->serve_forever(); });
  std::vector<std::string> log;
  for (int c = 0; c < 5; ++c) {
    net.add_host(absl::StrCat("client", c)).spawn([&log, c] {
      for (int i = 0; i < 8; ++i) {
        try {
          Socket s = gevent::create_connection("server:7000", Seconds(1));
          std::string pending;
          s.sendall(absl::StrCat(c, ":", i, "\n"));
          log.push_back(ReadLine(s, &pending) + "@" +
                        absl::FormatDuration(gevent::get_hub()->now() - absl::UnixEpoch()));
        } catch (const std::exception& e) {
          log.push_back(absl::StrCat(c, ":", i, " failed: ", e.what()));
        }
        gevent::sleep(Milliseconds(50));
      }
    });
  }
  gevent::sleep(Milliseconds(100));
  net.partition({"client0", "client1"}, {"server"});
  gevent::sleep(Milliseconds(300));
  net.heal();
  net.crash("server");
  gevent::sleep(Milliseconds(20));
  net.restart("server");
  gevent::sleep(Seconds(2));
  return log;
}

TEST(EchoOnSimulatedNetwork, ARecordedRunReplaysExactly) {
  const std::string path = ::testing::TempDir() + "/echo_faults.gtrace";
  std::vector<std::string> recorded;
  uint64_t recorded_hash = 0;
  {
    gevent::sim::Simulation sim(17);
    gevent::trace::Recording rec(path);
    recorded = FaultyEchoRun();
    recorded_hash = sim.event_hash();
  }
  ASSERT_EQ(recorded.size(), 40u);
  // The trace holds every fault, where it happened.
  std::vector<std::string> faults;
  gevent::trace::TraceReader reader;
  ASSERT_TRUE(reader.Open(path)) << reader.error();
  for (gevent::trace::Event e; reader.Next(&e);) {
    if (e.kind == gevent::HubEventKind::kNote && absl::StartsWith(e.text, "net: ")) {
      faults.push_back(e.text);
    }
  }
  EXPECT_TRUE(reader.complete()) << reader.error();
  EXPECT_EQ(faults, (std::vector<std::string>{
                        "net: cut client0,client1 -> server", "net: cut server -> client0,client1",
                        "net: heal", "net: crash server", "net: restart server"}));
  std::vector<std::string> replayed;
  gevent::trace::ReplayResult result;
  {
    gevent::trace::Replay replay(path);
    replayed = FaultyEchoRun();
    result = replay.Finish();
  }
  EXPECT_EQ(result.status, gevent::trace::ReplayStatus::kIdentical) << result.report;
  EXPECT_EQ(replayed, recorded);
  // Another seed is another run.
  gevent::sim::Simulation other(18);
  EXPECT_NE(FaultyEchoRun(), recorded);
  EXPECT_NE(other.event_hash(), recorded_hash);
}

}  // namespace
