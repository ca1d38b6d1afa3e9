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

#include <boost/context/detail/fcontext.hpp>

#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "bench/backend.h"
#include "bench/bench_util.h"
#include "bench/workloads.h"
#include "runtime/gevent.h"
#include "runtime/internal/context.h"
#include "runtime/internal/stack_pool.h"
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

// ---------------------------------------------------------------------------
// Raw context switch, no hub: runtime/internal/context.h Jump between the
// benchmark's context and a coroutine that jumps straight back. One
// iteration is two jumps; op = one Jump.
struct PingPong {
  gevent::internal::Context main;
  gevent::internal::Context co;
};

void PingPongEntry(void* arg) {
  auto* p = static_cast<PingPong*>(arg);
  for (;;) gevent::internal::Jump(&p->co, &p->main);
}

void BM_ContextJump(benchmark::State& state) {
  gevent::internal::StackPool pool;
  gevent::internal::Stack stack = pool.Acquire();
  PingPong p;
  gevent::internal::MakeContext(&p.co, stack.base, stack.size, &PingPongEntry,
                                &p);
  gevent::internal::Jump(&p.main, &p.co);  // first entry
  Stopwatch w;
  for (auto _ : state) gevent::internal::Jump(&p.main, &p.co);
  SetNsPerOp(state, w, 2.0 * static_cast<double>(state.iterations()));
  // The coroutine stays suspended forever; its frame owns nothing.
  pool.Release(stack);
}
BENCHMARK(BM_ContextJump)->UseRealTime();

// The same with Boost.Context's jump_fcontext alone (what Jump adds: saving
// and restoring the thread's C++ exception globals, and the JumpData record).
namespace bctx = boost::context::detail;

void RawEntry(bctx::transfer_t t) {
  for (;;) t = bctx::jump_fcontext(t.fctx, nullptr);
}

void BM_ContextRawFcontext(benchmark::State& state) {
  gevent::internal::StackPool pool;
  gevent::internal::Stack stack = pool.Acquire();
  bctx::fcontext_t co = bctx::make_fcontext(stack.top(), stack.size, &RawEntry);
  co = bctx::jump_fcontext(co, nullptr).fctx;
  Stopwatch w;
  for (auto _ : state) co = bctx::jump_fcontext(co, nullptr).fctx;
  SetNsPerOp(state, w, 2.0 * static_cast<double>(state.iterations()));
  pool.Release(stack);
}
BENCHMARK(BM_ContextRawFcontext)->UseRealTime();

// ---------------------------------------------------------------------------
// Stacks: a pooled stack (StackPool Acquire + Release) against a fresh one
// made the way StackPool::NewGuarded makes it (mmap + mprotect of the guard
// page) and unmapped again. "Touch" also writes the page a fresh greenlet
// touches at least (the top page, where its frames start; the canary of an
// unguarded stack lies in that of the stack below): the first-touch page
// fault. op = one stack.
void BM_StackPoolAcquireRelease(benchmark::State& state) {
  gevent::internal::StackPool pool;
  pool.Release(pool.Acquire());
  Stopwatch w;
  for (auto _ : state) {
    gevent::internal::Stack s = pool.Acquire();
    benchmark::DoNotOptimize(s.base);
    pool.Release(s);
  }
  SetNsPerOp(state, w, static_cast<double>(state.iterations()));
}
BENCHMARK(BM_StackPoolAcquireRelease)->UseRealTime();

void BM_StackFreshMmap(benchmark::State& state) {
  const bool touch = state.range(0) != 0;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t size = gevent::internal::StackPool::kDefaultStackSize;
  Stopwatch w;
  for (auto _ : state) {
    void* mem = mmap(nullptr, size + page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) {
      state.SkipWithError("mmap failed");
      break;
    }
    char* p = static_cast<char*>(mem);
    mprotect(p, page, PROT_NONE);
    if (touch) p[page + size - 1] = 1;  // top page
    benchmark::DoNotOptimize(p);
    munmap(mem, size + page);
  }
  SetNsPerOp(state, w, static_cast<double>(state.iterations()));
}
BENCHMARK(BM_StackFreshMmap)->Arg(0)->Arg(1)->ArgName("touch")->UseRealTime();

// What StackPool::Trim does with each free stack beyond the warm ones it
// keeps (kWarmStacks): madvise(MADV_DONTNEED) to give its pages back. Here
// the stack's top page was written (as a greenlet that ran would have), so
// the kernel must unmap it and flush the TLB. op = one touch + madvise (the
// touch is the page fault that the next use of the stack pays again).
void BM_StackTrimMadvise(benchmark::State& state) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t size = gevent::internal::StackPool::kDefaultStackSize;
  void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  char* p = static_cast<char*>(mem);
  Stopwatch w;
  for (auto _ : state) {
    p[size - 1] = 1;
    madvise(p + page, size - page, MADV_DONTNEED);
  }
  SetNsPerOp(state, w, static_cast<double>(state.iterations()));
  munmap(mem, size);
}
BENCHMARK(BM_StackTrimMadvise)->UseRealTime();

// The cost of one first-touch page fault on this machine, for reference.
void BM_PageFault(benchmark::State& state) {
  for (auto _ : state) {
    state.counters["us_per_page"] = gevent_bench::PageFaultMicros();
  }
}
BENCHMARK(BM_PageFault)->Iterations(1)->UseRealTime();

}  // namespace
