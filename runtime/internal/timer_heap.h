// An indexed 4-ary min-heap of timers, shared by every hub backend.
//
// Each entry records its own position, so cancelling or re-arming a timer is
// O(log n) without a search. Order: earliest deadline first; for equal
// deadlines, higher priority first, then the order in which the timers were
// started (a per-hub sequence number), which makes the order total and
// deterministic.
//
// The heap array holds the sort keys inline next to the entry pointer (24
// bytes a node), so sifting compares nodes without touching the entries
// themselves: a timer lives in the frame of the greenlet that sleeps, and
// with thousands of sleepers every such dereference would be a cache miss.
#ifndef GEVENTPP_RUNTIME_INTERNAL_TIMER_HEAP_H_
#define GEVENTPP_RUNTIME_INTERNAL_TIMER_HEAP_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gevent {
namespace internal {

struct TimerEntry {
  static constexpr size_t kNotInHeap = ~size_t{0};
  int64_t deadline = 0;  // nanoseconds (see nanos.h)
  // Higher fires first among equal deadlines; clamped to [-32768, 32767].
  int priority = 0;
  uint64_t seq = 0;  // start order; only its low 48 bits order ties
  size_t heap_index = kNotInHeap;
  bool in_heap() const { return heap_index != kNotInHeap; }
};

class TimerHeap {
 public:
  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  TimerEntry* top() const { return heap_.empty() ? nullptr : heap_[0].entry; }
  // The earliest deadline; the heap must not be empty.
  int64_t top_deadline() const { return heap_[0].deadline; }

  void push(TimerEntry* t) {
    const size_t i = heap_.size();
    heap_.push_back(Node{t->deadline, TieKey(*t), t});
    SiftUp(i, heap_[i]);
  }

  void remove(TimerEntry* t) {
    const size_t i = t->heap_index;
    t->heap_index = TimerEntry::kNotInHeap;
    const Node last = heap_.back();
    heap_.pop_back();
    if (i == heap_.size()) return;  // it was the last node
    if (i > 0 && Less(last, heap_[Parent(i)])) {
      SiftUp(i, last);
    } else {
      SiftDown(i, last);
    }
  }

  TimerEntry* pop() {
    TimerEntry* t = top();
    if (t != nullptr) remove(t);
    return t;
  }

  static bool Less(const TimerEntry* a, const TimerEntry* b) {
    return Less(Node{a->deadline, TieKey(*a), nullptr},
                Node{b->deadline, TieKey(*b), nullptr});
  }

 private:
  static constexpr size_t kArity = 4;
  struct Node {
    int64_t deadline;
    uint64_t tie;  // (32767 - priority) << 48 | seq: smaller fires first
    TimerEntry* entry;
  };
  // (deadline, tie) as one 128-bit number: one compare, no branch on ties.
  static __int128 Key(const Node& n) {
    return (static_cast<__int128>(n.deadline) << 64) |
           static_cast<__int128>(n.tie);
  }
  static uint64_t TieKey(const TimerEntry& t) {
    int p = t.priority;
    if (p > 32767) p = 32767;
    if (p < -32768) p = -32768;
    return (static_cast<uint64_t>(32767 - p) << 48) |
           (t.seq & ((uint64_t{1} << 48) - 1));
  }
  static bool Less(const Node& a, const Node& b) { return Key(a) < Key(b); }
  static size_t Parent(size_t i) { return (i - 1) / kArity; }

  void Place(size_t i, const Node& n) {
    heap_[i] = n;
    n.entry->heap_index = i;
  }

  void SiftUp(size_t i, const Node n) {
    while (i > 0) {
      const size_t p = Parent(i);
      if (!Less(n, heap_[p])) break;
      Place(i, heap_[p]);
      i = p;
    }
    Place(i, n);
  }

  void SiftDown(size_t i, const Node n) {
    const size_t size = heap_.size();
    for (;;) {
      const size_t first = i * kArity + 1;
      if (first >= size) break;
      size_t best = first;
      __int128 best_key = Key(heap_[first]);
      const size_t end = first + kArity < size ? first + kArity : size;
      for (size_t c = first + 1; c < end; ++c) {
        const __int128 k = Key(heap_[c]);
        const bool less = k < best_key;
        best = less ? c : best;
        best_key = less ? k : best_key;
      }
      if (!(best_key < Key(n))) break;
      Place(i, heap_[best]);
      i = best;
    }
    Place(i, n);
  }

  std::vector<Node> heap_;
};

}  // namespace internal
}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_INTERNAL_TIMER_HEAP_H_
