// 100,000 greenlets, greenlet i sleeping (i % 100) ms, all joined.
//
//   bazel run -c opt //bench:sleepers_bench
//
// Each backend runs the workload four times in one process (on one hub)
// and reports three of the runs:
//  - cold: the first run; every greenlet stack, greenlet object and timer is
//    new memory, so the kernel first-touches (zero-fills) every page;
//  - warm: the second run, reusing the thread's stack pool and the
//    allocator's memory;
//  - steady: the fourth run. The second one is faster than the first, so
//    more greenlets are alive at once and the pool makes more stacks; by
//    the fourth the pool holds what the workload needs.
// Reported counters (wall seconds, minor page faults, an estimate of the
// time spent in those faults, resident KiB per greenlet) are named
// <cold|warm|steady>_<what>. The longest sleep is 99 ms: that is the floor.
//
// Memory and "cold" figures are only clean in a fresh process: run one
// benchmark per process, as bench/compare.sh does, e.g.
//   sleepers_bench --benchmark_filter=BM_Sleepers/epoll
// (run all at once, later ones inherit the earlier ones' warm memory).
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "bench/bench_util.h"
#include "runtime/gevent.h"
#include "sim/simulation.h"

namespace {

using gevent_bench::MinorFaults;
using gevent_bench::PageFaultMicros;
using gevent_bench::StatusKiB;
using gevent_bench::Stopwatch;

constexpr int kSleepers = 100000;

struct RunResult {
  double wall_s = 0;
  double cpu_s = 0;
  long faults = 0;
  long hwm_delta_kib = 0;   // VmHWM after - before
  long rss_delta_kib = 0;   // VmRSS with every sleeper alive - before
};

RunResult RunSleepers() {
  RunResult r;
  const long hwm0 = StatusKiB("VmHWM");
  const long rss0 = StatusKiB("VmRSS");
  const long faults0 = MinorFaults();
  long rss_peak = 0;
  Stopwatch w;
  std::vector<std::shared_ptr<gevent::Greenlet<void>>> gs;
  gs.reserve(kSleepers);
  for (int i = 0; i < kSleepers; ++i) {
    gs.push_back(gevent::spawn(
        [i] { gevent::sleep(absl::Milliseconds(i % 100)); }));
  }
  // Starts after every sleeper has started. On the simulator all 100,000 are
  // alive then; on epoll the ones with the shortest sleeps may be done
  // already (starting them all takes longer than 1 ms), so this is not
  // "100,000 alive at once": BM_Resident measures that.
  auto probe = gevent::spawn([&rss_peak] { rss_peak = StatusKiB("VmRSS"); });
  gevent::joinall(gs);
  r.wall_s = w.Seconds();
  r.cpu_s = w.CpuNanos() * 1e-9;
  r.faults = MinorFaults() - faults0;
  probe->join();
  r.hwm_delta_kib = StatusKiB("VmHWM") - hwm0;
  r.rss_delta_kib = rss_peak - rss0;
  for (auto& g : gs) {
    if (!g->successful()) abort();
  }
  return r;
}

void Report(benchmark::State& state, const char* prefix, const RunResult& r) {
  const std::string p = prefix;
  const double fault_s = static_cast<double>(r.faults) * PageFaultMicros() * 1e-6;
  state.counters[p + "_s"] = r.wall_s;
  state.counters[p + "_cpu_s"] = r.cpu_s;
  state.counters[p + "_faults"] = static_cast<double>(r.faults);
  state.counters[p + "_fault_s_est"] = fault_s;
  state.counters[p + "_rss_kib_per_greenlet"] =
      static_cast<double>(r.rss_delta_kib) / kSleepers;
  if (p == "cold") {
    state.counters[p + "_hwm_kib_per_greenlet"] =
        static_cast<double>(r.hwm_delta_kib) / kSleepers;
  }
}

void BM_Sleepers(benchmark::State& state, bool sim_backend) {
  PageFaultMicros();  // measure before the runs, not during
  for (auto _ : state) {
    std::optional<gevent::sim::Simulation> sim;
    if (sim_backend) sim.emplace(0);
    RunResult cold = RunSleepers();
    RunResult warm = RunSleepers();
    RunSleepers();
    RunResult steady = RunSleepers();
    Report(state, "cold", cold);
    Report(state, "warm", warm);
    Report(state, "steady", steady);
    state.counters["page_fault_us"] = PageFaultMicros();
  }
}
BENCHMARK_CAPTURE(BM_Sleepers, epoll, false)
    ->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Sleepers, sim, true)
    ->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

// 100,000 greenlets all blocked at once (each waits on one Event), to
// measure resident memory per live greenlet. In the sleepers workload above
// the greenlets do not necessarily all live at the same time: starting them
// takes longer than the shortest sleeps, so early ones finish (and free
// their stacks for reuse) before the last ones start.
void BM_Resident(benchmark::State& state, bool sim_backend) {
  for (auto _ : state) {
    std::optional<gevent::sim::Simulation> sim;
    if (sim_backend) sim.emplace(0);
    const long hwm0 = StatusKiB("VmHWM");
    const long rss0 = StatusKiB("VmRSS");
    const long faults0 = MinorFaults();
    Stopwatch w;
    gevent::Event gate;
    std::vector<std::shared_ptr<gevent::Greenlet<void>>> gs;
    gs.reserve(kSleepers);
    for (int i = 0; i < kSleepers; ++i) {
      gs.push_back(gevent::spawn([&gate] { gate.wait(); }));
    }
    gevent::sleep();  // all start and block
    const double start_s = w.Seconds();
    const long rss1 = StatusKiB("VmRSS");
    const long faults = MinorFaults() - faults0;
    gate.set();
    gevent::joinall(gs);
    const double wall_s = w.Seconds();
    state.counters["rss_kib_per_greenlet"] =
        static_cast<double>(rss1 - rss0) / kSleepers;
    state.counters["hwm_kib_per_greenlet"] =
        static_cast<double>(StatusKiB("VmHWM") - hwm0) / kSleepers;
    state.counters["faults_per_greenlet"] =
        static_cast<double>(faults) / kSleepers;
    state.counters["start_s"] = start_s;
    state.counters["wall_s"] = wall_s;
  }
}
BENCHMARK_CAPTURE(BM_Resident, epoll, false)
    ->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Resident, sim, true)
    ->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
