// Unit tests for gevent::Event (runtime/event.h), on both hub backends.
#include "runtime/event.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
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

class EventTest : public testing::HubTest {};

TEST_P(EventTest, StartsClear) {
  Event e;
  EXPECT_FALSE(e.is_set());
  EXPECT_FALSE(e.ready());
  EXPECT_EQ(e.link_count(), 0u);
  EXPECT_EQ(e.hub(), hub());
}

TEST_P(EventTest, SetClearIsSet) {
  Event e;
  e.set();
  EXPECT_TRUE(e.is_set());
  EXPECT_TRUE(e.ready());
  e.set();  // idempotent
  EXPECT_TRUE(e.is_set());
  e.clear();
  EXPECT_FALSE(e.is_set());
  EXPECT_FALSE(e.ready());
  e.clear();
  EXPECT_FALSE(e.is_set());
}

TEST_P(EventTest, WaitOnSetEventReturnsTrueAtOnce) {
  Event e;
  e.set();
  const absl::Time start = hub()->now();
  EXPECT_TRUE(e.wait());
  EXPECT_TRUE(e.wait(absl::ZeroDuration()));
  EXPECT_TRUE(e.wait(Milliseconds(10)));
  if (simulated()) {
    EXPECT_EQ(hub()->now(), start);
  }
  EXPECT_EQ(e.link_count(), 0u);
}

TEST_P(EventTest, WaitTimesOutReturnsFalse) {
  Event e;
  const absl::Time start = hub()->now();
  EXPECT_FALSE(e.wait(Milliseconds(10)));
  EXPECT_GE(hub()->now() - start, Milliseconds(10));
  if (simulated()) {
    EXPECT_EQ(hub()->now() - start, Milliseconds(10));
  }
  EXPECT_FALSE(e.is_set());
}

TEST_P(EventTest, ZeroTimeoutOnClearEventReturnsFalse) {
  Event e;
  EXPECT_FALSE(e.wait(absl::ZeroDuration()));
  EXPECT_EQ(e.link_count(), 0u);
}

TEST_P(EventTest, TimeoutLeavesNothingBehind) {
  Event e;
  EXPECT_FALSE(e.wait(Milliseconds(10)));
  EXPECT_EQ(e.link_count(), 0u);
  // No timer, link or callback of the wait keeps the loop alive.
  EXPECT_FALSE(hub()->alive());
  EXPECT_TRUE(gevent::wait(Seconds(5)));
  // A later set() wakes nobody and does no harm.
  e.set();
  EXPECT_TRUE(e.is_set());
  EXPECT_TRUE(e.wait(Milliseconds(10)));
}

TEST_P(EventTest, TimedOutWaitersLeaveLinksOfOthersIntact) {
  Event e;
  bool long_woken = false;
  auto short_waiter = spawn([&] { return e.wait(Milliseconds(10)); });
  auto long_waiter = spawn([&] { long_woken = e.wait(Seconds(10)); });
  sleep(absl::ZeroDuration());
  EXPECT_EQ(e.link_count(), 2u);
  EXPECT_FALSE(short_waiter->get());
  EXPECT_EQ(e.link_count(), 1u);
  e.set();
  long_waiter->join();
  EXPECT_TRUE(long_woken);
  EXPECT_EQ(e.link_count(), 0u);
}

TEST_P(EventTest, SetWakesBlockedWaiterWithTrue) {
  Event e;
  // Before the timer starts: its deadline is at least 10 ms after this.
  const absl::Time start = hub()->now();
  auto setter = spawn_later(Milliseconds(10), [&] { e.set(); });
  EXPECT_TRUE(e.wait(Seconds(10)));
  EXPECT_GE(hub()->now() - start, Milliseconds(10));
  EXPECT_LT(hub()->now() - start, Seconds(10));
  if (simulated()) {
    EXPECT_EQ(hub()->now() - start, Milliseconds(10));
  }
  setter->join();
}

TEST_P(EventTest, SetDoesNotRunWaitersInsideSet) {
  Event e;
  int woken = 0;
  auto w = spawn([&] {
    e.wait();
    ++woken;
  });
  sleep(absl::ZeroDuration());
  e.set();
  EXPECT_EQ(woken, 0) << "waiters run in the hub's next callback pass";
  w->join();
  EXPECT_EQ(woken, 1);
}

TEST_P(EventTest, WaitersWakeInFifoOrder) {
  Event e;
  std::vector<int> order;
  GreenletList gs;
  for (int i = 0; i < 10; ++i) {
    gs.push_back(spawn([&, i] {
      EXPECT_TRUE(e.wait());
      order.push_back(i);
    }));
  }
  sleep(absl::ZeroDuration());
  EXPECT_EQ(e.link_count(), 10u);
  e.set();
  joinall(gs);
  std::vector<int> expected;
  for (int i = 0; i < 10; ++i) expected.push_back(i);
  EXPECT_EQ(order, expected);
}

// The order that counts is the order in which they started waiting, not the
// order in which they were spawned.
TEST_P(EventTest, WakeOrderIsWaitOrderNotSpawnOrder) {
  Event e;
  std::vector<int> order;
  GreenletList gs;
  // Greenlet i starts waiting after (5 - i) * 10 ms: 4 first, 0 last.
  for (int i = 0; i < 5; ++i) {
    gs.push_back(spawn([&, i] {
      sleep(Milliseconds(10 * (5 - i)));
      e.wait();
      order.push_back(i);
    }));
  }
  sleep(Milliseconds(100));
  EXPECT_EQ(e.link_count(), 5u);
  e.set();
  joinall(gs);
  EXPECT_EQ(order, (std::vector<int>{4, 3, 2, 1, 0}));
}

// set() immediately followed by clear() still wakes every greenlet that was
// waiting, and each one's wait() returns true.
class EventSetClearTest : public testing::HubTest {
 protected:
  void Check(int n) {
    Event e;
    std::vector<int> order;
    int returned_true = 0;
    int returned_false = 0;
    GreenletList gs;
    for (int i = 0; i < n; ++i) {
      gs.push_back(spawn([&, i] {
        if (e.wait(Seconds(10))) {
          ++returned_true;
        } else {
          ++returned_false;
        }
        order.push_back(i);
      }));
    }
    sleep(absl::ZeroDuration());
    ASSERT_EQ(e.link_count(), static_cast<size_t>(n));
    const absl::Time start = hub()->now();
    e.set();
    e.clear();
    EXPECT_FALSE(e.is_set());
    joinall(gs);
    EXPECT_EQ(returned_true, n);
    EXPECT_EQ(returned_false, 0);
    ASSERT_EQ(order.size(), static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      ASSERT_EQ(order[i], i) << "waiters must wake in FIFO order";
    }
    // They were woken by the set(), not by their 10 s timeouts.
    EXPECT_LT(hub()->now() - start, Seconds(10));
    if (simulated()) {
      EXPECT_EQ(hub()->now(), start);
    }
    EXPECT_EQ(e.link_count(), 0u);
    // The flag stays cleared: a new waiter blocks.
    EXPECT_FALSE(e.wait(Milliseconds(10)));
  }
};

TEST_P(EventSetClearTest, OneWaiter) { Check(1); }
TEST_P(EventSetClearTest, HundredWaiters) { Check(100); }
TEST_P(EventSetClearTest, ThousandWaiters) { Check(1000); }

// A greenlet that starts waiting after set()+clear() is not woken by that
// set().
TEST_P(EventSetClearTest, LateWaiterIsNotWokenByEarlierSet) {
  Event e;
  bool early = false;
  bool late = true;
  auto a = spawn([&] { early = e.wait(Seconds(10)); });
  sleep(absl::ZeroDuration());
  e.set();
  e.clear();
  auto b = spawn([&] { late = e.wait(Milliseconds(20)); });
  joinall(GreenletList{a, b});
  EXPECT_TRUE(early);
  EXPECT_FALSE(late);
}

TEST_P(EventTest, KillWhileWaitingLeavesNoLink) {
  Event e;
  bool returned = false;
  auto g = spawn([&] {
    e.wait();
    returned = true;
  });
  sleep(absl::ZeroDuration());
  EXPECT_EQ(e.link_count(), 1u);
  g->kill();
  EXPECT_TRUE(g->dead());
  EXPECT_TRUE(g->killed());
  EXPECT_FALSE(returned);
  EXPECT_EQ(e.link_count(), 0u);
  // Setting it afterwards must not touch the dead waiter.
  e.set();
  sleep(absl::ZeroDuration());
  EXPECT_FALSE(returned);
}

TEST_P(EventTest, KillOneOfSeveralWaitersOthersStillWake) {
  Event e;
  std::vector<int> order;
  GreenletList gs;
  for (int i = 0; i < 3; ++i) {
    gs.push_back(spawn([&, i] {
      e.wait();
      order.push_back(i);
    }));
  }
  sleep(absl::ZeroDuration());
  EXPECT_EQ(e.link_count(), 3u);
  gs[1]->kill();
  EXPECT_EQ(e.link_count(), 2u);
  e.set();
  joinall(gs);
  EXPECT_EQ(order, (std::vector<int>{0, 2}));
  EXPECT_EQ(e.link_count(), 0u);
}

// Killed after set() queued the wake-up but before it ran: the killed waiter
// dies, the other waiters still wake.
TEST_P(EventTest, KillAfterSetBeforeWakeup) {
  Event e;
  std::vector<int> order;
  GreenletList gs;
  for (int i = 0; i < 3; ++i) {
    gs.push_back(spawn([&, i] {
      e.wait();
      order.push_back(i);
    }));
  }
  sleep(absl::ZeroDuration());
  gs[0]->kill(/*block=*/false);
  e.set();
  e.clear();
  joinall(gs);
  EXPECT_TRUE(gs[0]->killed());
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(e.link_count(), 0u);
}

TEST_P(EventTest, TimeoutScopeInterruptsWaitAndLeavesNoLink) {
  Event e;
  bool timed_out = false;
  try {
    TimeoutScope t(Milliseconds(10));
    e.wait();
  } catch (const TimeoutError&) {
    timed_out = true;
  }
  EXPECT_TRUE(timed_out);
  EXPECT_EQ(e.link_count(), 0u);
}

TEST_P(EventTest, ReusableAcrossSetClearCycles) {
  Event e;
  int rounds = 0;
  auto waiter = spawn([&] {
    for (int i = 0; i < 3; ++i) {
      EXPECT_TRUE(e.wait(Seconds(10)));
      ++rounds;
      e.clear();
    }
  });
  for (int i = 0; i < 3; ++i) {
    sleep(Milliseconds(10));
    EXPECT_EQ(rounds, i);
    e.set();
  }
  waiter->join();
  EXPECT_EQ(rounds, 3);
}

TEST_P(EventTest, WorksWithGeventWait) {
  Event a, b;
  auto setter = spawn_later(Milliseconds(10), [&] { b.set(); });
  auto ready = gevent::wait(std::vector<Event*>{&a, &b}, Seconds(10), 1);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0], &b);
  EXPECT_TRUE(gevent::wait(std::vector<Event*>{&a}, Milliseconds(10)).empty());
  setter->join();
  EXPECT_EQ(a.link_count(), 0u);
  EXPECT_EQ(b.link_count(), 0u);
}

// set() from another thread wakes a greenlet waiting in this thread's hub.
// The waits have no timeout: on the simulated hub a pending timer would let
// the virtual clock run ahead of the other thread (see threadpool.h).
TEST_P(EventTest, CrossThreadSet) {
  Event e;
  std::atomic<bool> set_called{false};
  const absl::Time start = hub()->now();
  hub()->ref();  // the other thread's work keeps the loop alive
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    set_called = true;
    e.set();
  });
  bool woken = false;
  auto waiter = spawn([&] { woken = e.wait(); });
  waiter->join();
  hub()->unref();
  t.join();
  EXPECT_TRUE(set_called.load());
  EXPECT_TRUE(woken);
  EXPECT_TRUE(e.is_set());
  EXPECT_EQ(e.link_count(), 0u);
  if (simulated()) {
    EXPECT_EQ(hub()->now(), start);
  } else {
    EXPECT_GE(hub()->now() - start, Milliseconds(15));
  }
}

// The main greenlet itself waits; several events set from several threads.
TEST_P(EventTest, CrossThreadSetManyThreads) {
  constexpr int kThreads = 4;
  std::vector<std::unique_ptr<Event>> events;
  for (int i = 0; i < kThreads; ++i) events.push_back(std::make_unique<Event>());
  hub()->ref();
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      std::this_thread::sleep_for(std::chrono::milliseconds(10 + 5 * i));
      events[i]->set();
    });
  }
  for (int i = 0; i < kThreads; ++i) EXPECT_TRUE(events[i]->wait());
  hub()->unref();
  for (auto& t : threads) t.join();
  for (auto& e : events) EXPECT_TRUE(e->is_set());
}

// The hand-off (hub.cc, TryHandOff): a greenlet that blocks right after a
// set() runs the Event's notification pass itself and switches straight to
// each waiter that waits with a ResumeLink (no timeout); a waiter with a
// timeout (a Waiter link) makes the rest of the pass go back to the hub; a
// waiter that returns at once leaves the pass to the hub frame. The order is
// what gevent 22.10 prints for the same program (the Python is in the
// comment).
//   e = Event()
//   def waiter(name, timeout=None, stay=True):
//       log.append(name + ' waits'); r = e.wait(timeout)
//       log.append(name + ' woke ' + str(r))
//       if stay: gevent.sleep(0); log.append(name + ' after sleep')
//   def setter():
//       for i in range(3): gevent.sleep(0)
//       log.append('set'); e.set(); log.append('setter sleeps')
//       gevent.sleep(0); log.append('setter back')
//   joinall([spawn(waiter, 'w1'), spawn(waiter, 'w2', 5),
//            spawn(waiter, 'w3', None, False), spawn(waiter, 'w4'),
//            spawn(setter)])
TEST_P(EventTest, HandOffPassMixedWaitersInGeventOrder) {
  std::vector<std::string> log;
  Event e;
  auto waiter = [&](std::string name, absl::Duration timeout, bool stay) {
    log.push_back(name + " waits");
    bool r = e.wait(timeout);
    log.push_back(name + " woke " + (r ? "True" : "False"));
    if (stay) {
      sleep();
      log.push_back(name + " after sleep");
    }
  };
  auto setter = [&] {
    for (int i = 0; i < 3; ++i) sleep();
    log.push_back("set");
    e.set();
    log.push_back("setter sleeps");
    sleep();
    log.push_back("setter back");
  };
  const absl::Duration inf = absl::InfiniteDuration();
  GreenletList gs = {spawn(waiter, std::string("w1"), inf, true),
                     spawn(waiter, std::string("w2"), Seconds(5), true),
                     spawn(waiter, std::string("w3"), inf, false),
                     spawn(waiter, std::string("w4"), inf, true),
                     spawn(setter)};
  joinall(gs);
  EXPECT_EQ(log, (std::vector<std::string>{
                     "w1 waits", "w2 waits", "w3 waits", "w4 waits", "set",
                     "setter sleeps", "w1 woke True", "w2 woke True",
                     "w3 woke True", "w4 woke True", "setter back",
                     "w1 after sleep", "w2 after sleep", "w4 after sleep"}));
}

// set() + clear() at once, with waiters of both kinds interleaved: every
// waiter that was waiting wakes (the owed wake-ups survive the pass going
// back and forth between greenlets and the hub), each exactly once, in
// order.
TEST_P(EventTest, HandOffSetThenClearWakesMixedWaitersOnce) {
  Event e;
  std::vector<int> woke;
  GreenletList gs;
  for (int i = 0; i < 12; ++i) {
    gs.push_back(spawn([&e, &woke, i] {
      bool r = e.wait(i % 3 == 1 ? Seconds(30) : absl::InfiniteDuration());
      EXPECT_TRUE(r);
      woke.push_back(i);
      // Some end at once: a greenlet woken in place that finishes hands the
      // rest of the pass back to the hub.
      if (i % 4 != 0) sleep();
    }));
  }
  gs.push_back(spawn([&e] {
    sleep();
    sleep();
    e.set();
    e.clear();
    sleep();
  }));
  joinall(gs);
  std::vector<int> want;
  for (int i = 0; i < 12; ++i) want.push_back(i);
  EXPECT_EQ(woke, want);
  EXPECT_FALSE(e.is_set());
}

// The last waiter woken by a pass that a greenlet runs in place destroys
// the Event: the pass must notice and stop touching it.
TEST_P(EventTest, HandOffWaiterDestroysEventDuringPass) {
  auto e = std::make_unique<Event>();
  int woke = 0;
  GreenletList gs;
  for (int i = 0; i < 3; ++i) {
    gs.push_back(spawn([&e, &woke] {
      e->wait();
      if (++woke == 3) e.reset();
      sleep();
    }));
  }
  gs.push_back(spawn([&e] {
    sleep();
    e->set();
    sleep();
  }));
  joinall(gs);
  EXPECT_EQ(woke, 3);
  EXPECT_EQ(e, nullptr);
}

// A waiter that sets the Event again and waits on it once more, without
// clearing it: gevent wakes it again in the same pass (the pass goes on
// while the flag is set), so each waiter passes through its two waits.
TEST_P(EventTest, HandOffWaiterRelinksWhileSet) {
  Event e;
  std::vector<std::string> log;
  GreenletList gs;
  for (int i = 0; i < 2; ++i) {
    gs.push_back(spawn([&e, &log, i] {
      e.wait();
      log.push_back("a" + std::to_string(i));
      e.wait();  // still set: returns at once
      log.push_back("b" + std::to_string(i));
    }));
  }
  gs.push_back(spawn([&e] {
    sleep();
    e.set();
    sleep();
  }));
  joinall(gs);
  EXPECT_EQ(log, (std::vector<std::string>{"a0", "b0", "a1", "b1"}));
}

// A link added while the Event notifies (here by a waiter it woke) waits for
// the next pass, which comes after the callbacks queued meanwhile, as in
// gevent (AbstractLinkable._notify_links stops at the link that was last when
// it began). gevent 22.10 prints ['a', 'b', 'queued', 'late'] for the same
// program.
TEST_P(EventTest, LinksAddedDuringANotificationWaitForTheNextPass) {
  Event e, all_logged;
  std::vector<std::string> log;
  auto note = [&](const char* what) {
    log.push_back(what);
    if (log.size() == 4) all_logged.set();
  };
  auto a = spawn([&] {
    e.wait();
    note("a");
    e.rawlink([&](Waitable&) { note("late"); });
    hub()->run_callback([&] { note("queued"); });
  });
  auto b = spawn([&] {
    e.wait();
    note("b");
  });
  sleep();
  e.set();
  ASSERT_TRUE(all_logged.wait(absl::Seconds(5)));
  EXPECT_EQ(log, (std::vector<std::string>{"a", "b", "queued", "late"}));
  joinall(std::vector<std::shared_ptr<GreenletBase>>{a, b});
}

GEVENT_INSTANTIATE_BACKENDS(EventTest);
GEVENT_INSTANTIATE_BACKENDS(EventSetClearTest);

}  // namespace
}  // namespace gevent
