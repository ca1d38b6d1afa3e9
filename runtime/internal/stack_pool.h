// Greenlet stacks: mmap'd, pooled per thread, with guard pages where the
// kernel's mapping limit allows.
//
// A fresh mmap'd stack costs microseconds; a pooled one costs nanoseconds, so
// stacks are recycled (most recently freed first, while it is still warm in
// the cache), and one pool serves every hub of a thread. Freed stacks stay
// resident until Trim() (the hub trims when it is destroyed). Each guarded stack costs two kernel mappings (the guard page and
// the stack), and Linux allows about 65,530 per process, so only the first
// `kMaxGuardedStacks` stacks get a guard page; the rest are carved from large
// unguarded slabs and protected by a canary word at their low end that is
// checked whenever their greenlet switches out. Either way an overflow ends
// the process with a message naming the greenlet.
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
  size_t size = 0;          // usable bytes
  char* guard = nullptr;    // guard page below `base`, or nullptr
  unsigned valgrind_id = 0;
  char* top() const { return base + size; }
  bool valid() const { return base != nullptr; }
};

// The canary written at the low end of every stack.
constexpr uint64_t kStackCanary = 0x67657665'6e747070ULL;  // "geventpp"

class StackPool {
 public:
  static constexpr size_t kDefaultStackSize = 128 * 1024;
  static constexpr size_t kSlabStacks = 64;
  // Stacks Trim() keeps resident by default.
  static constexpr size_t kWarmStacks = 256;

  explicit StackPool(size_t stack_size = kDefaultStackSize);
  ~StackPool();
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  Stack Acquire();
  void Release(const Stack& s);
  // Gives the pages of all but the `keep_warm` most recently freed stacks
  // back to the kernel (their mappings stay). Returns how many were trimmed.
  size_t Trim(size_t keep_warm = kWarmStacks);
  // The pool of the calling thread, shared by its hubs.
  static std::shared_ptr<StackPool> ForThisThread();

  size_t stack_size() const { return stack_size_; }
  size_t guarded_count() const { return guarded_; }
  size_t free_count() const { return free_.size(); }

  // True if `addr` lies in the guard page of `s`.
  static bool InGuard(const Stack& s, const void* addr);
  // Guarded stacks rely on their guard page and carry no canary.
  static bool CanaryIntact(const Stack& s) {
    return s.guard != nullptr ||
           *reinterpret_cast<const uint64_t*>(s.base) == kStackCanary;
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
