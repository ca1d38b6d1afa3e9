#include "examples/cache/cache.h"

#include <stdexcept>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/clock.h"

namespace cache {

CacheServer::CacheServer(const gevent::Address& listen, CacheOptions options)
    : options_(std::move(options)),
      store_slots_(static_cast<int64_t>(options_.store_connections)),
      server_(listen, [this](gevent::Socket& connection, const gevent::Address&) {
        ServeConnection(connection, "cache", [this](const Request& r) { return Handle(r); });
      }) {
  if (options_.store.empty()) throw std::invalid_argument("CacheOptions::store is empty");
  if (options_.store_connections == 0) {
    throw std::invalid_argument("CacheOptions::store_connections is 0");
  }
}

void CacheServer::stop() {
  server_.stop();
  idle_.clear();
}

std::string CacheServer::Handle(const Request& r) {
  if (r.kind == Request::kSet) {
    Set(r.key, r.value);
    return "OK";
  }
  const std::optional<std::string> value = Get(r.key);
  return value ? absl::StrCat("VALUE ", *value) : "NONE";
}

template <typename F>
auto CacheServer::WithStore(F op) -> decltype(op(std::declval<Client&>())) {
  gevent::ScopedAcquire slot(store_slots_);
  std::unique_ptr<Client> client;
  if (idle_.empty()) {
    client = std::make_unique<Client>(options_.store, options_.store_timeout, "cache");
  } else {
    client = std::move(idle_.back());
    idle_.pop_back();
  }
  // A connection that failed is dropped (the exception skips the return).
  auto result = op(*client);
  idle_.push_back(std::move(client));
  return result;
}

std::optional<std::string> CacheServer::Get(const std::string& key) {
  ++stats_.gets;
  auto cached = entries_.find(key);
  if (cached != entries_.end()) {
    if (cached->second.expires > gevent::now()) {
      ++stats_.hits;
      return cached->second.value;
    }
    entries_.erase(cached);
  }
  auto in_flight = fills_.find(key);
  if (in_flight != fills_.end()) {
    ++stats_.coalesced;
    const std::shared_ptr<Fill> fill = in_flight->second;  // outlives the erase
    return fill->result.get();
  }
  return ReadThrough(key);
}

std::optional<std::string> CacheServer::ReadThrough(const std::string& key) {
  auto fill = std::make_shared<Fill>();
  fills_[key] = fill;
  ++stats_.store_reads;
  std::optional<std::string> value;
  try {
    value = WithStore([&](Client& store) { return store.get(key); });
  } catch (...) {
    // The waiters sharing this read get its error too.
    auto it = fills_.find(key);
    if (it != fills_.end() && it->second == fill) fills_.erase(it);
    fill->result.set_exception(std::current_exception());
    throw;
  }
  // The store's answer may have been read before a SET that finished while
  // it travelled: unless the SET marked this fill stale, the old value is
  // cached here (the bug guard_fills fixes).
  if (!fill->stale && entries_.size() < options_.max_entries) {
    entries_[key] = Entry{value, gevent::now() + options_.ttl};
  }
  auto it = fills_.find(key);
  if (it != fills_.end() && it->second == fill) fills_.erase(it);
  fill->result.set(value);
  return value;
}

void CacheServer::Set(const std::string& key, const std::string& value) {
  ++stats_.sets;
  WithStore([&](Client& store) {
    store.set(key, value);
    return true;
  });
  entries_.erase(key);
  if (options_.guard_fills) {
    // [fix] A read in flight may hold the old value: it must not fill the
    // cache, and later misses must not wait for it.
    auto in_flight = fills_.find(key);
    if (in_flight != fills_.end()) {
      in_flight->second->stale = true;
      fills_.erase(in_flight);
    }
  }
}

}  // namespace cache
