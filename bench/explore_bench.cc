// The schedule explorer (testing/explore.h): what the harness costs per
// run against a hand-written seed loop, how long shrinking takes, and how
// many runs each strategy needs to find each racy program's bug.
//
//   bazel run -c opt //bench:explore_bench
#include <cstdio>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "bench/bench_util.h"
#include "runtime/gevent.h"
#include "sim/simulation.h"
#include "testing/explore.h"
#include "testing/racy_programs.h"

namespace {

using gevent_bench::Stopwatch;

// A small 3-greenlet program: two workers and a joiner.
void Small() {
  auto a = gevent::spawn([] { gevent::sleep(absl::Milliseconds(1)); return 1; });
  auto b = gevent::spawn([] { gevent::sleep(absl::Milliseconds(1)); return 2; });
  auto c = gevent::spawn([&] { return a->get() + b->get(); });
  benchmark::DoNotOptimize(c->get());
}

gevent::testing::ExploreOptions Options(uint64_t runs) {
  gevent::testing::ExploreOptions o;
  o.runs = runs;
  o.use_environment = false;
  o.print = false;
  o.save_trace = false;
  return o;
}

// The hand loop the harness must keep up with: a fresh simulation a seed.
void BM_HandLoop(benchmark::State& state) {
  uint64_t runs = 0;
  Stopwatch w;
  for (auto _ : state) {
    gevent::sim::Simulation sim(++runs);
    Small();
  }
  state.counters["runs_per_s"] = static_cast<double>(runs) / (w.Nanos() * 1e-9);
}
BENCHMARK(BM_HandLoop)->UseRealTime();

// The same program under Explore() (random strategy), in batches of 1000.
void BM_Explore(benchmark::State& state) {
  uint64_t runs = 0;
  Stopwatch w;
  for (auto _ : state) runs += gevent::testing::Explore(Options(1000), Small).runs;
  state.counters["runs_per_s"] = static_cast<double>(runs) / (w.Nanos() * 1e-9);
}
BENCHMARK(BM_Explore)->UseRealTime()->Unit(benchmark::kMillisecond);

// Shrinking a failing schedule of hundreds of decisions (LockOrder among
// ten sleeping greenlets, jitter on every timer start).
void BM_Shrink(benchmark::State& state) {
  for (auto _ : state) {
    gevent::testing::ExploreOptions o = Options(300);
    gevent::testing::ExploreReport r = gevent::testing::Explore(o, gevent::testing::racy::LockOrderInNoise);
    state.counters["decisions"] = static_cast<double>(r.decisions);
    state.counters["shrunk_to"] = static_cast<double>(r.shrunk_decisions.size());
    state.counters["shrink_runs"] = static_cast<double>(r.shrink_runs);
    state.counters["shrink_s"] = absl::ToDoubleSeconds(r.shrink_time);
  }
}
BENCHMARK(BM_Shrink)->Iterations(3)->UseRealTime()->Unit(benchmark::kMillisecond);

// Runs to the first failure, per strategy and program, over the same seed
// budget (0: not found).
void BM_RunsToFirstFailure(benchmark::State& state) {
  using namespace gevent::testing::racy;
  struct Program {
    const char* name;
    void (*body)();
  };
  const Program programs[] = {{"lost_update", LostUpdate},       {"lost_wakeup", LostWakeup},
                              {"timeout_reply", TimeoutRacesReply}, {"lock_order", LockOrder},
                              {"depth3", DepthThree}};
  const char* strategies[] = {"random", "ties", "pct:3", "swarm"};
  constexpr uint64_t kBudget = 2000;
  for (auto _ : state) {
    for (const Program& p : programs) {
      for (const char* s : strategies) {
        gevent::testing::ExploreOptions o = Options(kBudget);
        o.strategy = s;
        o.shrink = false;
        // depth3 is an ordering bug: no jitter for any strategy.
        if (std::string(p.name) == "depth3") o.max_jitter = absl::ZeroDuration();
        auto r = gevent::testing::Explore(o, p.body);
        state.counters[std::string(p.name) + "/" + s] =
            r.first_failing_seed.has_value() ? static_cast<double>(r.runs) : 0.0;
      }
    }
  }
}
BENCHMARK(BM_RunsToFirstFailure)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
