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
// slab stack below it (or in a spare page under the slab for the lowest).
// The canary is a fixed non-zero pattern, written when the stack is first
// handed out (into the top page of the stack below, which was handed out
// before it and whose own first frame touched that page already), so an
// overflow is seen even when it writes only zeros there. It is checked
// whenever the greenlet switches out. The stack's own low pages are never
// touched unless the greenlet really runs that deep. Either way an overflow
// ends the process with a message naming the greenlet.
//
// A greenlet may ask for a stack of another size (RawGreenlet::
// set_stack_size): such a stack is mapped for it alone, with a guard page,
// and unmapped when it finishes (AcquireSized / Release).
#ifndef GEVENTPP_RUNTIME_INTERNAL_STACK_POOL_H_
#define GEVENTPP_RUNTIME_INTERNAL_STACK_POOL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

// Bytes below an unguarded stack's base that hold its canary, and the word
// they repeat (non-zero in every byte, and not a value code tends to write:
// not 0, -1, a small integer, a pointer or ASCII text).
constexpr size_t kCanaryBytes = 64;
constexpr uint64_t kCanaryWord = 0xA5C3961E7B2DF08DULL;

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
  // A stack of `bytes` (a multiple of the page size): from the pool if that
  // is the pool's size, else mapped for the caller alone, with a guard page
  // (or a canary if the kernel refuses the guard), and unmapped by Release.
  Stack AcquireSized(size_t bytes);
  void Release(const Stack& s) {
    if (__builtin_expect(s.size != stack_size_, 0)) {
      ReleaseSized(s);
      return;
    }
    free_.push_back(s);
  }
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
  // unguarded one is intact while the kCanaryBytes below its base still
  // hold kCanaryWord (an overflow that happens to write that very pattern
  // there, or that skips the line without writing it, goes unnoticed).
  static bool CanaryIntact(const Stack& s) {
    if (s.guard != nullptr) return true;
#if defined(__SSE2__)
    // Four 16-byte compares (the line is 16-byte aligned: bases are pages):
    // about 14 instructions, fewer than the 8-word loop.
    static_assert(kCanaryBytes == 64, "four 16-byte lanes");
    const __m128i* v = reinterpret_cast<const __m128i*>(s.base - kCanaryBytes);
    const __m128i p = _mm_set1_epi64x(static_cast<long long>(kCanaryWord));
    const __m128i eq = _mm_and_si128(
        _mm_and_si128(_mm_cmpeq_epi8(_mm_load_si128(v), p),
                      _mm_cmpeq_epi8(_mm_load_si128(v + 1), p)),
        _mm_and_si128(_mm_cmpeq_epi8(_mm_load_si128(v + 2), p),
                      _mm_cmpeq_epi8(_mm_load_si128(v + 3), p)));
    return _mm_movemask_epi8(eq) == 0xFFFF;
#else
    const uint64_t* w = reinterpret_cast<const uint64_t*>(s.base - kCanaryBytes);
    uint64_t any = 0;
    for (size_t i = 0; i < kCanaryBytes / 8; ++i) any |= w[i] ^ kCanaryWord;
    return any == 0;
#endif
  }
  // Writes the canary of the unguarded stack whose base is `base`.
  static void WriteCanary(char* base);
  // How many guarded stacks one process may hold, derived from
  // /proc/sys/vm/max_map_count (a quarter of it, at most 16,384).
  static size_t MaxGuardedStacks();

 private:
  Stack NewGuarded();
  Stack NewFromSlab();
  void ReleaseSized(const Stack& s);

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
  size_t sized_made_ = 0;  // stacks AcquireSized mapped (for their colours)
};

}  // namespace internal
}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_INTERNAL_STACK_POOL_H_
