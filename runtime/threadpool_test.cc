// Unit tests for gevent::ThreadPool (runtime/threadpool.h), on both hub
// backends. On the simulated hub the pool's threads run in real time; these
// tests only wait for results (never on timers racing the threads).
#include "runtime/threadpool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "runtime/async_result.h"
#include "runtime/event.h"
#include "runtime/exceptions.h"
#include "runtime/greenlet.h"
#include "runtime/sleep.h"
#include "runtime/wait.h"
#include "testing/hub_test.h"

namespace gevent {
namespace {

using absl::Milliseconds;
using absl::Seconds;
using absl::ZeroDuration;
using std::chrono::milliseconds;

struct Boom : std::runtime_error {
  explicit Boom(const std::string& what) : std::runtime_error(what) {}
};

class ThreadPoolTest : public testing::HubTest {};

TEST_P(ThreadPoolTest, ZeroThreadsIsInvalid) {
  EXPECT_THROW(ThreadPool(0), std::invalid_argument);
}

TEST_P(ThreadPoolTest, ThreadsStartOnDemand) {
  ThreadPool pool(3);
  EXPECT_EQ(pool.max_threads(), 3u);
  EXPECT_EQ(pool.thread_count(), 0u);
  EXPECT_EQ(pool.spawn([] { return 1; })->get(), 1);
  EXPECT_GE(pool.thread_count(), 1u);
  EXPECT_LE(pool.thread_count(), 3u);
}

TEST_P(ThreadPoolTest, DefaultMaxThreads) {
  ThreadPool pool;
  EXPECT_EQ(pool.max_threads(), 4u);
}

TEST_P(ThreadPoolTest, ResultCarriedBack) {
  ThreadPool pool(2);
  auto r = pool.spawn([](int a, std::string b) { return b + std::to_string(a); },
                      7, std::string("x"));
  EXPECT_EQ(r->get(), "x7");
  EXPECT_TRUE(r->ready());
  EXPECT_TRUE(r->successful());
  ASSERT_TRUE(r->value().has_value());
  EXPECT_EQ(*r->value(), "x7");
}

TEST_P(ThreadPoolTest, RunsOnAnotherThread) {
  ThreadPool pool(1);
  const std::thread::id me = std::this_thread::get_id();
  std::thread::id there = pool.apply([] { return std::this_thread::get_id(); });
  EXPECT_NE(there, me);
}

TEST_P(ThreadPoolTest, VoidTask) {
  ThreadPool pool(1);
  std::atomic<int> ran{0};
  auto r = pool.spawn([&] { ran = 5; });
  r->get();
  EXPECT_EQ(ran.load(), 5);
  EXPECT_TRUE(r->successful());
}

TEST_P(ThreadPoolTest, ExceptionCarriedBack) {
  ThreadPool pool(2);
  auto r = pool.spawn([]() -> int { throw Boom("in thread"); });
  try {
    r->get();
    ADD_FAILURE() << "get() did not rethrow";
  } catch (const Boom& e) {
    EXPECT_STREQ(e.what(), "in thread");
  }
  EXPECT_TRUE(r->ready());
  EXPECT_FALSE(r->successful());
  EXPECT_NE(r->exception(), nullptr);
}

TEST_P(ThreadPoolTest, VoidExceptionCarriedBack) {
  ThreadPool pool(1);
  auto r = pool.spawn([] { throw Boom("void"); });
  EXPECT_THROW(r->get(), Boom);
  // The pool survives a throwing task.
  EXPECT_EQ(pool.apply([] { return 3; }), 3);
}

TEST_P(ThreadPoolTest, ApplyReturnsValueAndRethrows) {
  ThreadPool pool(2);
  EXPECT_EQ(pool.apply([](int x) { return x * x; }, 9), 81);
  EXPECT_THROW(pool.apply([]() -> int { throw Boom("apply"); }), Boom);
}

TEST_P(ThreadPoolTest, MoreTasksThanThreads) {
  constexpr int kTasks = 12;
  ThreadPool pool(3);
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
  std::vector<std::shared_ptr<AsyncResult<int>>> results;
  for (int i = 0; i < kTasks; ++i) {
    results.push_back(pool.spawn([&, i] {
      int now = ++running;
      int seen = max_running.load();
      while (now > seen && !max_running.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(milliseconds(5));
      --running;
      return i * 10;
    }));
  }
  for (int i = 0; i < kTasks; ++i) EXPECT_EQ(results[i]->get(), i * 10);
  EXPECT_LE(max_running.load(), 3);
  EXPECT_GE(max_running.load(), 1);
  EXPECT_LE(pool.thread_count(), 3u);
  EXPECT_EQ(running.load(), 0);
}

TEST_P(ThreadPoolTest, QueuedTasksStartInFifoOrder) {
  ThreadPool pool(1);
  std::mutex mu;
  std::vector<int> order;
  std::vector<std::shared_ptr<AsyncResult<void>>> results;
  for (int i = 0; i < 8; ++i) {
    results.push_back(pool.spawn([&, i] {
      std::lock_guard<std::mutex> lock(mu);
      order.push_back(i);
    }));
  }
  for (auto& r : results) r->get();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(pool.thread_count(), 1u);
}

// The task cannot finish until a greenlet has ticked three times: if the
// hub were blocked while the task runs, it would give up after 10 s. (The
// ticker yields rather than sleeps: on the simulator, time stands still
// while the task runs.)
TEST_P(ThreadPoolTest, GreenletsRunWhileTaskBlocks) {
  ThreadPool pool(1);
  std::atomic<int> ticks{0};
  bool stop = false;
  auto ticker = spawn([&] {
    while (!stop) {
      sleep(ZeroDuration());
      ++ticks;
    }
  });
  auto r = pool.spawn([&] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (ticks.load() < 3 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(1));
    }
    return ticks.load() >= 3;
  });
  EXPECT_TRUE(r->get()) << "greenlets did not run while the task blocked";
  stop = true;
  ticker->join();
}

// A task sleeps 30 ms (real time) while a greenlet counts 1 ms ticks. On
// epoll the ticks come while the task sleeps. On the simulator the virtual
// clock stands still until the task is back, however long it takes in real
// time: no tick, no virtual time, the result at the time it was asked for.
TEST_P(ThreadPoolTest, TicksDuringBlockingSleep) {
  ThreadPool pool(1);
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  int ticks_during = 0;
  bool stop = false;
  auto ticker = spawn([&] {
    while (!stop) {
      sleep(Milliseconds(1));
      if (started.load() && !finished.load()) ++ticks_during;
    }
  });
  auto r = pool.spawn([&] {
    started = true;
    std::this_thread::sleep_for(milliseconds(30));
    finished = true;
    return 1;
  });
  const absl::Time start = hub()->now();
  EXPECT_EQ(r->get(), 1);
  if (!simulated()) {
    EXPECT_GE(hub()->now() - start, Milliseconds(25));
  } else {
    EXPECT_EQ(hub()->now() - start, ZeroDuration());
  }
  stop = true;
  ticker->join();
  if (!simulated()) {
    EXPECT_GE(ticks_during, 1);
  } else {
    EXPECT_EQ(ticks_during, 0);
  }
}

// A greenlet that calls idle() in a loop until a task's result is in: the
// result comes (the idle watchers do not starve it), on both hubs. On the
// simulator the loop, idle at this virtual time, takes the work before it
// runs idle watchers, waiting for the thread, so the count is the same in
// every run.
TEST_P(ThreadPoolTest, IdleLoopDoesNotStarveAResult) {
  ThreadPool pool(1);
  int rounds = 0;
  bool done = false;
  auto idler = spawn([&] {
    while (!done) {
      idle();
      ++rounds;
    }
  });
  auto r = pool.spawn([] {
    std::this_thread::sleep_for(milliseconds(20));
    return 7;
  });
  EXPECT_EQ(r->get(Seconds(10)), 7);
  done = true;
  idler->join();
  if (simulated()) {
    EXPECT_EQ(rounds, 1);  // the one after the result came
  } else {
    EXPECT_GE(rounds, 1);
  }
}

// A wait with a timeout does not time out on the simulator while the hub is
// referenced for work on another thread: the clock does not jump past it.
// A pool task, a thread that sets an Event, a thread that calls
// run_callback_threadsafe: each takes 20 ms of real time against a 1 s
// timeout, and each arrives in time, on both hubs.
TEST_P(ThreadPoolTest, WaitsDoNotTimeOutPastReferencedWork) {
  ThreadPool pool(1);
  auto r = pool.spawn([] {
    std::this_thread::sleep_for(milliseconds(20));
    return 7;
  });
  EXPECT_EQ(r->get(Seconds(1)), 7);

  Event ev;
  hub()->ref();
  std::thread setter([&] {
    std::this_thread::sleep_for(milliseconds(20));
    ev.set();
  });
  const absl::Time before = hub()->now();
  EXPECT_TRUE(ev.wait(Seconds(1)));
  hub()->unref();
  setter.join();
  if (simulated()) EXPECT_EQ(hub()->now(), before);

  AsyncResult<int> called;
  Hub* h = hub();
  h->ref();
  std::thread caller([&] {
    std::this_thread::sleep_for(milliseconds(20));
    h->run_callback_threadsafe([&] {
      called.set(3);
      h->unref();
    });
  });
  EXPECT_EQ(called.get(Seconds(1)), 3);
  caller.join();
}

// Without a reference, the simulated clock does not wait: work from another
// thread lands whenever it comes (here: after the timeout).
TEST_P(ThreadPoolTest, UnreferencedWorkDoesNotHoldTheSimulatedClock) {
  if (!simulated()) GTEST_SKIP() << "a property of the virtual clock";
  Event ev;
  std::atomic<bool> go{false};
  std::thread setter([&] {
    while (!go.load()) std::this_thread::sleep_for(milliseconds(1));
    ev.set();
  });
  EXPECT_FALSE(ev.wait(Seconds(1)));
  go = true;
  setter.join();
}

// Waiting for a pool result with nothing else to do is not "blocking
// forever": the pending task keeps the loop alive.
TEST_P(ThreadPoolTest, WaitingNeverRaisesLoopExit) {
  ThreadPool pool(1);
  auto r = pool.spawn([] {
    std::this_thread::sleep_for(milliseconds(20));
    return 11;
  });
  int v = 0;
  EXPECT_NO_THROW(v = r->get());
  EXPECT_EQ(v, 11);
  auto r2 = pool.spawn([] { std::this_thread::sleep_for(milliseconds(20)); });
  EXPECT_NO_THROW(r2->wait());
  EXPECT_TRUE(r2->ready());
}

TEST_P(ThreadPoolTest, WaitingFromGreenletNeverRaisesLoopExit) {
  ThreadPool pool(2);
  auto r = pool.spawn([] {
    std::this_thread::sleep_for(milliseconds(20));
    return std::string("late");
  });
  auto g = spawn([&] { return r->get(); });
  EXPECT_EQ(g->get(), "late");
}

// gevent::wait() (no objects) waits for pending pool work too.
TEST_P(ThreadPoolTest, HubWaitWaitsForPendingTasks) {
  ThreadPool pool(2);
  std::atomic<int> done{0};
  auto a = pool.spawn([&] {
    std::this_thread::sleep_for(milliseconds(20));
    ++done;
  });
  auto b = pool.spawn([&] {
    std::this_thread::sleep_for(milliseconds(10));
    ++done;
  });
  EXPECT_TRUE(gevent::wait());
  EXPECT_EQ(done.load(), 2);
  EXPECT_TRUE(a->ready());
  EXPECT_TRUE(b->ready());
  EXPECT_FALSE(hub()->alive());
}

TEST_P(ThreadPoolTest, WaitOnSeveralResults) {
  ThreadPool pool(3);
  auto slow = pool.spawn([] {
    std::this_thread::sleep_for(milliseconds(60));
    return 1;
  });
  auto fast = pool.spawn([] { return 2; });
  auto ready = gevent::wait(
      std::vector<std::shared_ptr<AsyncResult<int>>>{slow, fast}, absl::InfiniteDuration(), 1);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0], fast);
  EXPECT_EQ(slow->get(), 1);
}

// The destructor waits for queued tasks; their results still arrive.
TEST_P(ThreadPoolTest, DestructorRunsQueuedTasks) {
  std::atomic<int> ran{0};
  std::vector<std::shared_ptr<AsyncResult<int>>> results;
  {
    ThreadPool pool(1);
    for (int i = 0; i < 5; ++i) {
      results.push_back(pool.spawn([&, i] {
        std::this_thread::sleep_for(milliseconds(2));
        ++ran;
        return i;
      }));
    }
  }
  EXPECT_EQ(ran.load(), 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(results[i]->get(), i);
}

TEST_P(ThreadPoolTest, ManyGreenletsShareAPool) {
  ThreadPool pool(4);
  std::vector<std::shared_ptr<Greenlet<int>>> gs;
  for (int i = 0; i < 20; ++i) {
    gs.push_back(spawn([&pool, i] {
      return pool.apply([i] {
        std::this_thread::sleep_for(milliseconds(1));
        return i + 1;
      });
    }));
  }
  int sum = 0;
  for (auto& g : gs) sum += g->get();
  EXPECT_EQ(sum, 210);
  EXPECT_LE(pool.thread_count(), 4u);
}

GEVENT_INSTANTIATE_BACKENDS(ThreadPoolTest);

}  // namespace
}  // namespace gevent
