#include "runtime/internal/stack_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <valgrind/valgrind.h>

#include "runtime/internal/sanitizers.h"

namespace gevent {
namespace internal {
namespace {

// Guarded stacks alive in the whole process (the map-count limit is
// per-process, while pools are per-thread).
std::atomic<size_t> g_guarded_stacks{0};
std::atomic<uint64_t> g_stacks_made{0};

[[noreturn]] void DieOutOfMemory(size_t bytes) {
  char msg[128];
  int n = snprintf(msg, sizeof msg,
                   "geventpp: cannot map %zu bytes for greenlet stacks\n",
                   bytes);
  (void)!write(2, msg, n);
  abort();
}

// A finished greenlet never returned from its frames, so their redzones stay
// poisoned; and a fresh mapping may sit where an unmapped stack was, whose
// shadow ASan did not clear. Every greenlet starts on a clean stack.
void UnpoisonForAsan(const Stack& s) {
#if GEVENT_ASAN
  __asan_unpoison_memory_region(s.base, s.size);
#else
  (void)s;
#endif
}

// The colour of the n-th stack a pool makes: a Fibonacci hash of n, so
// neighbours (which the kernel tends to map at neighbouring addresses, that
// is at neighbouring page colours) get unrelated line colours.
uint32_t ColourOf(size_t n) {
  const uint64_t h = static_cast<uint64_t>(n) * 0x9E3779B97F4A7C15ULL;
  return (1 + static_cast<uint32_t>(h >> 58) % StackPool::kColours) *
         StackPool::kColourLine;
}

}  // namespace

size_t StackPool::MaxGuardedStacks() {
  static const size_t limit = [] {
    size_t max_map = 65530;
    if (FILE* f = fopen("/proc/sys/vm/max_map_count", "r")) {
      unsigned long v = 0;
      if (fscanf(f, "%lu", &v) == 1 && v > 0) max_map = v;
      fclose(f);
    }
    size_t l = max_map / 4;
    return l > 16384 ? size_t{16384} : l;
  }();
  return limit;
}

StackPool::StackPool(size_t stack_size)
    : page_(static_cast<size_t>(sysconf(_SC_PAGESIZE))) {
  stack_size_ = (stack_size + page_ - 1) / page_ * page_;
  if (stack_size_ < 4 * page_) stack_size_ = 4 * page_;
}

StackPool::~StackPool() {
  for (const Stack& s : all_) {
    VALGRIND_STACK_DEREGISTER(s.valgrind_id);
    if (s.guard != nullptr) {
      munmap(s.guard, s.size + page_);
      g_guarded_stacks.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  for (const Slab& slab : slabs_) munmap(slab.mem, slab.bytes);
}

Stack StackPool::Acquire() {
  if (!free_.empty()) {
    Stack s = free_.back();
    free_.pop_back();
    if (trimmed_ > free_.size()) trimmed_ = free_.size();
    // Greenlets are often started in bursts: the next one will write its
    // first frame at the top of the next free stack, a page that is cold in
    // the caches and the TLB by now. Fetch that line while this one runs.
    if (!free_.empty()) {
      __builtin_prefetch(free_.back().top() - 64, 1, 3);
    }
    UnpoisonForAsan(s);
    return s;
  }
  Stack s;
  if (g_guarded_stacks.load(std::memory_order_relaxed) < MaxGuardedStacks()) {
    s = NewGuarded();
  } else {
    s = NewFromSlab();
  }
  UnpoisonForAsan(s);
  s.valgrind_id = VALGRIND_STACK_REGISTER(s.base, s.base + s.size);
  s.colour = ColourOf(all_.size());
  all_.push_back(s);
  g_stacks_made.fetch_add(1, std::memory_order_relaxed);
  return s;
}

Stack StackPool::AcquireSized(size_t bytes) {
  if (bytes == stack_size_) return Acquire();
  // Rare (a greenlet that asked for its own size): one mapping each, made
  // and unmapped per greenlet, always with a guard page if the kernel
  // allows one (such stacks are few, so they may exceed the budget).
  const size_t total = bytes + page_;
  void* mem = mmap(nullptr, total, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) DieOutOfMemory(total);
  char* p = static_cast<char*>(mem);
  Stack s;
  s.base = p + page_;
  s.size = bytes;
  if (mprotect(p, page_, PROT_NONE) == 0) {
    s.guard = p;
    g_guarded_stacks.fetch_add(1, std::memory_order_relaxed);
  } else {
    WriteCanary(s.base);  // in the spare page below it
  }
  UnpoisonForAsan(s);
  s.valgrind_id = VALGRIND_STACK_REGISTER(s.base, s.base + s.size);
  s.colour = ColourOf(sized_made_++);
  g_stacks_made.fetch_add(1, std::memory_order_relaxed);
  return s;
}

void StackPool::ReleaseSized(const Stack& s) {
  VALGRIND_STACK_DEREGISTER(s.valgrind_id);
  // Its frames' redzones may still be poisoned; the next mapping here may
  // be anything.
  UnpoisonForAsan(s);
  munmap(s.base - page_, s.size + page_);
  if (s.guard != nullptr) {
    g_guarded_stacks.fetch_sub(1, std::memory_order_relaxed);
  }
}

void StackPool::WriteCanary(char* base) {
  uint64_t* w = reinterpret_cast<uint64_t*>(base - kCanaryBytes);
  for (size_t i = 0; i < kCanaryBytes / 8; ++i) w[i] = kCanaryWord;
}

size_t StackPool::Trim(size_t keep_warm) {
  // The most recently freed stacks are at the back and stay warm. Giving
  // pages back costs a system call per stack and a page fault on reuse, so
  // it is done in bulk, when the owner decides, never per release.
  // Those below trimmed_ were trimmed before and not used since: a thread
  // that once ran 10,000 greenlets does not pay 10,000 system calls each
  // time one of its later hubs is destroyed.
  size_t trimmed = 0;
  const size_t cold = free_.size() > keep_warm ? free_.size() - keep_warm : 0;
  for (size_t i = trimmed_; i < cold; ++i) {
    const Stack& s = free_[i];
    // Its pages read as zeros again. The top page of a slab stack stays: it
    // holds the canary of the stack above, which may be running.
    madvise(s.base, s.guard != nullptr ? s.size : s.size - page_,
            MADV_DONTNEED);
    ++trimmed;
  }
  if (cold > trimmed_) trimmed_ = cold;
  return trimmed;
}

uint64_t StackPool::MadeInProcess() {
  return g_stacks_made.load(std::memory_order_relaxed);
}

std::shared_ptr<StackPool> StackPool::ForThisThread() {
  // Shared by every hub of the thread, and kept by the thread after its
  // last hub is gone (until the thread exits): a simulation per test case,
  // or a seed sweep of fresh simulations, reuses the warm stacks of the
  // previous one. Making them again would cost an mmap + mprotect + munmap
  // and a page fault per stack, most of a fresh simulation's time. A
  // destroyed hub trims the pool to kWarmStacks resident stacks, so an idle
  // thread keeps at most that much stack memory (the mappings stay).
  thread_local std::shared_ptr<StackPool> pool = std::make_shared<StackPool>();
  return pool;
}

Stack StackPool::NewGuarded() {
  size_t bytes = stack_size_ + page_;
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) DieOutOfMemory(bytes);
  char* p = static_cast<char*>(mem);
  if (mprotect(p, page_, PROT_NONE) != 0) {
    // Out of mappings after all: use it unguarded.
    munmap(p, bytes);
    return NewFromSlab();
  }
  g_guarded_stacks.fetch_add(1, std::memory_order_relaxed);
  ++guarded_;
  Stack s;
  s.guard = p;
  s.base = p + page_;
  s.size = stack_size_;
  return s;
}

Stack StackPool::NewFromSlab() {
  if (slab_free_.empty()) {
    // Stacks sit back to back above one spare page, which holds the canary
    // of the lowest; the canary of every other one is in the unused top
    // (colour) of the stack below it. Each canary is written when its
    // stack is handed out, below: stacks go from the low end up, so the
    // page it lands in is already resident (the stack below ran), and the
    // slab costs no memory until its stacks are used.
    const size_t stride = stack_size_;
    size_t bytes = page_ + stride * kSlabStacks;
    void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) DieOutOfMemory(bytes);
    slabs_.push_back({static_cast<char*>(mem), bytes});
    // Hand out from the low end first.
    for (size_t i = kSlabStacks; i-- > 0;) {
      Stack s;
      s.base = static_cast<char*>(mem) + page_ + i * stride;
      s.size = stack_size_;
      slab_free_.push_back(s);
    }
  }
  Stack s = slab_free_.back();
  slab_free_.pop_back();
  WriteCanary(s.base);
  return s;
}

bool StackPool::InGuard(const Stack& s, const void* addr) {
  if (s.guard == nullptr) return false;
  const char* a = static_cast<const char*>(addr);
  return a >= s.guard && a < s.base;
}

}  // namespace internal
}  // namespace gevent
