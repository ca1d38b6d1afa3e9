// Micro-benchmarks of the runtime's private machinery: the context switch
// and the stack pool, against what they are built on.
//
//   bazel run -c opt //runtime:context_bench
//
// Each reports `ns_per_op` (wall nanoseconds per operation, the operation
// named in the benchmark's comment), which bench/compare.sh reads.
#include <sys/mman.h>
#include <unistd.h>

#include <boost/context/detail/fcontext.hpp>

#include "benchmark/benchmark.h"
#include "bench/bench_util.h"
#include "runtime/internal/context.h"
#include "runtime/internal/stack_pool.h"

namespace {

using gevent_bench::Stopwatch;

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
