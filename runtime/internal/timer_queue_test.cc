// Tests for runtime/internal/timer_queue.h: the queue (a 4-ary min-heap in
// front of a timing wheel) that orders timers by (deadline, -priority, seq),
// with lazy removal.
#include "runtime/internal/timer_queue.h"

#include <algorithm>
#include <cstdint>
#include <limits>
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
void CheckAgainst(const TimerQueue& heap,
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

// Drops the entries that are no longer queued.
void DropUnqueued(std::vector<std::unique_ptr<TimerEntry>>* all) {
  all->erase(std::remove_if(all->begin(), all->end(),
                            [](const std::unique_ptr<TimerEntry>& e) {
                              return !e->in_heap();
                            }),
             all->end());
}

TEST(TimerQueue, EmptyHeap) {
  TimerQueue heap;
  EXPECT_TRUE(heap.empty());
  EXPECT_EQ(heap.size(), 0u);
  EXPECT_EQ(heap.top(), nullptr);
  EXPECT_EQ(heap.pop(), nullptr);
}

TEST(TimerQueue, OrderIsDeadlineThenHigherPriorityThenSeq) {
  TimerEntry a, b, c, d, e;
  a.deadline = At(20); a.priority = 0; a.seq = 1;
  b.deadline = At(10); b.priority = 0; b.seq = 2;
  c.deadline = At(10); c.priority = 5; c.seq = 3;   // same deadline, higher priority
  d.deadline = At(10); d.priority = 0; d.seq = 0;   // same deadline and priority, earlier seq
  e.deadline = At(5);  e.priority = -9; e.seq = 9;
  TimerQueue heap;
  for (TimerEntry* t : {&a, &b, &c, &d, &e}) heap.push(t);
  std::vector<TimerEntry*> order;
  while (TimerEntry* t = heap.pop()) {
    EXPECT_FALSE(t->in_heap());
    order.push_back(t);
  }
  EXPECT_EQ(order, (std::vector<TimerEntry*>{&e, &c, &d, &b, &a}));
  EXPECT_TRUE(TimerQueue::Less(&c, &b));
  EXPECT_FALSE(TimerQueue::Less(&b, &c));
  EXPECT_FALSE(TimerQueue::Less(&a, &a));
}

TEST(TimerQueue, RemoveFromAnyPosition) {
  std::vector<std::unique_ptr<TimerEntry>> all;
  TimerQueue heap;
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

TEST(TimerQueue, RandomInsertRemoveMatchesSortedReference) {
  std::mt19937 rng(12345);
  std::vector<std::unique_ptr<TimerEntry>> all;
  TimerQueue heap;
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
    if (all.size() > 4000) DropUnqueued(&all);  // keep memory bounded
  }
  CheckAgainst(heap, ref, all);
  std::vector<TimerEntry*> drained;
  while (TimerEntry* t = heap.pop()) drained.push_back(t);
  EXPECT_EQ(drained, std::vector<TimerEntry*>(ref.begin(), ref.end()));
  EXPECT_TRUE(heap.empty());
}

TEST(TimerQueue, EqualKeysKeepInsertionSeqOrder) {
  std::vector<std::unique_ptr<TimerEntry>> all;
  TimerQueue heap;
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
TEST(TimerQueue, RemovedTimersNeverComeBack) {
  TimerQueue heap;
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
TEST(TimerQueue, CancellingTheLastStartedLeavesNoDeadNode) {
  TimerQueue heap;
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
TEST(TimerQueue, CancelledTimersDoNotAccumulate) {
  TimerQueue heap;
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
TEST(TimerQueue, CompactionKeepsOrder) {
  std::vector<std::unique_ptr<TimerEntry>> all;
  TimerQueue heap;
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

// The way a hub uses the queue: time only moves forward, timers start at
// "now" plus anything from nothing to years (so they land in the heap, in
// both levels of the wheel and beyond it), some are cancelled, and all those
// due are popped as time passes. Every pop must be exactly the reference's
// next one.
TEST(TimerQueue, HubLikeUseMatchesSortedReference) {
  std::mt19937_64 rng(2026);
  std::vector<std::unique_ptr<TimerEntry>> all;
  TimerQueue q;
  std::set<TimerEntry*, RefLess> ref;
  uint64_t seq = 0;
  int64_t now = 1'700'000'000'000'000'000;  // a wall-clock-like epoch, in ns
  const int64_t spans[] = {0, 1, 1000, 4'194'304, 1'000'000'000,
                           1'073'741'824, 300'000'000'000, 3'600'000'000'000,
                           86'400'000'000'000};
  size_t popped = 0;
  for (int step = 0; step < 200000; ++step) {
    const int op = static_cast<int>(rng() % 16);
    if (op < 8 || ref.empty()) {
      auto e = std::make_unique<TimerEntry>();
      const int64_t span = spans[rng() % (sizeof spans / sizeof spans[0])];
      e->deadline = now + (span == 0 ? 0 : static_cast<int64_t>(rng() % (2 * span)));
      e->priority = static_cast<int>(rng() % 3) - 1;
      e->seq = ++seq;
      q.push(e.get());
      ref.insert(e.get());
      all.push_back(std::move(e));
    } else if (op < 11) {
      auto it = ref.begin();
      std::advance(it, static_cast<long>(rng() % std::min<size_t>(ref.size(), 64)));
      if (rng() % 2 == 0 && ref.size() > 64) {
        it = ref.end();
        std::advance(it, -1 - static_cast<long>(rng() % 64));
      }
      TimerEntry* t = *it;
      q.remove(t);
      ref.erase(it);
      ASSERT_FALSE(t->in_heap());
    } else {
      // Time passes (by up to a few buckets, now and then by much more), and
      // everything due fires, in order.
      const int64_t jump = op == 15 ? spans[rng() % 9] : static_cast<int64_t>(rng() % 20'000'000);
      now += jump;
      while (!q.empty() && q.top_deadline() <= now) {
        TimerEntry* t = q.pop();
        ASSERT_EQ(t, *ref.begin()) << "step " << step;
        ref.erase(ref.begin());
        ++popped;
      }
      ASSERT_TRUE(ref.empty() || (*ref.begin())->deadline > now) << "step " << step;
    }
    ASSERT_EQ(q.size(), ref.size());
    ASSERT_EQ(q.empty(), ref.empty());
    if (!ref.empty()) ASSERT_EQ(q.top(), *ref.begin()) << "step " << step;
    if (step % 5000 == 0) CheckAgainst(q, ref, all);
    if (all.size() > 20000) DropUnqueued(&all);
  }
  EXPECT_GT(popped, 50000u);
  CheckAgainst(q, ref, all);
  std::vector<TimerEntry*> drained;
  while (TimerEntry* t = q.pop()) drained.push_back(t);
  EXPECT_EQ(drained, std::vector<TimerEntry*>(ref.begin(), ref.end()));
  EXPECT_EQ(q.nodes(), 0u);
}

// Deadlines at the ends of the representable range (saturated sums, the
// earliest instant) keep their order with everything else.
TEST(TimerQueue, ExtremeDeadlines) {
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  const int64_t values[] = {kMax, 0, kMin, kMax - 1, -5, kMax - (int64_t{1} << 22),
                            (int64_t{1} << 40), kMin + 1, kMax, 7};
  for (int rotation = 0; rotation < 10; ++rotation) {
    std::vector<std::unique_ptr<TimerEntry>> all;
    TimerQueue q;
    std::set<TimerEntry*, RefLess> ref;
    uint64_t seq = 0;
    for (int i = 0; i < 10; ++i) {
      all.push_back(std::make_unique<TimerEntry>());
      all.back()->deadline = values[(i + rotation) % 10];
      all.back()->seq = ++seq;
      q.push(all.back().get());
      ref.insert(all.back().get());
      ASSERT_EQ(q.top(), *ref.begin());
    }
    // Pop half, then add more at the end of time, then drain.
    for (int i = 0; i < 5; ++i) {
      ASSERT_EQ(q.pop(), *ref.begin()) << rotation << " " << i;
      ref.erase(ref.begin());
    }
    for (int i = 0; i < 3; ++i) {
      all.push_back(std::make_unique<TimerEntry>());
      all.back()->deadline = kMax - i;
      all.back()->seq = ++seq;
      q.push(all.back().get());
      ref.insert(all.back().get());
    }
    std::vector<TimerEntry*> drained;
    while (TimerEntry* t = q.pop()) drained.push_back(t);
    EXPECT_EQ(drained, std::vector<TimerEntry*>(ref.begin(), ref.end())) << rotation;
  }
}

// The reason for the wheel: with 10,000 sleepers due over the next second,
// the heap holds about one bucket's worth of them, not all 10,000.
TEST(TimerQueue, TheHeapHoldsOnlyTheTimersDueSoon) {
  std::mt19937 rng(7);
  std::vector<TimerEntry> timers(10000);
  TimerQueue q;
  TimerEntry first;
  first.deadline = 0;
  first.seq = 0;
  q.push(&first);
  uint64_t seq = 0;
  for (TimerEntry& t : timers) {
    t.deadline = 1'000'000 + static_cast<int64_t>(rng() % 1'000'000'000);
    t.seq = ++seq;
    q.push(&t);
  }
  EXPECT_EQ(q.pop(), &first);
  size_t most = 0;
  int64_t last = 0;
  while (!q.empty()) {
    most = std::max(most, q.in_heap_part());
    TimerEntry* t = q.pop();
    ASSERT_GE(t->deadline, last);
    last = t->deadline;
  }
  EXPECT_LE(most, 200u);  // about 42 a bucket of 4.2 ms
}

// Timeouts started and cancelled at every distance (the wheel's levels and
// beyond) do not pile up.
TEST(TimerQueue, CancelledTimeoutsAtEveryDistanceDoNotAccumulate) {
  TimerQueue q;
  TimerEntry soon;
  soon.deadline = At(1);
  q.push(&soon);
  uint64_t seq = 0;
  size_t most = 0;
  const int64_t distances[] = {At(20), At(900), At(5000), At(100000), At(10000000)};
  for (int i = 0; i < 200000; ++i) {
    TimerEntry t, u;
    t.deadline = distances[i % 5] + i;
    t.seq = ++seq;
    u.deadline = distances[(i + 2) % 5] + i;
    u.seq = ++seq;
    q.push(&t);
    q.push(&u);
    q.remove(&t);  // not the last in its bucket, most of the time: dead
    q.remove(&u);
    most = std::max(most, q.nodes());
  }
  EXPECT_EQ(q.size(), 1u);
  EXPECT_LE(most, 3u + 65u);
  EXPECT_EQ(q.pop(), &soon);
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace internal
}  // namespace gevent
