// Fixed workloads for exact instruction counts under callgrind.
//
//   bench/instruction_counts.sh      (builds -c opt, runs each workload at
//                                     two sizes, prints instructions per op)
//
// Timing on a shared 2-core VM moves by 10% between runs; instruction counts
// do not. Each workload runs `n` operations after a warm-up; the script runs
// it with n and 2n and divides the difference by n, so start-up costs cancel.
//   yield_sim / yield_epoll     one sleep(0) (two greenlets alternate)
//   event_sim / event_epoll     one Event round trip (set/wait/clear each way)
//   dense_sim                   one timer wake-up: 200 greenlets sleeping
//                               0.1..2 ms on the simulator (seed 0)
//   dense_epoll[_recorded]      the same on epoll, plain or with a Recorder;
//                               recorded minus plain is what recording costs
//   fresh_sim                   a fresh Simulation running two sleepers
//   echo_epoll[_recorded]       one 64-byte TCP round trip on loopback
//                               between two greenlets of the hub (the
//                               server: recv then sendall), plain or with a
//                               Recorder (socket calls and payload)
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "bench/workloads.h"
#include "runtime/gevent.h"
#include "sim/simulation.h"
#include "traces/recorder.h"

namespace {

// `n` operations of a workload.
auto Times(long n) {
  return [n](auto&& op) {
    for (long i = 0; i < n; ++i) op();
  };
}

void Yield(long n) { gevent_bench::YieldPairs(Times(n)); }
void EventRoundTrip(long n) { gevent_bench::EventRoundTrips(Times(n)); }

// n wake-ups: 200 greenlets, n / 200 naps each.
void Dense(long n) {
  constexpr int kGreenlets = 200;
  const long naps = n / kGreenlets;
  std::vector<std::shared_ptr<gevent::Greenlet<void>>> gs;
  for (int g = 0; g < kGreenlets; ++g) {
    gs.push_back(gevent::spawn([g, naps] {
      std::minstd_rand rng(static_cast<unsigned>(g + 1));
      for (long i = 0; i < naps; ++i) {
        gevent::sleep(absl::Microseconds(100 + static_cast<int64_t>(rng() % 1900)));
      }
    }));
  }
  gevent::joinall(gs);
}

// n round trips: a client greenlet sends 64 bytes and reads them back from
// an echoing greenlet, over a real TCP connection (both on this hub).
void Echo(long n, bool record) {
  // Sockets are recorded when opened under a recorder.
  std::unique_ptr<gevent::trace::Recorder> rec;
  if (record) {
    rec = std::make_unique<gevent::trace::Recorder>(gevent::get_hub(),
                                                    "/tmp/instruction_counts_echo.gtrace");
  }
  gevent::Socket listener(AF_INET, gevent::SocketType::kStream);
  listener.bind(gevent::Address::Parse("127.0.0.1:0"));
  listener.listen();
  gevent::Socket client(AF_INET, gevent::SocketType::kStream);
  client.connect(listener.local_address());
  gevent::Socket server = listener.accept();
  auto echo = gevent::spawn([&server] {
    char buf[4096];
    for (size_t k; (k = server.recv(buf, sizeof buf)) > 0;) server.sendall(buf, k);
  });
  char msg[64] = {};
  char back[64];
  auto trips = [&](long count) {
    for (long i = 0; i < count; ++i) {
      client.sendall(msg, sizeof msg);
      for (size_t got = 0; got < sizeof back;) got += client.recv(back + got, sizeof back - got);
    }
  };
  trips(100);
  trips(n);
  client.shutdown(SHUT_WR);
  echo->join();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s WORKLOAD N\n", argv[0]);
    return 2;
  }
  const std::string w = argv[1];
  const long n = strtol(argv[2], nullptr, 10);
  if (w == "yield_sim" || w == "event_sim" || w == "dense_sim") {
    gevent::sim::Simulation sim(0);
    if (w == "yield_sim") Yield(100), Yield(n);
    if (w == "event_sim") EventRoundTrip(100), EventRoundTrip(n);
    if (w == "dense_sim") Dense(2000), Dense(n);
    return 0;
  }
  if (w == "fresh_sim") {
    for (long i = 0; i < n + 100; ++i) {
      gevent::sim::Simulation sim(static_cast<uint64_t>(i) + 1);
      auto a = gevent::spawn([] { gevent::sleep(absl::Milliseconds(1)); });
      auto b = gevent::spawn([] { gevent::sleep(absl::Milliseconds(1)); });
      a->join();
      b->join();
    }
    return 0;
  }
  if (w == "yield_epoll") return Yield(100), Yield(n), 0;
  if (w == "event_epoll") return EventRoundTrip(100), EventRoundTrip(n), 0;
  if (w == "dense_epoll") return Dense(2000), Dense(n), 0;
  if (w == "dense_epoll_recorded") {
    Dense(2000);
    gevent::trace::Recorder rec(gevent::get_hub(), "/tmp/instruction_counts.gtrace");
    Dense(n);
    return 0;
  }
  if (w == "echo_epoll") return Echo(n, false), 0;
  if (w == "echo_epoll_recorded") return Echo(n, true), 0;
  fprintf(stderr, "unknown workload %s\n", w.c_str());
  return 2;
}
