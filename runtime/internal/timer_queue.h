// The hub's queue of timers, shared by every hub backend: the timers due
// soon (the near part: a sorted run and a small 4-ary min-heap), in front
// of a hierarchical timing wheel for the rest.
//
// Order: earliest deadline first; for equal deadlines, higher priority
// first, then the order in which the timers were started (a per-hub
// sequence number), which makes the order total and deterministic. Every
// timer comes out in exactly that order, whichever part it waited in.
//
// Why two parts: a heap of n timers costs about log4(n) dependent cache
// misses a pop, and a hub with 10,000 sleepers pops one per wake-up. Most
// timers are far from due when they start (a Timeout, a periodic sleep), so
// they go, in O(1), into the wheel: buckets of 2^22 ns (4.2 ms) for the
// current 1.07 s block, buckets of 1.07 s for the current 4.6 min block,
// and one unsorted list beyond. Only when the near part runs dry does the
// next non-empty bucket move into it (a bucket of a coarser level is spread
// over the finer one when time enters it): each timer moves at most three
// times. The bucket comes in as a run, sorted once, latest first, so a pop
// takes its back; timers started later but due before the horizon go to
// the heap, and a pop takes whichever front is earlier. (A bucket of 10k
// sleepers holds about 80 timers: a pop from a heap of them would cost
// about 280 instructions; the run's sort costs about 60 a timer and a pop
// from it about 10.)
// The invariant: every timer in the near part is due before `horizon_`,
// every timer in the wheel at or after it, and the near part is empty only
// if the wheel is; the run's back and the heap's top are never dead.
//
// Memory layout, because timers live in the frames of sleeping greenlets,
// and with thousands of sleepers every touch of one (or of anything not
// used lately) is a cache miss:
//  - the heap and the wheel hold each timer's sort key (deadline and a tie
//    key, 16 bytes, compared as one 128-bit number), so ordering never
//    touches the timers; the four children of a heap node share one 64-byte
//    cache line;
//  - a node names a slot, in a parallel array of 4-byte slot numbers; a
//    dense side table holds, per slot, the timer;
//  - nodes do not know their position, and no table tracks it: a pop moves
//    about log4(n) nodes and writes nothing else. Removing a timer that is
//    not at the top or the bottom of the heap, or the last one added to its
//    bucket (a Timeout cancelled, a sleep cut short), marks its slot dead
//    instead; a dead node is dropped when it reaches the top or its bucket
//    moves, and both parts are rebuilt without their dead nodes when these
//    outnumber the live ones, so memory stays within twice the live timers
//    (plus 64).
#ifndef GEVENTPP_RUNTIME_INTERNAL_TIMER_QUEUE_H_
#define GEVENTPP_RUNTIME_INTERNAL_TIMER_QUEUE_H_

#include <algorithm>
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
  // Who started it (a greenlet id, for scheduling policies; ids past 2^32
  // wrap).
  uint32_t owner = 0;
  uint64_t seq = 0;  // start order; only its low 48 bits order ties
  uint32_t slot = kNoSlot;  // the heap's handle, while in the heap
  bool in_heap() const { return slot != kNoSlot; }
};

class TimerQueue {
 public:
  TimerQueue() = default;
  ~TimerQueue() { Free(keys_); }
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  // Live timers (dead nodes not counted).
  bool empty() const { return live_ == 0; }
  size_t size() const { return live_ + far_live_; }
  // The earliest timer (always in the near part, at the front of the run or
  // the top of the heap, never dead).
  TimerEntry* top() const { return live_ == 0 ? nullptr : entry_[FrontSlot()]; }
  // The earliest deadline; the queue must not be empty.
  int64_t top_deadline() const { return FrontKey().deadline; }
  // The low 48 bits of the earliest timer's start sequence number, without
  // touching the timer; the queue must not be empty.
  uint64_t top_seq48() const { return FrontKey().tie & kSeqMask; }
  // Nodes held, dead ones included (for tests).
  size_t nodes() const { return nodes_ + run_.size() + far_nodes_; }
  // Timers in the heap part, live ones only (for tests).
  size_t in_heap_part() const { return live_; }

  // (Always inlined: the hub's two timer starts are its only callers.)
  __attribute__((always_inline)) void push(TimerEntry* t) {
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
    const Key k{t->deadline, TieKey(*t)};
    const uint64_t u = Unsigned(t->deadline);
    if (live_ == 0 && far_live_ == 0) {
      // Nothing pending: the horizon moves just past this timer.
      if (far_nodes_ != 0) DropFar();
      horizon_ = (u | kBucketMask) == kEnd ? kEnd : (u | kBucketMask) + 1;
      HeapPush(k, slot);
      return;
    }
    if (InHeapPart(u)) {
      HeapPush(k, slot);
      return;
    }
    WheelPut(FarNode{k, slot}, u);
    ++far_live_;
  }

  void remove(TimerEntry* t) {
    const uint32_t slot = t->slot;
    t->slot = TimerEntry::kNoSlot;
    entry_[slot] = nullptr;
    const uint64_t u = Unsigned(t->deadline);
    if (!InHeapPart(u)) {
      --far_live_;
      // The last one put in its bucket (a Timeout cancelled soon after it
      // started): dropped at once.
      std::vector<FarNode>& bucket = BucketFor(u);
      if (!bucket.empty() && bucket.back().slot == slot) {
        bucket.pop_back();
        --far_nodes_;
        free_.push_back(slot);
        if (bucket.empty()) ClearBit(u);
      } else {
        ++far_dead_;
        MaybeCompact();
      }
      return;
    }
    --live_;
    if (!run_.empty() && run_.back().slot == slot) {
      PopRun();
      if (live_ == 0 && far_live_ != 0) Refill();
      return;
    }
    if (nodes_ == 0) {  // in the run, not at its front
      ++dead_;
      MaybeCompact();
      return;
    }
    if (slots_[kRoot] == slot) {
      PopRoot();
      if (live_ == 0 && far_live_ != 0) Refill();
      return;
    }
    if (slots_[kRoot + nodes_ - 1] == slot) {
      // The last node (a timer started and cancelled while nothing was
      // started after it): just drop it.
      free_.push_back(slot);
      --nodes_;
      return;
    }
    ++dead_;
    MaybeCompact();
  }

  TimerEntry* pop() {
    if (live_ == 0) return nullptr;
    TimerEntry* t = pop_untouched();
    t->slot = TimerEntry::kNoSlot;
    return t;
  }

  // pop() without touching the timer: the caller sets its `slot` to
  // TimerEntry::kNoSlot before anything else looks at it. Popping several
  // timers this way and then touching them lets their cache misses (they
  // live in sleeping greenlets' frames) overlap.
  TimerEntry* pop_untouched() {
    const bool from_run = RunFirst();
    const uint32_t slot = from_run ? run_.back().slot : slots_[kRoot];
    TimerEntry* t = entry_[slot];
    entry_[slot] = nullptr;
    --live_;
    if (from_run) {
      PopRun();
    } else {
      PopRoot();
    }
    if (live_ == 0 && far_live_ != 0) Refill();
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
  // The wheel: level 0 has 256 buckets of 2^22 ns, level 1 256 of 2^30 ns;
  // beyond 2^38 ns (4.6 minutes) from the current block, one list.
  static constexpr int kShift0 = 22;
  static constexpr int kShift1 = kShift0 + 8;
  static constexpr int kShift2 = kShift1 + 8;
  static constexpr uint64_t kBucketMask = (uint64_t{1} << kShift0) - 1;
  // A horizon past the end of time: the heap holds everything.
  static constexpr uint64_t kEnd = ~uint64_t{0};
  struct Key {
    int64_t deadline;
    uint64_t tie;  // (32767 - priority) << 48 | seq: smaller fires first
  };
  struct FarNode {
    Key key;
    uint32_t slot;
  };
  static uint64_t TieKey(const TimerEntry& t) {
    int p = t.priority;
    if (p > 32767) p = 32767;
    if (p < -32768) p = -32768;
    return (static_cast<uint64_t>(32767 - p) << 48) | (t.seq & kSeqMask);
  }
  // (deadline, tie) as one 128-bit number: one compare, no branch on ties.
  // (The deadline as Unsigned(): signed shifts of negative numbers are not
  // defined.)
  using Ordinal = unsigned __int128;
  static Ordinal Order(const Key& k) {
    return (static_cast<Ordinal>(Unsigned(k.deadline)) << 64) | k.tie;
  }
  // Deadlines as unsigned numbers in the same order (the wheel shifts them).
  static uint64_t Unsigned(int64_t deadline) {
    return static_cast<uint64_t>(deadline) ^ (uint64_t{1} << 63);
  }

  // Where a timer due at `u` waits: the heap, or the wheel.
  bool InHeapPart(uint64_t u) const { return u < horizon_ || horizon_ == kEnd; }

  // ---- the near part: the run and the heap

  // True if the earliest timer is the run's front (the near part must not
  // be empty).
  bool RunFirst() const {
    return !run_.empty() && (nodes_ == 0 || Order(run_.back().key) < Order(keys_[kRoot]));
  }
  uint32_t FrontSlot() const { return RunFirst() ? run_.back().slot : slots_[kRoot]; }
  const Key& FrontKey() const { return RunFirst() ? run_.back().key : keys_[kRoot]; }

  // Removes the run's front node (its slot's timer, if any, already
  // detached), then every dead node that comes up to the front.
  void PopRun() {
    for (;;) {
      free_.push_back(run_.back().slot);
      run_.pop_back();
      if (run_.empty() || entry_[run_.back().slot] != nullptr) return;
      --dead_;
    }
  }

  void HeapPush(const Key& k, uint32_t slot) {
    if (kRoot + nodes_ >= capacity_) Grow();
    ++live_;
    SiftUp(nodes_++, k, slot);
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
  size_t SmallestChild(size_t first, Ordinal* order) const {
    size_t best = first;
    Ordinal best_order = Order(keys_[kRoot + first]);
    const size_t end = first + kArity < nodes_ ? first + kArity : nodes_;
    for (size_t c = first + 1; c < end; ++c) {
      const Ordinal o = Order(keys_[kRoot + c]);
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
      Ordinal best_order;
      const size_t best = SmallestChild(first, &best_order);
      Move(i, best);
      i = best;
    }
  }

  void SiftUp(size_t i, const Key k, uint32_t slot) {
    const Ordinal order = Order(k);
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
    const Ordinal order = Order(k);
    for (;;) {
      const size_t first = i * kArity + 1;
      if (first >= nodes_) break;
      Ordinal best_order;
      const size_t best = SmallestChild(first, &best_order);
      if (!(best_order < order)) break;
      Move(i, best);
      i = best;
    }
    keys_[kRoot + i] = k;
    slots_[kRoot + i] = slot;
  }

  // Drops the run's and the heap's dead nodes and rebuilds the heap
  // (bottom-up, O(n)). The order of the live timers is their keys' order:
  // nothing changes for them.
  void CompactHeap() {
    DropDead(&run_);
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

  // ---- the wheel

  // Where a timer due at `u` (>= horizon_) belongs now: a level-0 bucket if
  // it is due in the horizon's 2^30 ns block, a level-1 bucket if in its
  // 2^38 ns block, else the list beyond. (Level 1's bucket for the current
  // block is always empty: it is spread over level 0 when time enters it.)
  int LevelFor(uint64_t u) const {
    if ((u >> kShift1) == (horizon_ >> kShift1)) return 0;
    if ((u >> kShift2) == (horizon_ >> kShift2)) return 1;
    return 2;
  }
  std::vector<FarNode>& BucketFor(uint64_t u) {
    switch (LevelFor(u)) {
      case 0: return level0_[(u >> kShift0) & 255];
      case 1: return level1_[(u >> kShift1) & 255];
      default: return beyond_;
    }
  }
  void WheelPut(const FarNode& n, uint64_t u) {
    switch (LevelFor(u)) {
      case 0: {
        const size_t i = (u >> kShift0) & 255;
        level0_[i].push_back(n);
        bits0_[i >> 6] |= uint64_t{1} << (i & 63);
        break;
      }
      case 1: {
        const size_t i = (u >> kShift1) & 255;
        level1_[i].push_back(n);
        bits1_[i >> 6] |= uint64_t{1} << (i & 63);
        break;
      }
      default:
        beyond_.push_back(n);
        break;
    }
    ++far_nodes_;
  }
  void ClearBit(uint64_t u) {
    switch (LevelFor(u)) {
      case 0: {
        const size_t i = (u >> kShift0) & 255;
        bits0_[i >> 6] &= ~(uint64_t{1} << (i & 63));
        break;
      }
      case 1: {
        const size_t i = (u >> kShift1) & 255;
        bits1_[i >> 6] &= ~(uint64_t{1} << (i & 63));
        break;
      }
      default:
        break;
    }
  }
  // The first set bit at or after `from` (< 256), or 256.
  static size_t FirstBit(const uint64_t* bits, size_t from) {
    for (size_t w = from >> 6; w < 4; ++w) {
      uint64_t b = bits[w];
      if (w == (from >> 6)) b &= ~uint64_t{0} << (from & 63);
      if (b != 0) return w * 64 + static_cast<size_t>(__builtin_ctzll(b));
    }
    return 256;
  }

  // Moves the horizon to `h` (> horizon_, a multiple of 2^22 ns; nothing in
  // the wheel is due before it): when it enters a new 2^38 ns block, the
  // list beyond gives up that block's timers; when it enters a new 2^30 ns
  // block, that block's level-1 bucket is spread over level 0.
  void AdvanceTo(uint64_t h) {
    const uint64_t old = horizon_;
    horizon_ = h;
    if ((h >> kShift2) != (old >> kShift2)) {
      // Level 1 is empty: only buckets after the old block's could hold
      // anything, and time left all of them behind.
      Rewheel(&beyond_);
    } else if ((h >> kShift1) != (old >> kShift1)) {
      const size_t i = (h >> kShift1) & 255;
      bits1_[i >> 6] &= ~(uint64_t{1} << (i & 63));
      Rewheel(&level1_[i]);
    }
  }

  // Puts the nodes of `bucket` where they belong now.
  void Rewheel(std::vector<FarNode>* bucket) {
    Drain(bucket, [this](const FarNode& n) { WheelPut(n, Unsigned(n.key.deadline)); });
  }

  // Empties `bucket`: its dead nodes go, `put` gets each live one (and may
  // put it back into the same bucket).
  template <typename Put>
  void Drain(std::vector<FarNode>* bucket, Put put) {
    std::vector<FarNode> moving;
    moving.swap(*bucket);
    far_nodes_ -= moving.size();
    for (const FarNode& n : moving) {
      if (entry_[n.slot] == nullptr) {
        free_.push_back(n.slot);
        --far_dead_;
        continue;
      }
      put(n);
    }
    if (bucket->empty()) {
      moving.clear();
      moving.swap(*bucket);  // its memory serves again
    }
  }

  // The heap ran dry and the wheel is not empty: moves the wheel's next
  // timers into the heap.
  void Refill() {
    while (live_ == 0 && far_live_ != 0) {
      const size_t i0 = (horizon_ >> kShift0) & 255;
      const size_t j = FirstBit(bits0_, i0);
      if (j < 256) {
        // The bucket's timers go to the heap; the horizon to its end.
        const uint64_t block = horizon_ >> kShift1 << kShift1;
        const uint64_t end = block + (static_cast<uint64_t>(j + 1) << kShift0);
        bits0_[j >> 6] &= ~(uint64_t{1} << (j & 63));
        // Into the run (empty, like the heap: nothing is live there),
        // sorted latest first: each pop then takes its back.
        Drain(&level0_[j], [this](const FarNode& n) {
          --far_live_;
          ++live_;
          run_.push_back(n);
        });
        std::sort(run_.begin(), run_.end(), [](const FarNode& a, const FarNode& b) {
          return Order(b.key) < Order(a.key);
        });
        if (end == 0) {
          // The last bucket of all time: everything left was in it.
          horizon_ = kEnd;
        } else {
          AdvanceTo(end);
        }
        continue;
      }
      const size_t i1 = (horizon_ >> kShift1) & 255;
      const size_t m = i1 == 255 ? 256 : FirstBit(bits1_, i1 + 1);
      if (m < 256) {
        AdvanceTo(horizon_ >> kShift2 << kShift2 |
                  static_cast<uint64_t>(m) << kShift1);
        continue;
      }
      // Only the list beyond is left: on to the block of its earliest.
      uint64_t earliest = ~uint64_t{0};
      for (const FarNode& n : beyond_) {
        if (entry_[n.slot] != nullptr) {
          const uint64_t u = Unsigned(n.key.deadline);
          if (u < earliest) earliest = u;
        }
      }
      AdvanceTo(earliest & ~kBucketMask);
    }
  }

  // Every node of the wheel goes (its timers are all dead).
  void DropFar() {
    for (auto* level : {level0_, level1_}) {
      for (size_t i = 0; i < 256; ++i) {
        for (const FarNode& n : level[i]) free_.push_back(n.slot);
        level[i].clear();
      }
    }
    for (const FarNode& n : beyond_) free_.push_back(n.slot);
    beyond_.clear();
    for (size_t w = 0; w < 4; ++w) bits0_[w] = bits1_[w] = 0;
    far_nodes_ = 0;
    far_dead_ = 0;
  }

  // Drops the dead nodes of `nodes` (a bucket or the run), keeping the
  // order of the others; returns how many it dropped.
  size_t DropDead(std::vector<FarNode>* nodes) {
    size_t n = 0;
    for (size_t i = 0; i < nodes->size(); ++i) {
      const FarNode& node = (*nodes)[i];
      if (entry_[node.slot] == nullptr) {
        free_.push_back(node.slot);
        continue;
      }
      (*nodes)[n++] = node;
    }
    const size_t dropped = nodes->size() - n;
    nodes->resize(n);
    return dropped;
  }

  // Drops the wheel's dead nodes.
  void CompactWheel() {
    auto sweep = [this](std::vector<FarNode>& bucket) {
      far_nodes_ -= DropDead(&bucket);
      return !bucket.empty();
    };
    for (size_t i = 0; i < 256; ++i) {
      if (!sweep(level0_[i])) bits0_[i >> 6] &= ~(uint64_t{1} << (i & 63));
      if (!sweep(level1_[i])) bits1_[i >> 6] &= ~(uint64_t{1} << (i & 63));
    }
    sweep(beyond_);
    far_dead_ = 0;
  }

  void MaybeCompact() {
    if (dead_ + far_dead_ <= live_ + far_live_ + 64) return;
    if (dead_ != 0) CompactHeap();
    if (far_dead_ != 0) CompactWheel();
  }

  // The run: a bucket's timers, moved in when the near part ran dry, sorted
  // latest first (the earliest at the back). Timers started later into the
  // near part go to the heap; the earlier of the two fronts is the top.
  std::vector<FarNode> run_;
  // The heap.
  Key* keys_ = nullptr;          // 64-byte aligned, capacity_ of them
  std::vector<uint32_t> slots_;  // per node (same index): its slot
  size_t capacity_ = 0;
  size_t nodes_ = 0;             // live and dead
  size_t live_ = 0;              // in the run and the heap
  size_t dead_ = 0;              // in the run and the heap
  // The wheel.
  uint64_t horizon_ = 0;  // (unsigned, see Unsigned) heap < horizon_ <= wheel
  std::vector<FarNode> level0_[256];
  std::vector<FarNode> level1_[256];
  std::vector<FarNode> beyond_;
  uint64_t bits0_[4] = {0, 0, 0, 0};  // non-empty level-0 buckets
  uint64_t bits1_[4] = {0, 0, 0, 0};
  size_t far_nodes_ = 0;
  size_t far_live_ = 0;
  size_t far_dead_ = 0;
  // Slots.
  std::vector<TimerEntry*> entry_;  // per slot: the timer; nullptr: dead
  std::vector<uint32_t> free_;      // free slots, most recent last
};

}  // namespace internal
}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_INTERNAL_TIMER_QUEUE_H_
