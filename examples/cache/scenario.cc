#include "examples/cache/scenario.h"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "examples/cache/cache.h"
#include "examples/cache/client.h"
#include "examples/cache/store.h"
#include "runtime/gevent.h"
#include "sim/network.h"

namespace cache {
namespace {

constexpr int kWrites = 12;
constexpr int kReads = 30;
const char kKey[] = "user:1";

// "v7" -> 7; no value -> 0.
int Version(const std::optional<std::string>& value) {
  int v = 0;
  if (value && value->size() > 1 && absl::SimpleAtoi(value->substr(1), &v)) return v;
  return 0;
}

}  // namespace

void ReadsSeeAcknowledgedWrites(bool guard_fills) {
  auto& net = gevent::sim::Network::current();
  gevent::sim::NetworkOptions network;
  network.link.latency = absl::Microseconds(200);
  network.link.jitter = absl::Microseconds(500);  // a busy network
  net.set_options(network);
  net.add_host("store", [] {
    Store store(gevent::Address::Parse(":7001"));
    store.serve_forever();
  });
  net.add_host("cache", [guard_fills] {
    CacheOptions options;
    options.store = "store:7001";
    options.guard_fills = guard_fills;
    CacheServer server(gevent::Address::Parse(":7000"), options);
    server.serve_forever();
  });

  // The last version the writer saw acknowledged.
  int acknowledged = 0;
  std::vector<std::shared_ptr<gevent::Greenlet<void>>> clients;
  for (const char* reader : {"reader-a", "reader-b"}) {
    clients.push_back(net.add_host(reader).spawn([&, reader] {
      Client cache("cache:7000", absl::Seconds(5), reader);
      for (int i = 0; i < kReads; ++i) {
        const int floor = acknowledged;
        const std::optional<std::string> got = cache.get(kKey);
        EXPECT_GE(Version(got), floor)
            << "a stale read: GET " << kKey << " returned " << got.value_or("nothing")
            << " after v" << floor << " was acknowledged";
        gevent::sleep(absl::Milliseconds(1));
      }
    }));
  }
  clients.push_back(net.add_host("writer").spawn([&] {
    Client cache("cache:7000", absl::Seconds(5), "writer");
    for (int v = 1; v <= kWrites; ++v) {
      cache.set(kKey, absl::StrCat("v", v));
      acknowledged = v;
      gevent::sleep(absl::Milliseconds(1));
    }
  }));
  gevent::joinall(clients);
}

}  // namespace cache
