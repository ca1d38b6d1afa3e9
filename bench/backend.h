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

}  // namespace gevent_bench

#endif  // GEVENTPP_BENCH_BACKEND_H_
