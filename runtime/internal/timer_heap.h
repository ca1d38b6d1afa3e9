// An indexed 4-ary min-heap of timers, shared by every hub backend.
//
// Each entry can be found in O(1), so cancelling or re-arming a timer is
// O(log n) without a search. Order: earliest deadline first; for equal
// deadlines, higher priority first, then the order in which the timers were
// started (a per-hub sequence number), which makes the order total and
// deterministic.
//
// Memory layout, because timers live in the frames of sleeping greenlets
// and with thousands of sleepers every touch of one is a cache miss:
//  - the heap array holds each node's sort key inline (deadline and a tie
//    key, 128 bits compared at once), so sifting compares without touching
//    the entries;
//  - a node does not point at its entry but names a slot; two dense side
//    tables hold, per slot, the node's position (4 bytes) and the entry.
//    Moving a node updates its position in the small table, not the entry:
//    a pop moves about log4(n) nodes, and writing each position into its
//    timer would be as many misses on other greenlets' stacks. Freed slots
//    are reused most recent first.
#ifndef GEVENTPP_RUNTIME_INTERNAL_TIMER_HEAP_H_
#define GEVENTPP_RUNTIME_INTERNAL_TIMER_HEAP_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gevent {
namespace internal {

struct TimerEntry {
  static constexpr uint32_t kNoSlot = ~uint32_t{0};
  int64_t deadline = 0;  // nanoseconds (see nanos.h)
  // Higher fires first among equal deadlines; clamped to [-32768, 32767].
  int priority = 0;
  uint64_t seq = 0;  // start order; only its low 48 bits order ties
  uint32_t slot = kNoSlot;  // the heap's handle, while in the heap
  bool in_heap() const { return slot != kNoSlot; }
};

class TimerHeap {
 public:
  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  TimerEntry* top() const {
    return heap_.empty() ? nullptr : entry_[heap_[0].slot];
  }
  // The earliest deadline; the heap must not be empty.
  int64_t top_deadline() const { return heap_[0].deadline; }
  // The low 48 bits of the earliest timer's start sequence number, without
  // touching the timer; the heap must not be empty.
  uint64_t top_seq48() const { return heap_[0].tie & kSeqMask; }
  // The position of `t` in the heap array (for tests).
  size_t index_of(const TimerEntry* t) const { return index_[t->slot]; }

  void push(TimerEntry* t) {
    uint32_t slot;
    if (free_slot_ != kNone) {
      slot = free_slot_;
      free_slot_ = index_[slot];
    } else {
      slot = static_cast<uint32_t>(index_.size());
      index_.push_back(0);
      entry_.push_back(nullptr);
    }
    entry_[slot] = t;
    t->slot = slot;
    const size_t i = heap_.size();
    heap_.push_back(Node{t->deadline, TieKey(*t), slot});
    SiftUp(i, heap_[i]);
  }

  void remove(TimerEntry* t) {
    const uint32_t slot = t->slot;
    const size_t i = index_[slot];
    t->slot = TimerEntry::kNoSlot;
    entry_[slot] = nullptr;
    index_[slot] = free_slot_;
    free_slot_ = slot;
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
    return Less(Node{a->deadline, TieKey(*a), 0}, Node{b->deadline, TieKey(*b), 0});
  }

 private:
  static constexpr size_t kArity = 4;
  static constexpr uint32_t kNone = ~uint32_t{0};
  static constexpr uint64_t kSeqMask = (uint64_t{1} << 48) - 1;
  struct Node {
    int64_t deadline;
    uint64_t tie;  // (32767 - priority) << 48 | seq: smaller fires first
    uint32_t slot;
  };
  static uint64_t TieKey(const TimerEntry& t) {
    int p = t.priority;
    if (p > 32767) p = 32767;
    if (p < -32768) p = -32768;
    return (static_cast<uint64_t>(32767 - p) << 48) | (t.seq & kSeqMask);
  }
  // (deadline, tie) as one 128-bit number: one compare, no branch on ties.
  static __int128 Key(const Node& n) {
    return (static_cast<__int128>(n.deadline) << 64) |
           static_cast<__int128>(n.tie);
  }
  static bool Less(const Node& a, const Node& b) { return Key(a) < Key(b); }
  static size_t Parent(size_t i) { return (i - 1) / kArity; }

  void Place(size_t i, const Node& n) {
    heap_[i] = n;
    index_[n.slot] = static_cast<uint32_t>(i);
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
    const __int128 key = Key(n);
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
      if (!(best_key < key)) break;
      Place(i, heap_[best]);
      i = best;
    }
    Place(i, n);
  }

  std::vector<Node> heap_;
  std::vector<uint32_t> index_;     // per slot: position in heap_ (or the
                                    // next free slot)
  std::vector<TimerEntry*> entry_;  // per slot: the timer
  uint32_t free_slot_ = kNone;
};

}  // namespace internal
}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_INTERNAL_TIMER_HEAP_H_
