// The simulated hub: how much faster than real time, and how cheap a whole
// simulation is.
//
//   bazel run -c opt //bench:sim_bench
//
// (The simulated sleep(0) switch rate is BM_Yield/sim in //bench:hub_bench.)
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "bench/bench_util.h"
#include "runtime/gevent.h"
#include "sim/random.h"
#include "sim/simulation.h"

namespace {

using gevent_bench::MinorFaults;
using gevent_bench::Stopwatch;

// state.range(0) greenlets (10,000 for the figure), each looping sleep(1..1000
// ms, uniform, from one fixed-seed SplitMix64), for state.range(1) virtual
// seconds (3,600 for the figure). Reports the wall time of the virtual span
// (`wall_s`, target < 3.6 s for the hour), the speedup over real time, the
// number of timer wake-ups and the wall nanoseconds per wake-up; `setup_s`
// (spawning and first start) and `teardown_s` (killing them all at the end)
// are reported apart. The smaller variants show how the cost per wake-up
// depends on the number of greenlets (cache and TLB footprint).
void BM_SimVirtualHour(benchmark::State& state) {
  const int greenlets = static_cast<int>(state.range(0));
  const absl::Duration virtual_time = absl::Seconds(state.range(1));
  for (auto _ : state) {
    Stopwatch setup;
    const long faults0 = MinorFaults();
    auto sim = std::make_unique<gevent::sim::Simulation>(0);
    gevent::sim::SplitMix64 rng(20240601);
    uint64_t wakeups = 0;
    std::vector<std::shared_ptr<gevent::Greenlet<void>>> gs;
    gs.reserve(greenlets);
    for (int i = 0; i < greenlets; ++i) {
      gs.push_back(gevent::spawn([&rng, &wakeups] {
        for (;;) {
          gevent::sleep(
              absl::Milliseconds(1 + static_cast<int64_t>(rng.Below(1000))));
          ++wakeups;
        }
      }));
    }
    gevent::sleep();  // every greenlet starts and blocks in its first sleep
    const double setup_s = setup.Seconds();
    const uint64_t wakeups0 = wakeups;
    const absl::Duration elapsed0 = sim->elapsed();
    Stopwatch span;
    sim->run_for(virtual_time);
    const double wall_s = span.Seconds();
    const double cpu_s = span.CpuNanos() * 1e-9;
    const uint64_t n = wakeups - wakeups0;
    if (sim->elapsed() - elapsed0 < virtual_time) {
      state.SkipWithError("virtual time not reached");
    }
    // The teardown: kill the greenlets, then destroy the Simulation (and
    // its hub).
    Stopwatch teardown;
    gevent::killall(gs);
    gs.clear();
    sim.reset();
    const double teardown_s = teardown.Seconds();
    state.counters["wall_s"] = wall_s;
    state.counters["cpu_s"] = cpu_s;
    state.counters["speedup"] = absl::ToDoubleSeconds(virtual_time) / wall_s;
    state.counters["wakeups"] = static_cast<double>(n);
    state.counters["ns_per_wakeup"] = wall_s * 1e9 / static_cast<double>(n);
    state.counters["setup_s"] = setup_s;
    state.counters["teardown_s"] = teardown_s;
    state.counters["faults"] = static_cast<double>(MinorFaults() - faults0);
  }
}
BENCHMARK(BM_SimVirtualHour)
    ->ArgNames({"greenlets", "seconds"})
    ->Args({10000, 3600})  // the figure
    ->Args({10000, 60})
    ->Args({1000, 600})
    ->Args({100, 3600})
    ->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

// A fresh simulation: create a Simulation, spawn 10 greenlets doing 100
// sleep(0) steps each, run it to completion, destroy it. op = one whole
// simulation; `runs_per_s` (target >= 10,000/s). `faults_per_run` counts
// the page faults each run takes (fresh stacks).
void BM_SimFresh(benchmark::State& state) {
  auto step = [] {
    for (int i = 0; i < 100; ++i) gevent::sleep();
  };
  {
    gevent::sim::Simulation warmup(0);
    gevent::spawn(step);
    warmup.run();
  }
  const long faults0 = MinorFaults();
  Stopwatch w;
  for (auto _ : state) {
    gevent::sim::Simulation sim(0);
    for (int g = 0; g < 10; ++g) gevent::spawn(step);
    sim.run();
  }
  const double s = w.Seconds();
  const double runs = static_cast<double>(state.iterations());
  state.counters["ns_per_op"] = s * 1e9 / runs;
  state.counters["cpu_ns_per_op"] = w.CpuNanos() / runs;
  state.counters["runs_per_s"] = runs / s;
  state.counters["faults_per_run"] =
      static_cast<double>(MinorFaults() - faults0) / runs;
}
BENCHMARK(BM_SimFresh)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
