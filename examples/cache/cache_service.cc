// The cache and its store as programs, on the epoll hub:
//
//   cache_service store --listen 127.0.0.1:7001 [--work 1ms]
//   cache_service cache --listen 127.0.0.1:7000 --store 127.0.0.1:7001
//                       [--ttl 30s] [--guard-fills]
//   cache_service demo [--seconds 2] [--clients 20] [--guard-fills]
//
// `demo` runs a store, a cache in front of it and clients in one process,
// over real TCP on 127.0.0.1, and prints what was served.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "examples/cache/cache.h"
#include "examples/cache/client.h"
#include "examples/cache/store.h"
#include "runtime/gevent.h"

namespace {

const char kUsage[] =
    "usage: cache_service store --listen ADDR [--work DURATION]\n"
    "       cache_service cache --listen ADDR --store ADDR [--ttl DURATION] [--guard-fills]\n"
    "       cache_service demo [--seconds N] [--clients N] [--guard-fills]\n";

[[noreturn]] void Usage(const std::string& problem) {
  fprintf(stderr, "cache_service: %s\n%s", problem.c_str(), kUsage);
  exit(2);
}

// --name value pairs, and --guard-fills.
struct Args {
  std::map<std::string, std::string> values;
  bool guard_fills = false;

  std::string Get(const std::string& name, const std::string& fallback) const {
    auto it = values.find(name);
    return it == values.end() ? fallback : it->second;
  }
  absl::Duration Duration(const std::string& name, absl::Duration fallback) const {
    auto it = values.find(name);
    if (it == values.end()) return fallback;
    absl::Duration d;
    if (!absl::ParseDuration(it->second, &d) || d < absl::ZeroDuration()) {
      Usage(absl::StrCat("--", name, " wants a duration like 1ms, not '", it->second, "'"));
    }
    return d;
  }
  int Int(const std::string& name, int fallback, int lo, int hi) const {
    auto it = values.find(name);
    if (it == values.end()) return fallback;
    int v;
    if (!absl::SimpleAtoi(it->second, &v) || v < lo || v > hi) {
      Usage(absl::StrCat("--", name, " wants a number from ", lo, " to ", hi, ", not '",
                         it->second, "'"));
    }
    return v;
  }
};

Args Parse(int argc, char** argv, const std::vector<std::string>& known) {
  Args a;
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--guard-fills") {
      a.guard_fills = true;
      continue;
    }
    bool ok = flag.size() > 2 && flag.compare(0, 2, "--") == 0;
    const std::string name = ok ? flag.substr(2) : flag;
    ok = ok && std::find(known.begin(), known.end(), name) != known.end();
    if (!ok) Usage(absl::StrCat("unknown argument '", flag, "'"));
    if (i + 1 >= argc) Usage(absl::StrCat(flag, " needs a value"));
    a.values[name] = argv[++i];
  }
  return a;
}

gevent::Address ListenAddress(const Args& a) {
  const std::string listen = a.Get("listen", "");
  if (listen.empty()) Usage("--listen is required");
  try {
    return gevent::Address::Parse(listen);
  } catch (const std::exception& e) {
    Usage(e.what());
  }
}

// Clients that GET (90%) and SET (10%) 100 keys as fast as answers come.
void Demo(const Args& a) {
  const absl::Duration length = absl::Seconds(a.Int("seconds", 2, 1, 3600));
  const int clients = a.Int("clients", 20, 1, 1000);
  cache::Store store(gevent::Address::Parse("127.0.0.1:0"));
  store.start();
  cache::CacheOptions options;
  options.store = store.address().ToString();
  options.guard_fills = a.guard_fills;
  cache::CacheServer server(gevent::Address::Parse("127.0.0.1:0"), options);
  server.start();
  printf("store on %s (1 ms a request), cache on %s\n", store.address().ToString().c_str(),
         server.address().ToString().c_str());

  uint64_t requests = 0, errors = 0;
  const absl::Time end = gevent::now() + length;
  std::vector<std::shared_ptr<gevent::Greenlet<void>>> workers;
  for (int i = 0; i < clients; ++i) {
    workers.push_back(gevent::spawn([&, i] {
      cache::Client client(server.address().ToString());
      std::mt19937 random(i);
      uint64_t version = 0;
      while (gevent::now() < end) {
        const std::string key = absl::StrCat("user:", random() % 100);
        try {
          if (random() % 10 == 0) {
            client.set(key, absl::StrCat("v", ++version));
          } else {
            client.get(key);
          }
          ++requests;
        } catch (const std::exception& e) {
          if (++errors == 1) fprintf(stderr, "a request failed: %s\n", e.what());
        }
      }
    }));
  }
  gevent::joinall(workers);
  const cache::CacheStats& s = server.stats();
  printf("served %llu requests in %s from %d clients over TCP: %.0f requests/s, %llu errors\n",
         static_cast<unsigned long long>(requests), absl::FormatDuration(length).c_str(), clients,
         requests / absl::ToDoubleSeconds(length), static_cast<unsigned long long>(errors));
  printf("GETs: %llu, %.0f%% from memory, %llu shared another's store read; "
         "store: %llu reads, %llu writes\n",
         static_cast<unsigned long long>(s.gets), s.gets ? 100.0 * s.hits / s.gets : 0.0,
         static_cast<unsigned long long>(s.coalesced),
         static_cast<unsigned long long>(store.gets()),
         static_cast<unsigned long long>(store.sets()));
  server.stop();
  store.stop();
}

int Main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "store") {
    const Args a = Parse(argc, argv, {"listen", "work"});
    cache::StoreOptions o;
    o.work = a.Duration("work", o.work);
    cache::Store store(ListenAddress(a), o);
    store.start();
    printf("store listening on %s\n", store.address().ToString().c_str());
    fflush(stdout);
    store.serve_forever();
  } else if (mode == "cache") {
    const Args a = Parse(argc, argv, {"listen", "store", "ttl"});
    cache::CacheOptions o;
    o.store = a.Get("store", "");
    if (o.store.empty()) Usage("--store is required");
    o.ttl = a.Duration("ttl", o.ttl);
    o.guard_fills = a.guard_fills;
    cache::CacheServer server(ListenAddress(a), o);
    server.start();
    printf("cache listening on %s, in front of %s\n", server.address().ToString().c_str(),
           o.store.c_str());
    fflush(stdout);
    server.serve_forever();
  } else if (mode == "demo") {
    Demo(Parse(argc, argv, {"seconds", "clients"}));
  } else {
    Usage(mode.empty() ? "which program?" : absl::StrCat("unknown program '", mode, "'"));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {  // e.g. the address is in use
    fprintf(stderr, "cache_service: %s\n", e.what());
    return 1;
  }
}
