// The floor under BM_SimVirtualHour: the least a stackful scheduler can pay
// per timer wake-up on this machine, measured without the runtime.
//
//   bazel run -c opt //runtime:wakeup_floor_bench
//
// N bare fibers (the runtime's own stacks, contexts and switch: StackPool,
// MakeContext, Jump) each loop "sleep(1..1000 ms, uniform)" on a virtual
// millisecond clock. The timer structure is the cheapest there is for that
// workload: a ring of 1,024 one-millisecond buckets (vectors of fiber
// numbers), no ordering inside a bucket, no cancellation. A fiber that goes
// to sleep picks the next due fiber itself and switches straight to it (one
// switch a wake-up, like the runtime's hand-off). Nothing else: no hub, no
// greenlet objects, no events, no hash, no jitter, no exception state.
//
// Arguments: fibers; `touch` = bytes of a per-fiber heap object written at
// each wake-up (0, or 512 to stand for a greenlet object); `prefetch` = k > 0
// to prefetch, while a fiber runs, the saved context (and object) of the
// fiber k places after it in its bucket (the runtime prefetches too).
// Reports ns per wake-up (wall): for 10,000 fibers, the 3.6 s for a
// virtual hour needs <= 50 ns (72 M wake-ups).
#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "benchmark/benchmark.h"
#include "bench/bench_util.h"
#include "runtime/internal/context.h"
#include "runtime/internal/stack_pool.h"
#include "sim/random.h"

namespace {

using gevent::internal::Context;
using gevent::internal::EhGlobals;
using gevent::internal::Jump;
using gevent::internal::MakeContext;
using gevent::internal::Stack;
using gevent::internal::StackPool;

constexpr uint64_t kBuckets = 1024;  // > 1,000 ms: a sleep never wraps

struct Fiber {
  Context ctx;
  Stack stack;
  char* object = nullptr;  // `touch` bytes standing for a greenlet object
};

struct Scheduler {
  std::vector<Fiber> fibers;
  std::vector<uint32_t> buckets[kBuckets];
  uint64_t now_ms = 0;
  size_t pos = 0;  // next fiber of the current bucket
  uint64_t end_ms = 0;
  uint64_t wakeups = 0;
  size_t touch = 0;
  size_t prefetch = 0;  // how many fibers ahead (0: none)
  Context main;
  EhGlobals* eh = gevent::internal::ThreadEhGlobals();
  gevent::sim::SplitMix64 rng{20240601};

  // The next fiber due, advancing the clock over empty buckets; main when
  // the virtual span is over.
  Context* Next() {
    for (;;) {
      std::vector<uint32_t>& b = buckets[now_ms & (kBuckets - 1)];
      if (pos < b.size()) {
        Fiber& f = fibers[b[pos++]];
        const size_t ahead = pos - 1 + prefetch;
        if (prefetch != 0 && ahead < b.size()) {
          const Fiber& p = fibers[b[ahead]];
          const uintptr_t sp = reinterpret_cast<uintptr_t>(p.ctx.fctx);
          for (uintptr_t a = sp; a != sp + 256; a += 64) {
            __builtin_prefetch(reinterpret_cast<const void*>(a), 0, 3);
          }
          if (p.object != nullptr) {
            const uintptr_t o = reinterpret_cast<uintptr_t>(p.object);
            for (uintptr_t a = o; a < o + touch; a += 64) {
              __builtin_prefetch(reinterpret_cast<const void*>(a), 1, 3);
            }
          }
        }
        return &f.ctx;
      }
      b.clear();
      pos = 0;
      if (++now_ms >= end_ms) return &main;
    }
  }

  static void Body(void* arg);
};

Scheduler* g_sched = nullptr;

void Scheduler::Body(void* arg) {
  Scheduler& s = *g_sched;
  const uint32_t self = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(arg));
  Fiber& me = s.fibers[self];
  for (;;) {
    if (s.touch != 0) {
      // A greenlet object's state changes at each wake-up: a write per line.
      for (size_t i = 0; i < s.touch; i += 64) ++me.object[i];
    }
    const uint64_t d = 1 + s.rng.Below(1000);
    s.buckets[(s.now_ms + d) & (kBuckets - 1)].push_back(self);
    ++s.wakeups;
    Jump(&me.ctx, s.Next(), s.eh);
  }
}

void BM_WakeupFloor(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const uint64_t virtual_ms = static_cast<uint64_t>(state.range(1)) * 1000;
  StackPool pool;
  // `hugepage_kib` > 0: instead of the pool's stacks (128 KiB each, 4 KiB
  // pages), stacks of that size back to back in one slab advised to use
  // transparent huge pages (what a "compact stacks" mode would do: no guard
  // pages, every stack wholly resident, few TLB entries).
  const size_t huge_stack = static_cast<size_t>(state.range(4)) * 1024;
  char* slab = nullptr;
  void* mapping = nullptr;
  size_t slab_bytes = 0;
  if (huge_stack != 0) {
    slab_bytes = (n * huge_stack + (2u << 20)) & ~size_t{(2u << 20) - 1};
    void* m = mmap(nullptr, slab_bytes + (2u << 20), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
      state.SkipWithError("mmap failed");
      return;
    }
    mapping = m;
    slab = reinterpret_cast<char*>(
        (reinterpret_cast<uintptr_t>(m) + (2u << 20) - 1) & ~uintptr_t{(2u << 20) - 1});
    madvise(slab, slab_bytes, MADV_HUGEPAGE);
  }
  for (auto _ : state) {
    auto s = std::make_unique<Scheduler>();
    g_sched = s.get();
    s->touch = static_cast<size_t>(state.range(2));
    s->prefetch = static_cast<size_t>(state.range(3));
    s->fibers.resize(n);
    std::vector<std::unique_ptr<char[]>> objects;
    for (size_t i = 0; i < n; ++i) {
      Fiber& f = s->fibers[i];
      if (slab != nullptr) {
        // Coloured like the pool's stacks (1-32 lines below the top).
        f.stack.base = slab + i * huge_stack;
        f.stack.size = huge_stack;
        f.stack.colour = static_cast<uint32_t>(64 * (1 + (i * 7) % 32));
      } else {
        f.stack = pool.Acquire();
      }
      MakeContext(&f.ctx, f.stack.base, f.stack.usable(), &Scheduler::Body,
                  reinterpret_cast<void*>(static_cast<uintptr_t>(i)));
      if (s->touch != 0) {
        objects.emplace_back(new char[s->touch]());
        f.object = objects.back().get();
      }
      // Everyone starts in the first millisecond, in order.
      s->buckets[0].push_back(static_cast<uint32_t>(i));
    }
    // A first pass (every fiber runs once and goes to sleep) outside the
    // measured span, as in BM_SimVirtualHour.
    s->end_ms = 1;
    Jump(&s->main, s->Next(), s->eh);
    s->end_ms = 1 + virtual_ms;
    s->pos = 0;
    const uint64_t w0 = s->wakeups;
    gevent_bench::Stopwatch span;
    Jump(&s->main, s->Next(), s->eh);
    const double ns = span.Nanos();
    const double cpu_ns = span.CpuNanos();
    const double wakeups = static_cast<double>(s->wakeups - w0);
    // The fibers stay suspended in their loops; they own nothing but their
    // stacks, which go back to the pool.
    if (slab == nullptr) {
      for (Fiber& f : s->fibers) pool.Release(f.stack);
    }
    g_sched = nullptr;
    state.counters["wakeups"] = wakeups;
    state.counters["ns_per_wakeup"] = ns / wakeups;
    state.counters["cpu_ns_per_wakeup"] = cpu_ns / wakeups;
    state.counters["hour_s_at_this_rate"] =
        ns / wakeups * 1e-9 * static_cast<double>(n) * 3600.0 / 0.5005;
  }
  if (mapping != nullptr) munmap(mapping, slab_bytes + (2u << 20));
}
BENCHMARK(BM_WakeupFloor)
    ->ArgNames({"fibers", "seconds", "touch", "prefetch", "hugepage_kib"})
    ->Args({100, 600, 0, 0, 0})
    ->Args({100, 600, 512, 2, 0})
    ->Args({1000, 120, 0, 0, 0})
    ->Args({1000, 120, 512, 2, 0})
    ->Args({10000, 60, 0, 0, 0})
    ->Args({10000, 60, 0, 2, 0})
    ->Args({10000, 60, 512, 0, 0})
    ->Args({10000, 60, 512, 2, 0})
    ->Args({10000, 60, 0, 2, 16})
    ->Args({10000, 60, 512, 2, 16})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
