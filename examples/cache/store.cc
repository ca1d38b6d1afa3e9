#include "examples/cache/store.h"

#include "absl/strings/str_cat.h"
#include "examples/cache/protocol.h"
#include "runtime/sleep.h"

namespace cache {

Store::Store(const gevent::Address& listen, StoreOptions options)
    : options_(options),
      server_(listen, [this](gevent::Socket& connection, const gevent::Address&) {
        ServeConnection(connection, "store", [this](const Request& r) { return Handle(r); });
      }) {}

std::string Store::Handle(const Request& r) {
  gevent::sleep(options_.work);
  if (r.kind == Request::kSet) {
    ++sets_;
    data_[r.key] = r.value;
    return "OK";
  }
  ++gets_;
  auto it = data_.find(r.key);
  return it == data_.end() ? "NONE" : absl::StrCat("VALUE ", it->second);
}

}  // namespace cache
