// The explorer drives the simulated network's choices too: a client that
// assumes one recv() returns a whole message fails only when the seed splits
// the send, and the explorer finds, reports and shrinks that schedule.
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/str_join.h"
#include "runtime/gevent.h"
#include "sim/network.h"
#include "testing/explore.h"

namespace gevent {
namespace testing {
namespace {

// The bug: the client reads one recv() and takes it as the whole reply.
void NaiveClientBody() {
  auto& net = sim::Network::current();
  net.add_host("server", [] {
    StreamServer server(Address::Parse(":9"), [](Socket& conn, const Address&) {
      conn.sendall(std::string(200, 'r'));
    });
    server.serve_forever();
  });
  auto client = net.add_host("client").spawn([] {
    Socket s = create_connection("server:9", absl::Seconds(1));
    std::string reply = s.recv(4096);  // BUG: a reply may come in parts
    EXPECT_EQ(reply.size(), 200u) << "a short read";
  });
  client->join();
}

ExploreOptions Options(const std::string& strategy) {
  ExploreOptions o;
  o.name = "ExploreNetwork.NaiveClient";
  o.runs = 200;
  o.strategy = strategy;
  o.use_environment = false;
  o.print = false;
  return o;
}

TEST(ExploreNetwork, FindsTheShortReadAndShrinksItToTheSplit) {
  // Explore() collects the body's gtest failures itself: a failing run does
  // not fail this test.
  ExploreReport r = Explore(Options("random"), NaiveClientBody);
  ASSERT_EQ(r.failures, 1u) << r.text;
  ASSERT_TRUE(r.first_failing_seed.has_value());
  EXPECT_NE(r.failure.find("a short read"), std::string::npos) << r.failure << "\n" << r.text;
  const std::string shrunk = absl::StrJoin(r.shrunk_decisions, "\n");
  EXPECT_NE(shrunk.find("delivered in"), std::string::npos) << shrunk;
}

TEST(ExploreNetwork, SwarmVariesTheNetworkToo) {
  ExploreReport r = Explore(Options("swarm"), NaiveClientBody);
  EXPECT_EQ(r.failures, 1u) << r.text;
}

}  // namespace
}  // namespace testing
}  // namespace gevent
