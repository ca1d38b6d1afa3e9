// What the hub micro-benchmarks share: running a body on either backend,
// and the per-operation counters that bench/compare.sh reads.
#ifndef GEVENTPP_BENCH_BACKEND_H_
#define GEVENTPP_BENCH_BACKEND_H_

#include "benchmark/benchmark.h"
#include "bench/bench_util.h"
#include "sim/simulation.h"

namespace gevent_bench {

enum class Backend { kEpoll, kSim };

// Runs `body` on the requested backend: on the thread's own (epoll) hub, or
// inside a fresh simulation (seed 0) that lives for the duration of the call.
template <typename F>
void OnBackend(Backend backend, F&& body) {
  if (backend == Backend::kSim) {
    gevent::sim::Simulation sim(0);
    body();
  } else {
    body();
  }
}

// ns_per_op: wall nanoseconds per operation (the figure); cpu_ns_per_op:
// the thread's CPU time per operation (close to ns_per_op on a quiet
// machine); ops_per_s: the wall rate.
inline void SetNsPerOp(benchmark::State& state, const Stopwatch& w, double ops) {
  const double nanos = w.Nanos();
  state.counters["ns_per_op"] = nanos / ops;
  state.counters["cpu_ns_per_op"] = w.CpuNanos() / ops;
  state.counters["ops_per_s"] = ops / (nanos * 1e-9);
}

}  // namespace gevent_bench

#endif  // GEVENTPP_BENCH_BACKEND_H_
