// Unit tests for Queue, LifoQueue, PriorityQueue and JoinableQueue
// (runtime/queue.h), on both hub backends.
#include "runtime/queue.h"

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "runtime/greenlet.h"
#include "runtime/sleep.h"
#include "runtime/timeout.h"
#include "runtime/wait.h"
#include "testing/hub_test.h"

namespace gevent {
namespace {

using absl::Milliseconds;
using absl::Seconds;

class QueueTest : public testing::HubTest {};

template <typename Q>
std::vector<int> Drain(Q& q) {
  std::vector<int> out;
  while (!q.empty()) out.push_back(q.get_nowait());
  return out;
}

// ---- Order

TEST_P(QueueTest, FifoOrder) {
  Queue<int> q;
  for (int i : {3, 1, 2}) q.put(i);
  EXPECT_EQ(q.qsize(), 3u);
  EXPECT_EQ(Drain(q), (std::vector<int>{3, 1, 2}));
  EXPECT_TRUE(q.empty());
}

TEST_P(QueueTest, LifoOrder) {
  LifoQueue<int> q;
  for (int i : {3, 1, 2}) q.put(i);
  EXPECT_EQ(Drain(q), (std::vector<int>{2, 1, 3}));
}

TEST_P(QueueTest, PriorityOrderSmallestFirst) {
  PriorityQueue<int> q;
  for (int i : {5, 1, 4, 2, 3, 0}) q.put(i);
  EXPECT_EQ(Drain(q), (std::vector<int>{0, 1, 2, 3, 4, 5}));
}

TEST_P(QueueTest, PriorityTiesInInsertionOrder) {
  struct ByFirst {
    bool operator()(const std::pair<int, std::string>& a,
                    const std::pair<int, std::string>& b) const {
      return a.first < b.first;
    }
  };
  PriorityQueue<std::pair<int, std::string>, ByFirst> q;
  q.put({2, "a"});
  q.put({1, "b"});
  q.put({2, "c"});
  q.put({1, "d"});
  q.put({2, "e"});
  std::vector<std::string> got;
  while (!q.empty()) got.push_back(q.get().second);
  EXPECT_EQ(got, (std::vector<std::string>{"b", "d", "a", "c", "e"}));
}

TEST_P(QueueTest, PriorityCustomComparator) {
  PriorityQueue<int, std::greater<int>> q;
  for (int i : {5, 1, 4}) q.put(i);
  EXPECT_EQ(q.peek(), 5);
  std::vector<int> got;
  while (!q.empty()) got.push_back(q.get());
  EXPECT_EQ(got, (std::vector<int>{5, 4, 1}));
}

TEST_P(QueueTest, MoveOnlyItems) {
  Queue<std::unique_ptr<int>> q;
  q.put(std::make_unique<int>(7));
  std::unique_ptr<int> p = q.get();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 7);
}

// ---- peek

TEST_P(QueueTest, PeekDoesNotRemove) {
  Queue<int> fifo;
  LifoQueue<int> lifo;
  PriorityQueue<int> prio;
  EXPECT_THROW(fifo.peek(), QueueEmpty);
  EXPECT_THROW(lifo.peek(), QueueEmpty);
  EXPECT_THROW(prio.peek(), QueueEmpty);
  for (int i : {2, 3, 1}) {
    fifo.put(i);
    lifo.put(i);
    prio.put(i);
  }
  EXPECT_EQ(fifo.peek(), 2);
  EXPECT_EQ(lifo.peek(), 1);
  EXPECT_EQ(prio.peek(), 1);
  EXPECT_EQ(fifo.qsize(), 3u);
  EXPECT_EQ(fifo.get(), 2);
  EXPECT_EQ(fifo.peek(), 3);
}

// ---- Sizes and non-blocking calls

TEST_P(QueueTest, BoundedSizes) {
  Queue<int> q(2);
  EXPECT_EQ(q.maxsize(), 2u);
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.full());
  EXPECT_FALSE(q.ready());
  q.put_nowait(1);
  EXPECT_TRUE(q.ready());
  q.put_nowait(2);
  EXPECT_TRUE(q.full());
  EXPECT_THROW(q.put_nowait(3), QueueFull);
  EXPECT_THROW(q.put(3, /*block=*/false), QueueFull);
  EXPECT_EQ(q.qsize(), 2u);
  EXPECT_EQ(q.get_nowait(), 1);
  EXPECT_FALSE(q.full());
}

TEST_P(QueueTest, UnboundedNeverFull) {
  Queue<int> q;
  EXPECT_EQ(q.maxsize(), 0u);
  for (int i = 0; i < 1000; ++i) q.put_nowait(i);
  EXPECT_FALSE(q.full());
  EXPECT_EQ(q.qsize(), 1000u);
}

TEST_P(QueueTest, GetNowaitOnEmptyThrows) {
  Queue<int> q;
  const absl::Time start = hub()->now();
  EXPECT_THROW(q.get_nowait(), QueueEmpty);
  EXPECT_THROW(q.get(/*block=*/false), QueueEmpty);
  if (simulated()) {
    EXPECT_EQ(hub()->now(), start);
  }
}

// ---- Timeouts

TEST_P(QueueTest, GetTimeoutThrowsQueueEmpty) {
  Queue<int> q;
  const absl::Time start = hub()->now();
  EXPECT_THROW(q.get(true, Milliseconds(10)), QueueEmpty);
  EXPECT_GE(hub()->now() - start, Milliseconds(10));
  EXPECT_FALSE(hub()->alive());
  // The timed-out getter is gone: the next item stays in the queue.
  q.put(1);
  EXPECT_EQ(q.qsize(), 1u);
}

TEST_P(QueueTest, PutTimeoutThrowsQueueFull) {
  Queue<int> q(1);
  q.put(1);
  const absl::Time start = hub()->now();
  EXPECT_THROW(q.put(2, true, Milliseconds(10)), QueueFull);
  EXPECT_GE(hub()->now() - start, Milliseconds(10));
  EXPECT_EQ(q.qsize(), 1u);
  // The timed-out putter's item never goes in.
  EXPECT_EQ(q.get(), 1);
  EXPECT_TRUE(q.empty());
  q.put_nowait(3);
  EXPECT_EQ(q.get(), 3);
}

TEST_P(QueueTest, GetWithTimeoutSucceedsIfItemComes) {
  Queue<int> q;
  auto putter = spawn_later(Milliseconds(10), [&] { q.put(5); });
  EXPECT_EQ(q.get(true, Seconds(10)), 5);
  putter->join();
}

// ---- Blocking and fairness

TEST_P(QueueTest, GetBlocksUntilPut) {
  Queue<std::string> q;
  // Before the timer starts: its deadline is at least 10 ms after this.
  const absl::Time start = hub()->now();
  auto putter = spawn_later(Milliseconds(10), [&] { q.put("x"); });
  EXPECT_EQ(q.get(), "x");
  EXPECT_GE(hub()->now() - start, Milliseconds(10));
  if (simulated()) {
    EXPECT_EQ(hub()->now() - start, Milliseconds(10));
  }
  putter->join();
}

TEST_P(QueueTest, GettersServedFifo) {
  Queue<int> q;
  std::vector<std::pair<int, int>> got;  // (getter, item)
  GreenletList gs;
  // Getter i arrives after (4 - i) * 10 ms: 3 first, 0 last.
  for (int i = 0; i < 4; ++i) {
    gs.push_back(spawn([&, i] {
      sleep(Milliseconds(10 * (4 - i)));
      got.push_back({i, q.get()});
    }));
  }
  sleep(Milliseconds(60));
  for (int item = 100; item < 104; ++item) q.put(item);
  joinall(gs);
  EXPECT_EQ(got, (std::vector<std::pair<int, int>>{
                     {3, 100}, {2, 101}, {1, 102}, {0, 103}}));
}

// Items put while getters wait go to them, not to a newcomer.
TEST_P(QueueTest, NewcomerDoesNotOvertakeGetters) {
  Queue<int> q;
  int a_got = -1;
  auto a = spawn([&] { a_got = q.get(); });
  sleep(absl::ZeroDuration());
  q.put(1);
  EXPECT_THROW(q.get_nowait(), QueueEmpty);
  q.put(2);
  EXPECT_EQ(q.get(), 2);
  a->join();
  EXPECT_EQ(a_got, 1);
}

TEST_P(QueueTest, BoundedPutBlocksAndResumesFifo) {
  Queue<int> q(1);
  q.put(0);
  std::vector<int> resumed;
  GreenletList gs;
  for (int i = 1; i <= 3; ++i) {
    gs.push_back(spawn([&, i] {
      q.put(i);
      resumed.push_back(i);
    }));
  }
  sleep(Milliseconds(10));
  EXPECT_TRUE(resumed.empty()) << "put on a full queue must block";
  EXPECT_EQ(q.qsize(), 1u);
  std::vector<int> items;
  for (int i = 0; i < 4; ++i) {
    items.push_back(q.get());
    sleep(absl::ZeroDuration());
  }
  joinall(gs);
  EXPECT_EQ(items, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(resumed, (std::vector<int>{1, 2, 3}));
  EXPECT_TRUE(q.empty());
}

// A get() from a full queue lets the longest-waiting putter's item in at
// once, so a newcomer's put_nowait() finds the queue full again.
TEST_P(QueueTest, AdmittedPutterFillsFreedSlot) {
  Queue<int> q(1);
  q.put(0);
  auto p = spawn([&] { q.put(1); });
  sleep(absl::ZeroDuration());
  EXPECT_EQ(q.get(), 0);  // room: putter 1's item goes in
  EXPECT_THROW(q.put_nowait(2), QueueFull);
  auto p2 = spawn([&] { q.put(2); });
  EXPECT_EQ(q.get(), 1);
  EXPECT_EQ(q.get(), 2);
  joinall(GreenletList{p, p2});
}

TEST_P(QueueTest, BoundedQueueProducerConsumer) {
  Queue<int> q(3);
  std::vector<int> consumed;
  auto producer = spawn([&] {
    for (int i = 0; i < 20; ++i) q.put(i);
  });
  auto consumer = spawn([&] {
    for (int i = 0; i < 20; ++i) {
      consumed.push_back(q.get());
      if (i % 3 == 0) sleep(Milliseconds(1));
      EXPECT_LE(q.qsize(), 3u);
    }
  });
  joinall(GreenletList{producer, consumer});
  std::vector<int> expected;
  for (int i = 0; i < 20; ++i) expected.push_back(i);
  EXPECT_EQ(consumed, expected);
}

// ---- Kill

TEST_P(QueueTest, KillWaitingGetterLeavesNothingBehind) {
  Queue<int> q;
  auto g = spawn([&] { return q.get(); });
  sleep(absl::ZeroDuration());
  g->kill();
  EXPECT_TRUE(g->killed());
  q.put(1);
  EXPECT_EQ(q.qsize(), 1u) << "item handed to a dead getter";
  EXPECT_EQ(q.get(), 1);
}

// put() hands the item to the waiting getter, which is killed before it
// gets to run: the item must not be lost.
TEST_P(QueueTest, KilledGetterHandedItemDoesNotLoseIt) {
  Queue<int> q;
  auto g = spawn([&] { return q.get(); });
  sleep(absl::ZeroDuration());
  g->kill(/*block=*/false);  // delivered before the hand-over wakes it
  q.put(42);
  g->join();
  EXPECT_TRUE(g->killed());
  ASSERT_EQ(q.qsize(), 1u) << "the item handed to the killed getter was lost";
  EXPECT_EQ(q.get_nowait(), 42);
}

// The same, with another getter waiting: it gets the item.
TEST_P(QueueTest, KilledGetterItemGoesToNextGetter) {
  Queue<int> q;
  int b_got = -1;
  auto a = spawn([&] { return q.get(); });
  auto b = spawn([&] { b_got = q.get(); });
  sleep(absl::ZeroDuration());
  a->kill(/*block=*/false);
  q.put(42);
  joinall(GreenletList{a, b});
  EXPECT_TRUE(a->killed());
  EXPECT_EQ(b_got, 42);
  EXPECT_TRUE(q.empty());
}

// The rescued item keeps its place: it was put first, so it comes out first
// (gevent 22.10: the queue holds ['y', 'z'] in that order).
TEST_P(QueueTest, KilledGetterItemKeepsFifoPosition) {
  Queue<std::string> q;
  auto g = spawn([&] { return q.get(); });
  sleep(absl::ZeroDuration());
  g->kill(/*block=*/false);
  q.put("y");  // handed to g
  q.put("z");  // no getter left: queued
  g->join();
  ASSERT_EQ(q.qsize(), 2u);
  EXPECT_EQ(q.get(), "y");
  EXPECT_EQ(q.get(), "z");
}

TEST_P(QueueTest, KillBlockedPutterItemNeverGoesIn) {
  Queue<int> q(1);
  q.put(1);
  auto p = spawn([&] { q.put(2); });
  sleep(absl::ZeroDuration());
  p->kill();
  EXPECT_TRUE(p->killed());
  EXPECT_EQ(q.get(), 1);
  EXPECT_TRUE(q.empty());
  q.put_nowait(3);
  EXPECT_EQ(q.get(), 3);
}

// ---- wait() / iwait()

TEST_P(QueueTest, WaitReadyWhenItemPresent) {
  Queue<int> a, b;
  auto putter = spawn_later(Milliseconds(10), [&] { b.put(1); });
  auto ready = gevent::wait(std::vector<Queue<int>*>{&a, &b}, Seconds(10), 1);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0], &b);
  EXPECT_EQ(b.qsize(), 1u) << "waiting must not take the item";
  putter->join();
}

// ---- JoinableQueue

TEST_P(QueueTest, JoinableTaskDoneAndJoin) {
  JoinableQueue<int> q;
  EXPECT_EQ(q.unfinished_tasks(), 0u);
  EXPECT_TRUE(q.join(absl::ZeroDuration()));
  for (int i = 0; i < 3; ++i) q.put(i);
  EXPECT_EQ(q.unfinished_tasks(), 3u);
  EXPECT_FALSE(q.join(Milliseconds(10)));
  std::vector<int> processed;
  auto worker = spawn([&] {
    for (int i = 0; i < 3; ++i) {
      int item = q.get();
      sleep(Milliseconds(10));
      processed.push_back(item);
      q.task_done();
    }
  });
  EXPECT_TRUE(q.join(Seconds(10)));
  EXPECT_EQ(processed, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(q.unfinished_tasks(), 0u);
  worker->join();
}

TEST_P(QueueTest, JoinableJoinWaitsForLastTaskDone) {
  JoinableQueue<int> q;
  q.put(1);
  EXPECT_EQ(q.get(), 1);
  EXPECT_FALSE(q.join(Milliseconds(10))) << "got, but not done";
  // Before the timer starts: its deadline is at least 10 ms after this.
  const absl::Time start = hub()->now();
  auto done = spawn_later(Milliseconds(10), [&] { q.task_done(); });
  EXPECT_TRUE(q.join());
  EXPECT_GE(hub()->now() - start, Milliseconds(10));
  done->join();
}

TEST_P(QueueTest, JoinableTaskDoneTooManyThrows) {
  JoinableQueue<int> q;
  EXPECT_THROW(q.task_done(), std::logic_error);
  q.put(1);
  q.get();
  q.task_done();
  EXPECT_THROW(q.task_done(), std::logic_error);
  EXPECT_EQ(q.unfinished_tasks(), 0u);
}

TEST_P(QueueTest, JoinableCountsItemsHandedToGetters) {
  JoinableQueue<int> q;
  int got = -1;
  auto getter = spawn([&] { got = q.get(); });
  sleep(absl::ZeroDuration());
  q.put(5);
  EXPECT_EQ(q.unfinished_tasks(), 1u);
  getter->join();
  EXPECT_EQ(got, 5);
  EXPECT_FALSE(q.join(Milliseconds(10)));
  q.task_done();
  EXPECT_TRUE(q.join(absl::ZeroDuration()));
}

// An item that went in through a put() that had to wait (bounded queue)
// is a task like any other (gevent: unfinished_tasks counts it).
TEST_P(QueueTest, JoinableCountsItemsOfBlockedPutters) {
  JoinableQueue<std::string> q(1);
  q.put("a");
  auto putter = spawn([&] { q.put("b"); });
  sleep(absl::ZeroDuration());
  EXPECT_EQ(q.unfinished_tasks(), 1u);
  EXPECT_EQ(q.get(), "a");
  q.task_done();
  putter->join();
  EXPECT_EQ(q.qsize(), 1u);
  EXPECT_EQ(q.unfinished_tasks(), 1u) << "'b' is in the queue, not done";
  EXPECT_FALSE(q.join(Milliseconds(10))) << "join() returned with 'b' unprocessed";
  EXPECT_EQ(q.get(), "b");
  EXPECT_NO_THROW(q.task_done());
  EXPECT_EQ(q.unfinished_tasks(), 0u);
  EXPECT_TRUE(q.join(absl::ZeroDuration()));
}

TEST_P(QueueTest, JoinableManyWorkers) {
  JoinableQueue<int> q;
  int sum = 0;
  GreenletList workers;
  for (int w = 0; w < 3; ++w) {
    workers.push_back(spawn([&] {
      for (;;) {
        int item = q.get();
        sleep(Milliseconds(1));
        sum += item;
        q.task_done();
      }
    }));
  }
  for (int i = 1; i <= 30; ++i) q.put(i);
  EXPECT_TRUE(q.join(Seconds(10)));
  EXPECT_EQ(sum, 465);
  killall(workers);
}

GEVENT_INSTANTIATE_BACKENDS(QueueTest);

}  // namespace
}  // namespace gevent
