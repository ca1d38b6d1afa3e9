// The cache's ordinary tests, on both hubs: what a team would write before
// shipping it. They pass with the race in place (cache_sim_test.cc finds
// it).
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "examples/cache/cache.h"
#include "examples/cache/client.h"
#include "examples/cache/protocol.h"
#include "examples/cache/store.h"
#include "runtime/gevent.h"
#include "testing/hub_test.h"

namespace cache {
namespace {

using gevent::Address;

class CacheTest : public gevent::testing::HubTest {
 protected:
  void Start(CacheOptions options = {}) {
    store_ = std::make_unique<Store>(Address::Parse("127.0.0.1:0"));
    store_->start();
    options.store = store_->address().ToString();
    cache_ = std::make_unique<CacheServer>(Address::Parse("127.0.0.1:0"), options);
    cache_->start();
  }
  void TearDown() override {
    if (cache_ != nullptr) cache_->stop();
    if (store_ != nullptr) store_->stop();
    cache_.reset();
    store_.reset();
    HubTest::TearDown();
  }
  std::string CacheAddress() const { return cache_->address().ToString(); }

  std::unique_ptr<Store> store_;
  std::unique_ptr<CacheServer> cache_;
};

TEST_P(CacheTest, ReadsWhatWasWritten) {
  Start();
  Client c(CacheAddress());
  EXPECT_EQ(c.get("user:1"), std::nullopt);
  c.set("user:1", "ada");
  EXPECT_EQ(c.get("user:1"), "ada");
  c.set("user:1", "grace");
  EXPECT_EQ(c.get("user:1"), "grace");
  EXPECT_EQ(store_->sets(), 2u);
}

TEST_P(CacheTest, HitsComeFromMemory) {
  Start();
  Client c(CacheAddress());
  c.set("k", "v");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(c.get("k"), "v");
  EXPECT_EQ(store_->gets(), 1u);
  EXPECT_EQ(cache_->stats().hits, 4u);
}

TEST_P(CacheTest, ConcurrentMissesShareOneStoreRead) {
  Start();
  Client writer(store_->address().ToString());  // straight to the store
  writer.set("cold", "value");
  std::vector<std::shared_ptr<gevent::Greenlet<std::optional<std::string>>>> readers;
  for (int i = 0; i < 10; ++i) {
    readers.push_back(gevent::spawn([this] { return Client(CacheAddress()).get("cold"); }));
  }
  gevent::joinall(readers);
  for (auto& r : readers) EXPECT_EQ(r->get(), "value");
  EXPECT_EQ(store_->gets(), 1u);
  EXPECT_EQ(cache_->stats().coalesced, 9u);
}

TEST_P(CacheTest, AWriteDropsTheCachedValue) {
  Start();
  Client c(CacheAddress());
  c.set("k", "old");
  EXPECT_EQ(c.get("k"), "old");
  Client other(CacheAddress());
  other.set("k", "new");
  EXPECT_EQ(c.get("k"), "new");
}

TEST_P(CacheTest, EntriesExpire) {
  CacheOptions o;
  o.ttl = absl::Milliseconds(500);  // wide: a loaded machine is slow
  Start(o);
  Client c(CacheAddress());
  Client store(store_->address().ToString());
  store.set("k", "1");
  EXPECT_EQ(c.get("k"), "1");
  store.set("k", "2");  // behind the cache's back
  EXPECT_EQ(c.get("k"), "1");
  gevent::sleep(absl::Milliseconds(600));
  EXPECT_EQ(c.get("k"), "2");
}

TEST_P(CacheTest, BadRequestsGetAnErrorAndTheConnectionGoesOn) {
  Start();
  gevent::Socket s = gevent::create_connection(CacheAddress(), absl::Seconds(5));
  LineConn conn(s);
  for (const char* bad : {"HELLO", "GET", "GET a b", "SET k", "GET \x01", ""}) {
    conn.WriteLine(bad);
    const std::optional<std::string> reply = conn.ReadLine();
    ASSERT_TRUE(reply.has_value()) << bad;
    EXPECT_EQ(reply->rfind("ERROR ", 0), 0u) << bad << ": " << *reply;
  }
  conn.WriteLine("SET k v");
  EXPECT_EQ(conn.ReadLine(), "OK");
}

TEST_P(CacheTest, AnEndlessLineIsRefusedAndTheConnectionClosed) {
  Start();
  gevent::Socket s = gevent::create_connection(CacheAddress(), absl::Seconds(5));
  s.sendall(std::string(kMaxLine * 3, 'x'));
  LineConn conn(s);
  const std::optional<std::string> reply = conn.ReadLine();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(*reply, absl::StrCat("ERROR a line longer than ", kMaxLine, " bytes"));
  try {
    EXPECT_EQ(conn.ReadLine(), std::nullopt);  // closed
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ECONNRESET);  // closed with our bytes unread
  }
}

TEST_P(CacheTest, AStoreThatIsDownIsAnErrorNotAHang) {
  Start();
  const std::string gone = store_->address().ToString();
  store_->stop();
  CacheOptions o;
  o.store = gone;
  CacheServer orphan(Address::Parse("127.0.0.1:0"), o);
  orphan.start();
  {
    Client c(orphan.address().ToString());
    try {
      c.get("k");
      ADD_FAILURE() << "no error";
    } catch (const ServerError& e) {
      EXPECT_NE(std::string(e.what()).find("refused"), std::string::npos) << e.what();
    }
  }
  orphan.stop();
}

TEST_P(CacheTest, TheClientRefusesBadKeysAndValues) {
  Start();
  Client c(CacheAddress());
  EXPECT_THROW(c.get(""), std::invalid_argument);
  EXPECT_THROW(c.get("two words"), std::invalid_argument);
  EXPECT_THROW(c.set("k", std::string(251, 'v')), std::invalid_argument);
  EXPECT_THROW(CacheServer(Address::Parse("127.0.0.1:0"), CacheOptions{}),
               std::invalid_argument);
}

GEVENT_INSTANTIATE_BACKENDS(CacheTest);

}  // namespace
}  // namespace cache
