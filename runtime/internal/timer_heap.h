// An indexed 4-ary min-heap of timers, shared by every hub backend.
//
// Each entry records its own position, so cancelling or re-arming a timer is
// O(log n) without a search. Order: earliest deadline first; for equal
// deadlines, higher priority first, then the order in which the timers were
// started (a per-hub sequence number), which makes the order total and
// deterministic.
#ifndef GEVENTPP_RUNTIME_INTERNAL_TIMER_HEAP_H_
#define GEVENTPP_RUNTIME_INTERNAL_TIMER_HEAP_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/time/time.h"

namespace gevent {
namespace internal {

struct TimerEntry {
  static constexpr size_t kNotInHeap = ~size_t{0};
  absl::Time deadline;
  int priority = 0;
  uint64_t seq = 0;
  size_t heap_index = kNotInHeap;
  bool in_heap() const { return heap_index != kNotInHeap; }
};

class TimerHeap {
 public:
  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  TimerEntry* top() const { return heap_.empty() ? nullptr : heap_[0]; }

  void push(TimerEntry* t) {
    t->heap_index = heap_.size();
    heap_.push_back(t);
    SiftUp(t->heap_index);
  }

  void remove(TimerEntry* t) {
    size_t i = t->heap_index;
    TimerEntry* last = heap_.back();
    heap_.pop_back();
    t->heap_index = TimerEntry::kNotInHeap;
    if (last == t) return;
    heap_[i] = last;
    last->heap_index = i;
    if (i > 0 && Less(last, heap_[Parent(i)])) {
      SiftUp(i);
    } else {
      SiftDown(i);
    }
  }

  TimerEntry* pop() {
    TimerEntry* t = top();
    if (t != nullptr) remove(t);
    return t;
  }

  static bool Less(const TimerEntry* a, const TimerEntry* b) {
    if (a->deadline != b->deadline) return a->deadline < b->deadline;
    if (a->priority != b->priority) return a->priority > b->priority;
    return a->seq < b->seq;
  }

 private:
  static constexpr size_t kArity = 4;
  static size_t Parent(size_t i) { return (i - 1) / kArity; }

  void Place(size_t i, TimerEntry* t) {
    heap_[i] = t;
    t->heap_index = i;
  }

  void SiftUp(size_t i) {
    TimerEntry* t = heap_[i];
    while (i > 0) {
      size_t p = Parent(i);
      if (!Less(t, heap_[p])) break;
      Place(i, heap_[p]);
      i = p;
    }
    Place(i, t);
  }

  void SiftDown(size_t i) {
    TimerEntry* t = heap_[i];
    const size_t n = heap_.size();
    for (;;) {
      size_t first = i * kArity + 1;
      if (first >= n) break;
      size_t best = first;
      size_t end = first + kArity < n ? first + kArity : n;
      for (size_t c = first + 1; c < end; ++c) {
        if (Less(heap_[c], heap_[best])) best = c;
      }
      if (!Less(heap_[best], t)) break;
      Place(i, heap_[best]);
      i = best;
    }
    Place(i, t);
  }

  std::vector<TimerEntry*> heap_;
};

}  // namespace internal
}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_INTERNAL_TIMER_HEAP_H_
