// The store: the slow, authoritative key-value server the cache sits in
// front of (think of a database). Each request takes `work` (a disk read
// or write) before it is answered. It speaks protocol.h.
#ifndef GEVENTPP_EXAMPLES_CACHE_STORE_H_
#define GEVENTPP_EXAMPLES_CACHE_STORE_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/time/time.h"
#include "examples/cache/protocol.h"
#include "runtime/address.h"
#include "runtime/server.h"

namespace cache {

struct StoreOptions {
  // How long each request takes before its answer.
  absl::Duration work = absl::Milliseconds(1);
};

class Store {
 public:
  explicit Store(const gevent::Address& listen, StoreOptions options = {});

  void start() { server_.start(); }
  void serve_forever() { server_.serve_forever(); }
  void stop() { server_.stop(); }
  gevent::Address address() const { return server_.address(); }

  uint64_t gets() const { return gets_; }
  uint64_t sets() const { return sets_; }

 private:
  std::string Handle(const Request& r);

  StoreOptions options_;
  std::map<std::string, std::string> data_;
  uint64_t gets_ = 0, sets_ = 0;
  gevent::StreamServer server_;
};

}  // namespace cache

#endif  // GEVENTPP_EXAMPLES_CACHE_STORE_H_
