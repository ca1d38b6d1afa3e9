// Micro-benchmarks of the greenlet runtime, on both hub backends.
//
//   bazel run -c opt //bench:hub_bench
//
// Every hub benchmark runs twice: "/epoll" on the thread's default hub (the
// epoll backend) and "/sim" inside a gevent::sim::Simulation(0) made in the
// benchmark function. Each reports the counter `ns_per_op` (wall nanoseconds
// per operation, the operation being named in the benchmark's comment), so
// that bench/compare.sh does not depend on how Google Benchmark counts
// iterations.
#include <sys/mman.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <vector>

#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "bench/backend.h"
#include "bench/bench_util.h"
#include "bench/workloads.h"
#include "runtime/gevent.h"
#include "sim/simulation.h"

namespace {

using gevent_bench::Stopwatch;

using gevent_bench::Backend;
using gevent_bench::OnBackend;
using gevent_bench::SetNsPerOp;

// ---------------------------------------------------------------------------
// yield: two greenlets alternate via sleep(0). The main greenlet is one of
// them; the other loops on sleep(0) until told to stop. One iteration is two
// yields (one each); op = one yield.
void BM_Yield(benchmark::State& state, Backend backend) {
  OnBackend(backend, [&] {
    gevent_bench::YieldPairs([&](auto&& op) {
      Stopwatch w;
      for (auto _ : state) op();
      SetNsPerOp(state, w, 2.0 * static_cast<double>(state.iterations()));
    });
  });
}
BENCHMARK_CAPTURE(BM_Yield, epoll, Backend::kEpoll)->UseRealTime();
BENCHMARK_CAPTURE(BM_Yield, sim, Backend::kSim)->UseRealTime();

// ---------------------------------------------------------------------------
// spawn_join: spawn a greenlet that returns at once, then get() its value.
// op = one spawn + get.
void BM_SpawnJoin(benchmark::State& state, Backend backend) {
  OnBackend(backend, [&] {
    // Warm the stack pool and the allocator.
    gevent::spawn([] { return 0; })->get();
    Stopwatch w;
    for (auto _ : state) {
      auto g = gevent::spawn([] { return 1; });
      benchmark::DoNotOptimize(g->get());
    }
    SetNsPerOp(state, w, static_cast<double>(state.iterations()));
  });
}
BENCHMARK_CAPTURE(BM_SpawnJoin, epoll, Backend::kEpoll)->UseRealTime();
BENCHMARK_CAPTURE(BM_SpawnJoin, sim, Backend::kSim)->UseRealTime();

// ---------------------------------------------------------------------------
// joinall: spawn state.range(0) greenlets that each yield once, then
// joinall() them (wait()'s copy of the list, one link per greenlet, the
// result list), warm (after a first round). op = one greenlet (spawn, run,
// join). `faults_per_greenlet`: first-touch page faults, i.e. memory that
// joinall and its greenlets took fresh from the kernel again (glibc hands
// large freed blocks back to it).
void BM_JoinAll(benchmark::State& state, Backend backend) {
  const int n = static_cast<int>(state.range(0));
  auto round = [n] {
    std::vector<std::shared_ptr<gevent::Greenlet<void>>> gs;
    gs.reserve(n);
    for (int i = 0; i < n; ++i) {
      gs.push_back(gevent::spawn([] { gevent::sleep(); }));
    }
    benchmark::DoNotOptimize(gevent::joinall(gs).size());
  };
  OnBackend(backend, [&] {
    round();  // the stacks exist and the allocator has memory: warm
    const long faults0 = gevent_bench::MinorFaults();
    Stopwatch w;
    for (auto _ : state) round();
    const double ops = static_cast<double>(state.iterations()) * n;
    SetNsPerOp(state, w, ops);
    state.counters["faults_per_greenlet"] =
        static_cast<double>(gevent_bench::MinorFaults() - faults0) / ops;
  });
}
BENCHMARK_CAPTURE(BM_JoinAll, epoll, Backend::kEpoll)
    ->Arg(1000)->Arg(100000)->UseRealTime();
BENCHMARK_CAPTURE(BM_JoinAll, sim, Backend::kSim)
    ->Arg(1000)->Arg(100000)->UseRealTime();

// ---------------------------------------------------------------------------
// timeout: Timeout start + cancel in the running greenlet, with
// state.range(0) other timers pending in the hub's heap. op = start + cancel.
void NoopTimer(gevent::Timer*) {}

void BM_TimeoutStartCancel(benchmark::State& state, Backend backend) {
  OnBackend(backend, [&] {
    gevent::Hub* hub = gevent::get_hub();
    const int pending = static_cast<int>(state.range(0));
    std::vector<std::unique_ptr<gevent::Timer>> others;
    for (int i = 0; i < pending; ++i) {
      others.push_back(std::make_unique<gevent::Timer>(&NoopTimer));
      hub->start(others.back().get(), absl::Seconds(3600 + i), /*ref=*/false);
    }
    gevent::Timeout t(absl::Seconds(60));
    Stopwatch w;
    for (auto _ : state) {
      t.start();
      t.cancel();
    }
    SetNsPerOp(state, w, static_cast<double>(state.iterations()));
  });
}
BENCHMARK_CAPTURE(BM_TimeoutStartCancel, epoll, Backend::kEpoll)
    ->Arg(0)->Arg(10000)->ArgName("pending")->UseRealTime();
BENCHMARK_CAPTURE(BM_TimeoutStartCancel, sim, Backend::kSim)
    ->Arg(0)->Arg(10000)->ArgName("pending")->UseRealTime();

// ---------------------------------------------------------------------------
// event_pingpong: gevent::Event each way. The main greenlet sets `ping` and
// waits on `pong`; the ponger waits on `ping`, clears it and sets `pong`.
// op = one round trip (set/wait/clear in each direction).
void BM_EventPingPong(benchmark::State& state, Backend backend) {
  OnBackend(backend, [&] {
    gevent_bench::EventRoundTrips([&](auto&& op) {
      Stopwatch w;
      for (auto _ : state) op();
      SetNsPerOp(state, w, static_cast<double>(state.iterations()));
    });
  });
}
BENCHMARK_CAPTURE(BM_EventPingPong, epoll, Backend::kEpoll)->UseRealTime();
BENCHMARK_CAPTURE(BM_EventPingPong, sim, Backend::kSim)->UseRealTime();

}  // namespace
