// A 4-ary min-heap of timers, shared by every hub backend.
//
// Order: earliest deadline first; for equal deadlines, higher priority
// first, then the order in which the timers were started (a per-hub
// sequence number), which makes the order total and deterministic.
//
// Memory layout, because timers live in the frames of sleeping greenlets,
// and with thousands of sleepers every touch of one (or of anything not
// used lately) is a cache miss:
//  - the heap holds each node's sort key (deadline and a tie key, 16 bytes,
//    compared as one 128-bit number), so sifting never touches the timers;
//    the four children of a node share one 64-byte cache line;
//  - a node names a slot, in a parallel array of 4-byte slot numbers; a
//    dense side table holds, per slot, the timer;
//  - nodes do not know their position, and no table tracks it: a pop moves
//    about log4(n) nodes and writes nothing else. Removing a timer that is
//    not at the top or the bottom (a Timeout cancelled, a sleep cut short)
//    marks its slot dead instead; a dead node is dropped when it reaches the top, and the
//    heap is rebuilt without its dead nodes when they outnumber the live
//    ones, so memory stays within twice the live timers (plus 64).
#ifndef GEVENTPP_RUNTIME_INTERNAL_TIMER_HEAP_H_
#define GEVENTPP_RUNTIME_INTERNAL_TIMER_HEAP_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
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
  TimerHeap() = default;
  ~TimerHeap() { Free(keys_); }
  TimerHeap(const TimerHeap&) = delete;
  TimerHeap& operator=(const TimerHeap&) = delete;

  // Live timers (dead nodes not counted).
  bool empty() const { return live_ == 0; }
  size_t size() const { return live_; }
  // The earliest timer; the top node is never dead.
  TimerEntry* top() const { return live_ == 0 ? nullptr : entry_[slots_[kRoot]]; }
  // The earliest deadline; the heap must not be empty.
  int64_t top_deadline() const { return keys_[kRoot].deadline; }
  // The low 48 bits of the earliest timer's start sequence number, without
  // touching the timer; the heap must not be empty.
  uint64_t top_seq48() const { return keys_[kRoot].tie & kSeqMask; }
  // Nodes in the heap, dead ones included (for tests).
  size_t nodes() const { return nodes_; }

  void push(TimerEntry* t) {
    uint32_t slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = static_cast<uint32_t>(entry_.size());
      entry_.push_back(nullptr);
    }
    entry_[slot] = t;
    t->slot = slot;
    if (kRoot + nodes_ >= capacity_) Grow();
    ++live_;
    SiftUp(nodes_++, Key{t->deadline, TieKey(*t)}, slot);
  }

  void remove(TimerEntry* t) {
    const uint32_t slot = t->slot;
    t->slot = TimerEntry::kNoSlot;
    entry_[slot] = nullptr;
    --live_;
    if (slots_[kRoot] == slot) {
      PopRoot();
      return;
    }
    if (slots_[kRoot + nodes_ - 1] == slot) {
      // The last node (a timer started and cancelled while nothing was
      // started after it: a Timeout around a quick operation): just drop it.
      free_.push_back(slot);
      --nodes_;
      return;
    }
    ++dead_;
    if (dead_ > live_ + 64) Compact();
  }

  TimerEntry* pop() {
    if (live_ == 0) return nullptr;
    TimerEntry* t = entry_[slots_[kRoot]];
    t->slot = TimerEntry::kNoSlot;
    entry_[slots_[kRoot]] = nullptr;
    --live_;
    PopRoot();
    return t;
  }

  // pop() without touching the timer: the caller sets its `slot` to
  // TimerEntry::kNoSlot before anything else looks at it. Popping several
  // timers this way and then touching them lets their cache misses (they
  // live in sleeping greenlets' frames) overlap.
  TimerEntry* pop_untouched() {
    TimerEntry* t = entry_[slots_[kRoot]];
    entry_[slots_[kRoot]] = nullptr;
    --live_;
    PopRoot();
    return t;
  }

  static bool Less(const TimerEntry* a, const TimerEntry* b) {
    return Order(Key{a->deadline, TieKey(*a)}) < Order(Key{b->deadline, TieKey(*b)});
  }

 private:
  static constexpr size_t kArity = 4;
  // Node i lives at index i + kRoot of the arrays, so that the children of
  // any node (4i+1 .. 4i+4) start at a multiple of 4: one cache line.
  static constexpr size_t kRoot = 3;
  static constexpr uint64_t kSeqMask = (uint64_t{1} << 48) - 1;
  struct Key {
    int64_t deadline;
    uint64_t tie;  // (32767 - priority) << 48 | seq: smaller fires first
  };
  static uint64_t TieKey(const TimerEntry& t) {
    int p = t.priority;
    if (p > 32767) p = 32767;
    if (p < -32768) p = -32768;
    return (static_cast<uint64_t>(32767 - p) << 48) | (t.seq & kSeqMask);
  }
  // (deadline, tie) as one 128-bit number: one compare, no branch on ties.
  static __int128 Order(const Key& k) {
    return (static_cast<__int128>(k.deadline) << 64) | static_cast<__int128>(k.tie);
  }

  // Removes the top node (its slot's timer, if any, already detached), then
  // every dead node that comes up to the top.
  void PopRoot() {
    for (;;) {
      free_.push_back(slots_[kRoot]);
      --nodes_;
      if (nodes_ == 0) return;
      const Key last = keys_[kRoot + nodes_];
      const uint32_t last_slot = slots_[kRoot + nodes_];
      // The hole left at the top goes down to a leaf along the smaller
      // children, and the last node rises from there: it came from the
      // bottom, so it rarely rises far. (One compare a level fewer than
      // sifting it down, and no unpredictable stop on the way down.)
      SiftUp(HoleToLeaf(), last, last_slot);
      if (entry_[slots_[kRoot]] != nullptr) return;
      --dead_;
    }
  }

  // Node `from` moves to position `to`.
  void Move(size_t to, size_t from) {
    keys_[kRoot + to] = keys_[kRoot + from];
    slots_[kRoot + to] = slots_[kRoot + from];
  }

  // The smallest of the children that start at `first` (< nodes_), and its
  // order. (Selects without branching on the compares.)
  size_t SmallestChild(size_t first, __int128* order) const {
    size_t best = first;
    __int128 best_order = Order(keys_[kRoot + first]);
    const size_t end = first + kArity < nodes_ ? first + kArity : nodes_;
    for (size_t c = first + 1; c < end; ++c) {
      const __int128 o = Order(keys_[kRoot + c]);
      const bool less = o < best_order;
      best = less ? c : best;
      best_order = less ? o : best_order;
    }
    *order = best_order;
    return best;
  }

  // Moves the hole at the top down to a leaf, each level filled by its
  // smallest child; returns the leaf.
  size_t HoleToLeaf() {
    size_t i = 0;
    for (;;) {
      const size_t first = i * kArity + 1;
      if (first >= nodes_) return i;
      __int128 best_order;
      const size_t best = SmallestChild(first, &best_order);
      Move(i, best);
      i = best;
    }
  }

  void SiftUp(size_t i, const Key k, uint32_t slot) {
    const __int128 order = Order(k);
    while (i > 0) {
      const size_t p = (i - 1) / kArity;
      if (!(order < Order(keys_[kRoot + p]))) break;
      Move(i, p);
      i = p;
    }
    keys_[kRoot + i] = k;
    slots_[kRoot + i] = slot;
  }

  void SiftDown(size_t i, const Key k, uint32_t slot) {
    const __int128 order = Order(k);
    for (;;) {
      const size_t first = i * kArity + 1;
      if (first >= nodes_) break;
      __int128 best_order;
      const size_t best = SmallestChild(first, &best_order);
      if (!(best_order < order)) break;
      Move(i, best);
      i = best;
    }
    keys_[kRoot + i] = k;
    slots_[kRoot + i] = slot;
  }

  // Drops every dead node and rebuilds the heap (bottom-up, O(n)). The
  // order of the live timers is their keys' order: nothing changes for them.
  void Compact() {
    size_t n = 0;
    for (size_t i = 0; i < nodes_; ++i) {
      const uint32_t slot = slots_[kRoot + i];
      if (entry_[slot] == nullptr) {
        free_.push_back(slot);
        continue;
      }
      Move(n++, i);
    }
    nodes_ = n;
    dead_ = 0;
    for (size_t i = n / kArity + 1; i-- > 0;) {
      if (i < n) SiftDown(i, keys_[kRoot + i], slots_[kRoot + i]);
    }
  }

  void Grow() {
    const size_t capacity = capacity_ == 0 ? 64 : capacity_ * 2;
    Key* keys = static_cast<Key*>(
        ::operator new(capacity * sizeof(Key), std::align_val_t{64}));
    if (keys_ != nullptr) memcpy(keys, keys_, capacity_ * sizeof(Key));
    Free(keys_);
    keys_ = keys;
    slots_.resize(capacity);
    capacity_ = capacity;
  }
  static void Free(Key* keys) {
    if (keys != nullptr) ::operator delete(keys, std::align_val_t{64});
  }

  Key* keys_ = nullptr;          // 64-byte aligned, capacity_ of them
  std::vector<uint32_t> slots_;  // per node (same index): its slot
  size_t capacity_ = 0;
  size_t nodes_ = 0;             // live and dead
  size_t live_ = 0;
  size_t dead_ = 0;
  std::vector<TimerEntry*> entry_;  // per slot: the timer; nullptr: dead
  std::vector<uint32_t> free_;      // free slots, most recent last
};

}  // namespace internal
}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_INTERNAL_TIMER_HEAP_H_
