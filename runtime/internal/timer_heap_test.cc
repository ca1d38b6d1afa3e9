// Tests for runtime/internal/timer_heap.h: the 4-ary min-heap that orders
// timers by (deadline, -priority, seq), with lazy removal.
#include "runtime/internal/timer_heap.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/time.h"

namespace gevent {
namespace internal {
namespace {

int64_t At(int64_t ms) { return ms * 1000000; }  // deadlines are in ns

struct RefLess {
  bool operator()(const TimerEntry* a, const TimerEntry* b) const {
    return std::make_tuple(a->deadline, -a->priority, a->seq) <
           std::make_tuple(b->deadline, -b->priority, b->seq);
  }
};

// Checks the heap's top against the reference, every entry's membership,
// and the bound on dead nodes.
void CheckAgainst(const TimerHeap& heap,
                  const std::set<TimerEntry*, RefLess>& ref,
                  const std::vector<std::unique_ptr<TimerEntry>>& all) {
  ASSERT_EQ(heap.size(), ref.size());
  ASSERT_EQ(heap.empty(), ref.empty());
  if (ref.empty()) {
    EXPECT_EQ(heap.top(), nullptr);
  } else {
    EXPECT_EQ(heap.top(), *ref.begin());
  }
  for (const auto& e : all) {
    EXPECT_EQ(e->in_heap(), ref.count(e.get()) == 1);
  }
  EXPECT_GE(heap.nodes(), heap.size());
  EXPECT_LE(heap.nodes(), 2 * heap.size() + 65);
}

TEST(TimerHeap, EmptyHeap) {
  TimerHeap heap;
  EXPECT_TRUE(heap.empty());
  EXPECT_EQ(heap.size(), 0u);
  EXPECT_EQ(heap.top(), nullptr);
  EXPECT_EQ(heap.pop(), nullptr);
}

TEST(TimerHeap, OrderIsDeadlineThenHigherPriorityThenSeq) {
  TimerEntry a, b, c, d, e;
  a.deadline = At(20); a.priority = 0; a.seq = 1;
  b.deadline = At(10); b.priority = 0; b.seq = 2;
  c.deadline = At(10); c.priority = 5; c.seq = 3;   // same deadline, higher priority
  d.deadline = At(10); d.priority = 0; d.seq = 0;   // same deadline and priority, earlier seq
  e.deadline = At(5);  e.priority = -9; e.seq = 9;
  TimerHeap heap;
  for (TimerEntry* t : {&a, &b, &c, &d, &e}) heap.push(t);
  std::vector<TimerEntry*> order;
  while (TimerEntry* t = heap.pop()) {
    EXPECT_FALSE(t->in_heap());
    order.push_back(t);
  }
  EXPECT_EQ(order, (std::vector<TimerEntry*>{&e, &c, &d, &b, &a}));
  EXPECT_TRUE(TimerHeap::Less(&c, &b));
  EXPECT_FALSE(TimerHeap::Less(&b, &c));
  EXPECT_FALSE(TimerHeap::Less(&a, &a));
}

TEST(TimerHeap, RemoveFromAnyPosition) {
  std::vector<std::unique_ptr<TimerEntry>> all;
  TimerHeap heap;
  std::set<TimerEntry*, RefLess> ref;
  for (int i = 0; i < 50; ++i) {
    all.push_back(std::make_unique<TimerEntry>());
    all.back()->deadline = At((i * 37) % 50);
    all.back()->seq = static_cast<uint64_t>(i);
    heap.push(all.back().get());
    ref.insert(all.back().get());
  }
  // Remove the last, the top, and some in the middle.
  for (int i : {49, 0, 25, 13, 7, 31, 48, 1}) {
    TimerEntry* t = all[i].get();
    if (!t->in_heap()) continue;
    heap.remove(t);
    ref.erase(t);
    EXPECT_FALSE(t->in_heap());
    CheckAgainst(heap, ref, all);
  }
  std::vector<TimerEntry*> popped;
  while (TimerEntry* t = heap.pop()) popped.push_back(t);
  EXPECT_EQ(popped, std::vector<TimerEntry*>(ref.begin(), ref.end()));
}

TEST(TimerHeap, RandomInsertRemoveMatchesSortedReference) {
  std::mt19937 rng(12345);
  std::vector<std::unique_ptr<TimerEntry>> all;
  TimerHeap heap;
  std::set<TimerEntry*, RefLess> ref;
  uint64_t seq = 0;
  for (int step = 0; step < 20000; ++step) {
    const int op = static_cast<int>(rng() % 10);
    if (op < 5 || ref.empty()) {
      // Insert (few distinct deadlines and priorities: many ties).
      auto e = std::make_unique<TimerEntry>();
      e->deadline = At(static_cast<int64_t>(rng() % 64));
      e->priority = static_cast<int>(rng() % 3) - 1;
      e->seq = ++seq;
      heap.push(e.get());
      ref.insert(e.get());
      all.push_back(std::move(e));
    } else if (op < 8) {
      // Remove a random live entry.
      auto it = ref.begin();
      std::advance(it, static_cast<long>(rng() % ref.size()));
      TimerEntry* t = *it;
      heap.remove(t);
      ref.erase(it);
      ASSERT_FALSE(t->in_heap());
    } else if (op < 9) {
      // Pop the top.
      TimerEntry* t = heap.pop();
      ASSERT_EQ(t, *ref.begin());
      ref.erase(ref.begin());
    } else {
      // Re-arm a live entry with a new deadline (remove + push).
      auto it = ref.begin();
      std::advance(it, static_cast<long>(rng() % ref.size()));
      TimerEntry* t = *it;
      ref.erase(it);
      heap.remove(t);
      t->deadline = At(static_cast<int64_t>(rng() % 64));
      t->seq = ++seq;
      heap.push(t);
      ref.insert(t);
    }
    ASSERT_EQ(heap.size(), ref.size());
    if (!ref.empty()) ASSERT_EQ(heap.top(), *ref.begin()) << "step " << step;
    if (step % 1000 == 0) CheckAgainst(heap, ref, all);
    if (all.size() > 4000) {
      // Keep memory bounded: drop entries that are no longer in the heap.
      all.erase(std::remove_if(all.begin(), all.end(),
                               [](const std::unique_ptr<TimerEntry>& e) {
                                 return !e->in_heap();
                               }),
                all.end());
    }
  }
  CheckAgainst(heap, ref, all);
  std::vector<TimerEntry*> drained;
  while (TimerEntry* t = heap.pop()) drained.push_back(t);
  EXPECT_EQ(drained, std::vector<TimerEntry*>(ref.begin(), ref.end()));
  EXPECT_TRUE(heap.empty());
}

TEST(TimerHeap, EqualKeysKeepInsertionSeqOrder) {
  std::vector<std::unique_ptr<TimerEntry>> all;
  TimerHeap heap;
  for (uint64_t i = 0; i < 100; ++i) {
    all.push_back(std::make_unique<TimerEntry>());
    all.back()->deadline = At(7);
    all.back()->seq = i;
  }
  // Push in a scrambled order.
  std::mt19937 rng(7);
  std::vector<TimerEntry*> shuffled;
  for (auto& e : all) shuffled.push_back(e.get());
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  for (TimerEntry* t : shuffled) heap.push(t);
  for (uint64_t i = 0; i < 100; ++i) {
    TimerEntry* t = heap.pop();
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->seq, i);
  }
}

// A removed timer that is not at the top stays as a dead node; it must
// never come out of pop() or top(), even once its memory is reused.
TEST(TimerHeap, RemovedTimersNeverComeBack) {
  TimerHeap heap;
  auto a = std::make_unique<TimerEntry>();
  auto b = std::make_unique<TimerEntry>();
  TimerEntry c;
  a->deadline = At(1); a->seq = 1;
  b->deadline = At(2); b->seq = 2;
  c.deadline = At(3); c.seq = 3;
  heap.push(a.get());
  heap.push(b.get());
  heap.push(&c);
  heap.remove(b.get());  // not the top: a dead node
  EXPECT_EQ(heap.size(), 2u);
  EXPECT_EQ(heap.nodes(), 3u);
  b.reset();  // its memory may be reused; the heap must not look at it
  TimerEntry d;
  d.deadline = At(2); d.seq = 4;  // takes b's place in the order
  heap.push(&d);
  EXPECT_EQ(heap.pop(), a.get());
  EXPECT_EQ(heap.top(), &d);
  EXPECT_EQ(heap.pop(), &d);
  EXPECT_EQ(heap.pop(), &c);  // b's dead node went with the pops
  EXPECT_EQ(heap.pop(), nullptr);
  EXPECT_EQ(heap.nodes(), 0u);
}

// Cancelling the timer started last, which sits at the bottom (a Timeout
// around a quick operation, with earlier timers pending), leaves no dead
// node behind.
TEST(TimerHeap, CancellingTheLastStartedLeavesNoDeadNode) {
  TimerHeap heap;
  TimerEntry early, late;
  early.deadline = At(1); early.seq = 1;
  late.deadline = At(60000); late.seq = 2;
  heap.push(&early);
  for (int i = 0; i < 1000; ++i) {
    heap.push(&late);
    heap.remove(&late);
    ASSERT_EQ(heap.nodes(), 1u);
  }
  EXPECT_EQ(heap.pop(), &early);
}

// A program that starts and cancels timeouts far in the future, over and
// over, does not grow the heap: dead nodes are compacted away.
TEST(TimerHeap, CancelledTimersDoNotAccumulate) {
  TimerHeap heap;
  TimerEntry soon;
  soon.deadline = At(1);
  soon.seq = 0;
  heap.push(&soon);  // the top stays live, so cancellations leave dead nodes
  uint64_t seq = 0;
  size_t most = 0;
  size_t compactions = 0;
  for (int i = 0; i < 1000000; ++i) {
    TimerEntry t, u;  // u after t: t is neither at the top nor the bottom
    t.deadline = At(1000000 + i);
    t.seq = ++seq;
    u.deadline = At(2000000 + i);
    u.seq = ++seq;
    heap.push(&t);
    heap.push(&u);
    const size_t before = heap.nodes();
    heap.remove(&t);  // a dead node
    heap.remove(&u);  // the last node: dropped
    if (heap.nodes() + 2 < before) ++compactions;
    most = std::max(most, heap.nodes());
  }
  EXPECT_EQ(heap.size(), 1u);
  EXPECT_GT(compactions, 1000u);
  EXPECT_LE(most, 3u + 65u);
  EXPECT_EQ(heap.pop(), &soon);
  EXPECT_TRUE(heap.empty());
}

// Removing many timers from the middle (compaction included) keeps the
// order of the rest.
TEST(TimerHeap, CompactionKeepsOrder) {
  std::vector<std::unique_ptr<TimerEntry>> all;
  TimerHeap heap;
  std::set<TimerEntry*, RefLess> ref;
  std::mt19937 rng(99);
  for (uint64_t i = 0; i < 5000; ++i) {
    all.push_back(std::make_unique<TimerEntry>());
    all.back()->deadline = At(static_cast<int64_t>(rng() % 100));
    all.back()->priority = static_cast<int>(rng() % 3) - 1;
    all.back()->seq = i;
    heap.push(all.back().get());
    ref.insert(all.back().get());
  }
  for (auto& e : all) {
    if (rng() % 4 != 0 && e.get() != *ref.begin()) {
      heap.remove(e.get());
      ref.erase(e.get());
    }
  }
  CheckAgainst(heap, ref, all);
  std::vector<TimerEntry*> drained;
  while (TimerEntry* t = heap.pop()) drained.push_back(t);
  EXPECT_EQ(drained, std::vector<TimerEntry*>(ref.begin(), ref.end()));
}

}  // namespace
}  // namespace internal
}  // namespace gevent
