// The cache: a server in front of the store (store.h) that keeps recent
// values in memory, with request coalescing. It speaks protocol.h.
//
// - GET answers from memory while the entry is fresh (`ttl`). On a miss it
//   reads the store, keeps the value and answers. Concurrent misses on one
//   key share that single read ("coalescing"): N clients asking for a cold
//   key cost the store one read, not N.
// - SET writes through: the store first, then the cached entry is dropped,
//   then the client gets OK.
//
// The promise to clients: a GET that starts after a SET of the same key was
// acknowledged returns that value or a newer one.
//
// As written (CacheOptions::guard_fills false) the cache breaks that
// promise. A read of the store that started before a SET may come back
// after the SET dropped the entry; it then caches the old value, which every
// later GET returns until the entry expires. Nothing in an ordinary test
// shows it; cache_sim_test.cc finds it in a few hundred schedules.
#ifndef GEVENTPP_EXAMPLES_CACHE_CACHE_H_
#define GEVENTPP_EXAMPLES_CACHE_CACHE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "examples/cache/client.h"
#include "examples/cache/protocol.h"
#include "runtime/address.h"
#include "runtime/async_result.h"
#include "runtime/semaphore.h"
#include "runtime/server.h"

namespace cache {

struct CacheOptions {
  // The store, "host:port".
  std::string store;
  // Each store request must finish within this.
  absl::Duration store_timeout = absl::Seconds(2);
  // How long a value stays fresh.
  absl::Duration ttl = absl::Seconds(30);
  // At most this many entries; a full cache serves misses without keeping
  // them.
  size_t max_entries = 100000;
  // At most this many connections to the store at once.
  size_t store_connections = 16;
  // The fix: a SET marks the reads of the store in flight for its key as
  // stale, so that they do not fill the cache (memcached's leases do the
  // same with a token). Off: the race described above.
  bool guard_fills = false;
};

struct CacheStats {
  uint64_t gets = 0;
  uint64_t hits = 0;
  uint64_t coalesced = 0;  // misses that shared another's read of the store
  uint64_t store_reads = 0;
  uint64_t sets = 0;
};

class CacheServer {
 public:
  // Throws std::invalid_argument if `options.store` is empty.
  CacheServer(const gevent::Address& listen, CacheOptions options);

  void start() { server_.start(); }
  void serve_forever() { server_.serve_forever(); }
  // Stops serving (see StreamServer::stop) and closes the idle
  // connections to the store.
  void stop();
  gevent::Address address() const { return server_.address(); }
  const CacheStats& stats() const { return stats_; }

 private:
  // One read of the store that concurrent misses of a key share.
  struct Fill {
    gevent::AsyncResult<std::optional<std::string>> result;
    bool stale = false;  // a SET of the key finished while it was in flight
  };
  struct Entry {
    std::optional<std::string> value;  // nullopt: the store has none
    absl::Time expires;
  };

  std::string Handle(const Request& r);
  std::optional<std::string> Get(const std::string& key);
  std::optional<std::string> ReadThrough(const std::string& key);
  void Set(const std::string& key, const std::string& value);
  // Runs `op` with a pooled connection to the store.
  template <typename F>
  auto WithStore(F op) -> decltype(op(std::declval<Client&>()));

  CacheOptions options_;
  CacheStats stats_;
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::shared_ptr<Fill>> fills_;
  gevent::Semaphore store_slots_;
  std::vector<std::unique_ptr<Client>> idle_;
  gevent::StreamServer server_;
};

}  // namespace cache

#endif  // GEVENTPP_EXAMPLES_CACHE_CACHE_H_
