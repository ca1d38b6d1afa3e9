// Sockets: the simulated network's throughput, and its cost per request.
//
//   bazel run -c opt //bench:network_bench
//
// (TCP on the epoll hub against peers: bench/echo.sh.)
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "bench/bench_util.h"
#include "runtime/gevent.h"
#include "runtime/server.h"
#include "runtime/socket.h"
#include "sim/network.h"
#include "sim/simulation.h"

namespace {

using gevent_bench::Stopwatch;

void EchoHandler(gevent::Socket& conn, const gevent::Address&) {
  char buf[4096];
  while (size_t n = conn.recv(buf, sizeof buf)) conn.sendall(buf, n);
}

// state.range(0) connections to one echo server on the simulated network,
// each ping-ponging state.range(1) 64-byte messages (seed 1: jitter and
// split sends on). Reports simulated messages per wall second (both
// directions count: target >= 1,000,000 at 100 connections).
void BM_SimEcho(benchmark::State& state) {
  const int connections = static_cast<int>(state.range(0));
  const int round_trips = static_cast<int>(state.range(1));
  uint64_t messages = 0;
  double wall = 0;
  for (auto _ : state) {
    gevent::sim::Simulation sim(1);
    auto& net = gevent::sim::Network::current();
    net.add_host("server", [] {
      gevent::StreamServer server(gevent::Address::Parse(":7"), EchoHandler);
      server.serve_forever();
    });
    for (int c = 0; c < connections; ++c) {
      net.add_host(absl::StrCat("client", c)).spawn([round_trips] {
        gevent::Socket s = gevent::create_connection("server:7");
        const std::string msg(64, 'm');
        char buf[64];
        for (int i = 0; i < round_trips; ++i) {
          s.sendall(msg);
          size_t got = 0;
          while (got < msg.size()) got += s.recv(buf, sizeof buf - got);
        }
      });
    }
    Stopwatch timer;
    sim.run_for(absl::Hours(1));
    wall += timer.Seconds();
    messages += 2ull * connections * round_trips;
  }
  state.counters["msgs_per_s"] = messages / wall;
  state.counters["delivered"] = static_cast<double>(messages);
}
BENCHMARK(BM_SimEcho)->Args({100, 1000})->Unit(benchmark::kMillisecond)->UseRealTime();

// state.range(0) clients, each making 10 requests a second (a 64-byte
// request, a 64-byte reply, one connection per client) to one server, for
// state.range(1) virtual seconds. Reports the wall time (target: at most
// 2 s for 1,000 clients over one virtual minute).
void BM_SimClientsPerMinute(benchmark::State& state) {
  const int clients = static_cast<int>(state.range(0));
  const absl::Duration span = absl::Seconds(state.range(1));
  uint64_t requests = 0;
  double wall = 0;
  for (auto _ : state) {
    Stopwatch timer;
    {
      gevent::sim::Simulation sim(1);
      auto& net = gevent::sim::Network::current();
      net.add_host("server", [] {
        gevent::StreamServer server(gevent::Address::Parse(":7"), EchoHandler);
        server.serve_forever();
      });
      for (int c = 0; c < clients; ++c) {
        net.add_host(absl::StrCat("client", c)).spawn([&requests] {
          gevent::Socket s = gevent::create_connection("server:7");
          const std::string msg(64, 'r');
          char buf[64];
          for (;;) {
            s.sendall(msg);
            size_t got = 0;
            while (got < msg.size()) got += s.recv(buf, sizeof buf - got);
            ++requests;
            gevent::sleep(absl::Milliseconds(100));
          }
        });
      }
      sim.run_for(span);
    }
    wall += timer.Seconds();
  }
  state.counters["wall_s"] = wall / state.iterations();
  state.counters["requests"] = static_cast<double>(requests) / state.iterations();
}
BENCHMARK(BM_SimClientsPerMinute)
    ->Args({1000, 60})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

}  // namespace
