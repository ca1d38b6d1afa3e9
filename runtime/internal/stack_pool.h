// Greenlet stacks: mmap'd, pooled per thread, with guard pages where the
// kernel's mapping limit allows.
//
// A fresh mmap'd stack costs microseconds; a pooled one costs nanoseconds, so
// stacks are recycled (most recently freed first, while it is still warm in
// the cache), and one pool serves every hub of a thread. Freed stacks stay
// resident until Trim() (the hub trims when it is destroyed). Each guarded
// stack costs two kernel mappings (the guard page and the stack), and Linux
// allows about 65,530 per process, so only the first `kMaxGuardedStacks`
// stacks get a guard page; the rest are carved from large unguarded slabs.
// An unguarded stack is protected by a canary: the cache line just below its
// low end, which lies in the unused top (the colour, see kColours) of the
// slab stack below it and is never written by anything but an overflow, so
// it reads as zeros until one happens. It is checked whenever the greenlet
// switches out, and costs no memory of its own: the stack's low pages are
// never touched unless the greenlet really runs that deep. Either way an
// overflow ends the process with a message naming the greenlet.
#ifndef GEVENTPP_RUNTIME_INTERNAL_STACK_POOL_H_
#define GEVENTPP_RUNTIME_INTERNAL_STACK_POOL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace gevent {
namespace internal {

struct Stack {
  char* base = nullptr;     // lowest usable address
  size_t size = 0;          // bytes mapped for the stack above `base`
  char* guard = nullptr;    // guard page below `base`, or nullptr
  unsigned valgrind_id = 0;
  // Bytes left unused at the high end (the stack's colour, see
  // StackPool::kColours): the greenlet's first frame starts at top().
  uint32_t colour = 0;
  char* top() const { return base + size - colour; }
  // Bytes the greenlet can use, from base to top().
  size_t usable() const { return size - colour; }
  bool valid() const { return base != nullptr; }
};

// Bytes below an unguarded stack's base that must stay zero (its canary).
constexpr size_t kCanaryBytes = 64;

class StackPool {
 public:
  static constexpr size_t kDefaultStackSize = 128 * 1024;
  static constexpr size_t kSlabStacks = 64;
  // Stacks Trim() keeps resident by default.
  static constexpr size_t kWarmStacks = 256;
  // Stack colouring. Every stack's top is page-aligned, so without it the
  // hot top frames of all greenlets (the saved context and the frames of
  // sleep(), wait(), ...) would sit at the same offsets in their pages and
  // fall into the same few sets of every cache: the L2 would hold the tops
  // of only a few hundred greenlets, however small they are. Each stack
  // therefore starts its first frame 1 to kColours cache lines below its
  // top, the count picked by a fixed hash of the stack's sequence number
  // (never of an address; colours only move frames, never the schedule).
  // At least one line stays free: the canary of the slab stack above.
  // Up to 2 KiB, so that a shallow greenlet still fits in one page.
  static constexpr uint32_t kColours = 32;
  static constexpr uint32_t kColourLine = 64;
  static_assert(kColourLine >= kCanaryBytes,
                "the smallest colour must hold the canary of the stack above");

  explicit StackPool(size_t stack_size = kDefaultStackSize);
  ~StackPool();
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  Stack Acquire();
  void Release(const Stack& s);
  // Gives the pages of all but the `keep_warm` most recently freed stacks
  // back to the kernel (their mappings stay), except those it gave back
  // before and that were not used since. Returns how many it gave back.
  size_t Trim(size_t keep_warm = kWarmStacks);
  // The pool of the calling thread, shared by its hubs and kept until the
  // thread exits (a hub that is destroyed trims it).
  static std::shared_ptr<StackPool> ForThisThread();

  size_t stack_size() const { return stack_size_; }
  size_t guarded_count() const { return guarded_; }
  size_t free_count() const { return free_.size(); }
  // Stacks made so far by all the pools of this process.
  static uint64_t MadeInProcess();

  // True if `addr` lies in the guard page of `s`.
  static bool InGuard(const Stack& s, const void* addr);
  // Guarded stacks rely on their guard page and carry no canary. An
  // unguarded one is intact while the kCanaryBytes below its base are zero
  // (an overflow that writes only zeros there goes unnoticed).
  static bool CanaryIntact(const Stack& s) {
    if (s.guard != nullptr) return true;
    const uint64_t* w = reinterpret_cast<const uint64_t*>(s.base - kCanaryBytes);
    uint64_t any = 0;
    for (size_t i = 0; i < kCanaryBytes / 8; ++i) any |= w[i];
    return any == 0;
  }
  // How many guarded stacks one process may hold, derived from
  // /proc/sys/vm/max_map_count (a quarter of it, at most 16,384).
  static size_t MaxGuardedStacks();

 private:
  Stack NewGuarded();
  Stack NewFromSlab();

  size_t stack_size_;
  size_t page_;
  size_t guarded_ = 0;
  std::vector<Stack> free_;
  size_t trimmed_ = 0;  // free_[0, trimmed_) were trimmed and not used since
  std::vector<Stack> all_;  // every stack ever made, to unmap at the end
  struct Slab {
    char* mem;
    size_t bytes;
  };
  std::vector<Slab> slabs_;
  std::vector<Stack> slab_free_;
};

}  // namespace internal
}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_INTERNAL_STACK_POOL_H_
