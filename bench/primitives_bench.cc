// Micro-benchmarks of the synchronisation primitives (issue 3): Queue and
// Semaphore hand-offs between two greenlets, on both hub backends.
//
//   bazel run -c opt //bench:primitives_bench -- --benchmark_min_time=0.3
//
// As in hub_bench.cc, every benchmark runs twice: "/epoll" on the thread's
// default hub and "/sim" inside a gevent::sim::Simulation(0) made in the
// benchmark function. Each reports `ns_per_op` (wall) and `cpu_ns_per_op`
// (the thread's CPU time; less disturbed by a busy machine), the operation
// being named in the benchmark's comment.
#include <cstdint>

#include "benchmark/benchmark.h"
#include "bench/backend.h"
#include "bench/bench_util.h"
#include "runtime/gevent.h"
#include "runtime/queue.h"
#include "runtime/semaphore.h"
#include "sim/simulation.h"

namespace {

using gevent_bench::Stopwatch;

using gevent_bench::Backend;
using gevent_bench::OnBackend;
using gevent_bench::SetNsPerOp;

// ---------------------------------------------------------------------------
// queue_pingpong: two unbounded Queue<int>. The main greenlet puts on `q1`
// and gets from `q2`; the partner gets from `q1` and puts on `q2`. Each put
// finds the other side blocked in get(), so the item is handed straight to
// it. One iteration moves two items; op = one item passed one way.
void BM_QueuePingPong(benchmark::State& state, Backend backend) {
  OnBackend(backend, [&] {
    gevent::Queue<int> q1, q2;
    auto partner = gevent::spawn([&] {
      for (;;) {
        int v = q1.get();
        if (v < 0) return;
        q2.put(v + 1);
      }
    });
    gevent::sleep();  // the partner starts and blocks in q1.get()
    int v = 0;
    Stopwatch w;
    for (auto _ : state) {
      q1.put(v);
      v = q2.get();
    }
    SetNsPerOp(state, w, 2.0 * static_cast<double>(state.iterations()));
    benchmark::DoNotOptimize(v);
    q1.put(-1);
    partner->join();
  });
}
BENCHMARK_CAPTURE(BM_QueuePingPong, epoll, Backend::kEpoll)->UseRealTime();
BENCHMARK_CAPTURE(BM_QueuePingPong, sim, Backend::kSim)->UseRealTime();

// ---------------------------------------------------------------------------
// semaphore_handoff: two Semaphore(0). The main greenlet releases `a` and
// acquires `b`; the partner acquires `a` and releases `b`. Every release()
// finds the other greenlet blocked in acquire() and hands the permit
// straight to it (the counter never rises above 0). One iteration is two
// hand-offs; op = one hand-off.
void BM_SemaphoreHandoff(benchmark::State& state, Backend backend) {
  OnBackend(backend, [&] {
    gevent::Semaphore a(0), b(0);
    bool stop = false;
    int64_t missed = 0;  // release()s that found no waiter (must stay 0)
    auto partner = gevent::spawn([&] {
      for (;;) {
        a.acquire();
        if (stop) return;
        missed += b.waiter_count() == 0;
        b.release();
      }
    });
    gevent::sleep();  // the partner starts and blocks in a.acquire()
    Stopwatch w;
    for (auto _ : state) {
      missed += a.waiter_count() == 0;
      a.release();
      b.acquire();
    }
    SetNsPerOp(state, w, 2.0 * static_cast<double>(state.iterations()));
    if (missed != 0 || a.counter() != 0 || b.counter() != 0) {
      state.SkipWithError("a permit was not handed straight to a waiter");
    }
    stop = true;
    a.release();
    partner->join();
  });
}
BENCHMARK_CAPTURE(BM_SemaphoreHandoff, epoll, Backend::kEpoll)->UseRealTime();
BENCHMARK_CAPTURE(BM_SemaphoreHandoff, sim, Backend::kSim)->UseRealTime();

// ---------------------------------------------------------------------------
// channel_like: a bounded Queue<int>(1) used as a channel, one way. The main
// greenlet puts items as fast as it can; the partner gets them. The producer
// fills the slot, blocks in put() on the next item, and is let in by the
// consumer's get() (the putter path of a bounded queue); the consumer then
// blocks in get() and is handed the next item directly. op = one item.
void BM_ChannelLike(benchmark::State& state, Backend backend) {
  OnBackend(backend, [&] {
    gevent::Queue<int> ch(1);
    int64_t sum = 0;
    auto consumer = gevent::spawn([&] {
      for (;;) {
        int v = ch.get();
        if (v < 0) return;
        sum += v;
      }
    });
    gevent::sleep();  // the consumer starts and blocks in get()
    Stopwatch w;
    for (auto _ : state) ch.put(1);
    SetNsPerOp(state, w, static_cast<double>(state.iterations()));
    ch.put(-1);
    consumer->join();
    benchmark::DoNotOptimize(sum);
    if (sum != static_cast<int64_t>(state.iterations())) {
      state.SkipWithError("items were lost");
    }
  });
}
BENCHMARK_CAPTURE(BM_ChannelLike, epoll, Backend::kEpoll)->UseRealTime();
BENCHMARK_CAPTURE(BM_ChannelLike, sim, Backend::kSim)->UseRealTime();

}  // namespace
