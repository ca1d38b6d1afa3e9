// Tests for runtime/sleep.h: sleep(0) round robin, deadline order, ties,
// sleep(ref=false), idle() priorities. Both hub backends.
#include "runtime/sleep.h"

#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "runtime/gevent.h"
#include "sim/sim_hub.h"
#include "testing/hub_test.h"

namespace gevent {
namespace {

using absl::Milliseconds;
using absl::Seconds;
using absl::ZeroDuration;
using Log = std::vector<std::string>;

class SleepTest : public testing::HubTest {
 protected:
  // The simulator with seed 0: no jitter, ties in start order.
  bool strict_sim() const {
    auto* s = dynamic_cast<sim::SimHub*>(hub());
    return s != nullptr && s->seed() == 0;
  }
  bool seeded_sim() const { return simulated() && !strict_sim(); }
};

TEST_P(SleepTest, SleepZeroRoundRobinAcrossThreeGreenlets) {
  Log log;
  auto w = [&log](std::string name) {
    for (int i = 0; i < 3; ++i) {
      log.push_back(name + std::to_string(i));
      sleep(ZeroDuration());
    }
  };
  GreenletList gs = {spawn(w, std::string("a")), spawn(w, std::string("b")),
                     spawn(w, std::string("c"))};
  joinall(gs);
  EXPECT_EQ(log, (Log{"a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"}));
}

// sleep(0) chains switch straight from one yielder to the next (the
// hand-off in Hub::yield), except at every 256th callback, where the hub
// checks its pass budget. The order must still be exactly the callback FIFO:
// checked against a model of the FIFO, over more than 256 yields, with a
// spawn and a plain callback queued in the middle of the chain.
TEST_P(SleepTest, SleepZeroHandOffKeepsFifoOrder) {
  constexpr int kSteps = 700;
  Log log;
  std::function<void(std::string)> w;
  std::shared_ptr<GreenletBase> late;
  w = [&](std::string name) {
    for (int i = 0; i < kSteps; ++i) {
      log.push_back(name);
      if (name == "a" && i == 100) late = spawn(w, std::string("d"));
      if (name == "b" && i == 300) {
        get_hub()->run_callback([&log] { log.push_back("cb"); });
      }
      sleep(ZeroDuration());
    }
  };
  GreenletList gs = {spawn(w, std::string("a")), spawn(w, std::string("b")),
                     spawn(w, std::string("c"))};
  joinall(gs);
  late->join();

  // The model: a FIFO of "run this greenlet's next step" and "callback".
  Log want;
  std::deque<std::string> fifo = {"a", "b", "c"};
  std::map<std::string, int> step;
  while (!fifo.empty()) {
    std::string x = fifo.front();
    fifo.pop_front();
    if (x == "cb") {
      want.push_back("cb");
      continue;
    }
    int& i = step[x];
    if (i == kSteps) continue;  // returns: the greenlet ends
    want.push_back(x);
    if (x == "a" && i == 100) fifo.push_back("d");
    if (x == "b" && i == 300) fifo.push_back("cb");
    ++i;
    fifo.push_back(x);
  }
  EXPECT_EQ(log, want);
}

TEST_P(SleepTest, SleepZeroFromMainLetsSpawnedRunFirst) {
  Log log;
  auto g = spawn([&log] { log.push_back("g"); });
  log.push_back("main before");
  sleep(ZeroDuration());
  log.push_back("main after");
  EXPECT_EQ(log, (Log{"main before", "g", "main after"}));
  EXPECT_TRUE(g->dead());
}

TEST_P(SleepTest, SleepersWakeInDeadlineOrder) {
  Log log;
  auto w = [&log](absl::Duration d, std::string name) {
    sleep(d);
    log.push_back(name);
  };
  GreenletList gs = {spawn(w, Milliseconds(40), std::string("40")),
                     spawn(w, Milliseconds(10), std::string("10")),
                     spawn(w, Milliseconds(30), std::string("30")),
                     spawn(w, Milliseconds(20), std::string("20"))};
  joinall(gs);
  EXPECT_EQ(log, (Log{"10", "20", "30", "40"}));
}

TEST_P(SleepTest, SleepAtLeastTheGivenTime) {
  const absl::Time t0 = hub()->now();
  sleep(Milliseconds(20));
  const absl::Duration took = hub()->now() - t0;
  EXPECT_GE(took, Milliseconds(20));
  if (strict_sim()) {  // virtual: exact
    EXPECT_EQ(took, Milliseconds(20));
  }
}

TEST_P(SleepTest, TiesWakeInStartOrder) {
  if (seeded_sim()) GTEST_SKIP() << "a non-zero seed may reorder ties";
  Log log;
  auto w = [&log](std::string name) {
    sleep(Milliseconds(10));
    log.push_back(name);
  };
  GreenletList gs;
  for (const char* n : {"a", "b", "c", "d", "e"}) gs.push_back(spawn(w, n));
  joinall(gs);
  EXPECT_EQ(log, (Log{"a", "b", "c", "d", "e"}));
}

TEST_P(SleepTest, NegativeSleepIsZero) {
  Log log;
  auto g = spawn([&log] { log.push_back("g"); });
  const absl::Time t0 = hub()->now();
  sleep(Seconds(-1));
  log.push_back("main");
  EXPECT_EQ(log, (Log{"g", "main"}));  // it yielded, like sleep(0)
  if (simulated()) {
    EXPECT_EQ(hub()->now(), t0);
  }
  sleep(-absl::InfiniteDuration());
}

TEST_P(SleepTest, UnreferencedSleepDoesNotKeepLoopAlive) {
  auto g = spawn([] { sleep(Seconds(10), /*ref=*/false); });
  EXPECT_TRUE(wait());  // returns although g still sleeps
  EXPECT_FALSE(g->dead());
  EXPECT_TRUE(g->has_run());
}

TEST_P(SleepTest, UnreferencedSleepStillWakesWhileLoopIsAlive) {
  Log log;
  auto g = spawn([&log] {
    sleep(Milliseconds(10), /*ref=*/false);
    log.push_back("unref woke");
  });
  sleep(Milliseconds(30));
  log.push_back("main woke");
  EXPECT_EQ(log, (Log{"unref woke", "main woke"}));
  EXPECT_TRUE(g->dead());
}

TEST_P(SleepTest, UnreferencedSleepInMainIsLoopExit) {
  bool loop_exit = false;
  try {
    sleep(Seconds(10), /*ref=*/false);
  } catch (const LoopExit& e) {
    loop_exit = true;
    EXPECT_EQ(std::string(e.what()).rfind("This operation would block forever",
                                          0),
              0u);
  }
  EXPECT_TRUE(loop_exit);
}

TEST_P(SleepTest, IdleRunsByPriorityAfterBusyWork) {
  Log log;
  auto busy = [&log] {
    for (int i = 0; i < 3; ++i) {
      log.push_back("busy" + std::to_string(i));
      sleep(ZeroDuration());
    }
  };
  auto lazy = [&log](int priority) {
    idle(priority);
    log.push_back("idle" + std::to_string(priority));
  };
  GreenletList gs = {spawn(lazy, 0), spawn(lazy, 2), spawn(busy),
                     spawn(lazy, -1), spawn(lazy, 2)};
  joinall(gs);
  EXPECT_EQ(log, (Log{"busy0", "busy1", "busy2", "idle2", "idle2", "idle0",
                      "idle-1"}));
}

TEST_P(SleepTest, IdleRunsBeforeAPendingTimer) {
  // gevent: idle watchers run while the loop would otherwise wait for the
  // timer.
  Log log;
  GreenletList gs = {spawn([&log] {
                       sleep(Milliseconds(10));
                       log.push_back("sleeper");
                     }),
                     spawn([&log] {
                       idle(0);
                       log.push_back("idle0");
                     }),
                     spawn([&log] {
                       idle(3);
                       log.push_back("idle3");
                     })};
  joinall(gs);
  EXPECT_EQ(log, (Log{"idle3", "idle0", "sleeper"}));
}

TEST_P(SleepTest, IdleInMainReturns) {
  Log log;
  auto g = spawn([&log] {
    log.push_back("g0");
    sleep(ZeroDuration());
    log.push_back("g1");
  });
  idle();
  log.push_back("main idle");
  EXPECT_EQ(log, (Log{"g0", "g1", "main idle"}));
  EXPECT_TRUE(g->dead());
}

TEST_P(SleepTest, SleepIsInterruptedByKill) {
  int after = 0;
  auto g = spawn([&after] {
    sleep(Seconds(10));
    ++after;
  });
  sleep(ZeroDuration());
  const absl::Time t0 = hub()->now();
  g->kill();
  EXPECT_TRUE(g->dead());
  EXPECT_EQ(after, 0);
  if (simulated()) {
    EXPECT_LT(hub()->now() - t0, Seconds(1));
  }
}

TEST_P(SleepTest, SleepZeroLoopDoesNotStarveTimers) {
  // gevent: a greenlet polling a flag with sleep(0) still lets a timer fire
  // (after the switch interval) and the greenlet that sets the flag run.
  // Starved: on epoll, 2 s of wall time without the timer; on the
  // simulator (which lets a switch interval pass per 2^20 callbacks of a
  // busy pass, ~2M yields for 10 ms), 64M yields: a count, not the real
  // clock, so a slow machine (valgrind) cannot fail it.
  bool stop = false;
  const bool sim = simulated();
  auto spinner = spawn([&stop, sim] {
    const absl::Time give_up = absl::Now() + Seconds(2);
    for (uint64_t yields = 0; !stop; ++yields) {
      if (sim ? yields > (uint64_t{1} << 26) : absl::Now() > give_up) return false;
      sleep(ZeroDuration());
    }
    return true;
  });
  auto setter = spawn([&stop] {
    sleep(Milliseconds(10));
    stop = true;
  });
  joinall(GreenletList{spinner, setter});
  EXPECT_TRUE(spinner->get()) << "the sleep(0) loop starved the 10 ms timer";
}

// A batch of due timers: one that an earlier timer of the same batch stops,
// or destroys, never fires; one stopped and started again fires once, in a
// later pass (timers started while a batch fires wait for the next one).
TEST_P(SleepTest, TimersStoppedWhileTheirBatchFiresDoNotFire) {
  struct Probe : Timer {
    Probe(Log* log, std::string name, std::function<void()> then)
        : Timer(&Fire), log(log), name(std::move(name)), then(std::move(then)) {}
    static void Fire(Timer* t) {
      auto* p = static_cast<Probe*>(t);
      p->log->push_back(p->name);
      if (p->then) p->then();
    }
    Log* log;
    std::string name;
    std::function<void()> then;
  };
  Log log;
  Hub* h = hub();
  auto doomed = std::make_unique<Probe>(&log, "doomed", nullptr);
  Probe stopped(&log, "stopped", nullptr);
  Probe restarted(&log, "restarted", nullptr);
  Probe first(&log, "first", [&] {
    h->stop(&stopped);
    doomed.reset();  // its destructor stops it
    h->stop(&restarted);
    h->start(&restarted, ZeroDuration());
  });
  Probe last(&log, "last", nullptr);
  // Equal deadlines: on the epoll hub they fire in start order; so does the
  // simulator with seed 0 (the only one whose order this test fixes).
  if (seeded_sim()) GTEST_SKIP() << "tie order is the seed's";
  const absl::Duration d = Milliseconds(20);
  h->start(&first, d);
  h->start(doomed.get(), d);
  h->start(&stopped, d);
  h->start(&restarted, d);
  h->start(&last, d);
  sleep(Milliseconds(40));
  EXPECT_EQ(log, (Log{"first", "last", "restarted"}));
  EXPECT_FALSE(stopped.active());
  EXPECT_FALSE(restarted.active());
}

// Hub::start_sleep (what sleep() calls) reports what start() reports after
// the sleep: the sleep, then its timer's start, through a recorder's lane or
// one by one without one.
TEST_P(SleepTest, StartSleepReportsTheSleepThenItsTimerStart) {
  struct Seen : HubObserver {
    std::vector<std::string> events;
    void OnHubEvent(const HubEvent& e) override {
      if (e.kind == HubEventKind::kSleep || e.kind == HubEventKind::kTimerStarted) {
        events.push_back(std::to_string(static_cast<int>(e.kind)) + ":" +
                         std::to_string(e.greenlet) + ":" + std::to_string(e.b));
      }
    }
  } seen;
  Hub* h = hub();
  h->set_observer(&seen);
  uint64_t a_id = 0, b_id = 0;
  auto a = spawn([&] {
    a_id = h->current()->id();
    ResumeTimer timer(h, h->current());
    h->start_sleep(&timer, Milliseconds(15), true);
    h->wait("start_sleep");
  });
  auto b = spawn([&] {
    b_id = h->current()->id();
    sleep(Milliseconds(15));
  });
  joinall(GreenletList{a, b});
  h->set_observer(nullptr);
  const std::string ns = std::to_string(absl::ToInt64Nanoseconds(Milliseconds(15)));
  const auto pair = [&](uint64_t id) {
    return std::vector<std::string>{"11:" + std::to_string(id) + ":1",
                                    "16:" + std::to_string(id) + ":" + ns};
  };
  std::vector<std::string> want = pair(a_id);
  for (auto& e : pair(b_id)) want.push_back(e);
  EXPECT_EQ(seen.events, want);
}

// Before a wait the hub calls an observer's BeforeWait (a recorder writes
// its file there); for an observer with a lane, only once the lane's
// position reaches before_wait_pos or for a wait whose deadline is
// before_wait_ns or later.
TEST_P(SleepTest, LaneSaysWhenBeforeWaitIsCalled) {
  struct Waits : HubObserver {
    HubEventLane events;  // offers nothing: every event reaches OnHubEvent
    int calls = 0;
    void OnHubEvent(const HubEvent&) override {}
    HubEventLane* lane() override { return &events; }
    bool WantsBeforeWait() const override { return true; }
    int64_t BeforeWait(int64_t, int64_t deadline_ns) override {
      ++calls;
      return deadline_ns;
    }
  } w;
  uint8_t buf[64] = {};
  w.events.pos = w.events.limit = buf;
  const auto never = std::numeric_limits<int64_t>::max();
  Hub* h = hub();
  h->set_observer(&w);
  // Neither reached: no call.
  w.events.before_wait_pos = buf + 1;
  w.events.before_wait_ns = never;
  sleep(Milliseconds(15));
  sleep(Milliseconds(15));
  EXPECT_EQ(w.calls, 0);
  // Waits ending at or after before_wait_ns: all of them here.
  w.events.before_wait_ns = std::numeric_limits<int64_t>::min();
  sleep(Milliseconds(15));
  sleep(Milliseconds(15));
  EXPECT_GE(w.calls, 2);
  // A wait ending past before_wait_ns, which the clock has not reached:
  // the wait's end is what counts.
  w.calls = 0;
  w.events.before_wait_ns =
      ToNanos(h->now()) + absl::ToInt64Nanoseconds(Milliseconds(5));
  sleep(Milliseconds(15));
  EXPECT_GE(w.calls, 1);
  // The position reached.
  w.calls = 0;
  w.events.before_wait_ns = never;
  w.events.before_wait_pos = buf;
  sleep(Milliseconds(15));
  EXPECT_GE(w.calls, 1);
  // A lane left as it is made: before every wait, as without a lane.
  w.calls = 0;
  w.events.before_wait_pos = nullptr;
  w.events.before_wait_ns = 0;
  sleep(Milliseconds(15));
  EXPECT_GE(w.calls, 1);
  h->set_observer(nullptr);
}

// An observer may have the loop come back earlier than its deadline, for
// work of its own (a recorder's write falling due in a long wait): the loop
// wakes then with no events (the clock's move is reported), waits again,
// and the sleeper still sleeps its whole time.
TEST_P(SleepTest, BeforeWaitMayBringTheLoopBackEarlier) {
  struct Early : HubObserver {
    int64_t asked_now = 0, asked_deadline = 0, back = 0;
    std::vector<int64_t> advanced_to;
    void OnHubEvent(const HubEvent& e) override {
      if (e.kind == HubEventKind::kTimeAdvanced) advanced_to.push_back(e.time_ns);
    }
    bool WantsBeforeWait() const override { return true; }
    int64_t BeforeWait(int64_t now_ns, int64_t deadline_ns) override {
      if (back != 0) return deadline_ns;  // once
      asked_now = now_ns;
      asked_deadline = deadline_ns;
      back = now_ns + absl::ToInt64Nanoseconds(Milliseconds(10));
      return back;
    }
  } early;
  Hub* h = hub();
  h->set_observer(&early);
  const absl::Time start = h->now();
  sleep(Milliseconds(60));  // 50 ms of slack for a late early wake-up
  const absl::Time end = h->now();
  h->set_observer(nullptr);
  EXPECT_GE(end - start, Milliseconds(60));
  ASSERT_NE(early.back, 0);
  EXPECT_GE(early.asked_deadline - early.asked_now,
            absl::ToInt64Nanoseconds(Milliseconds(50)));
  // The first move of the clock is the early wake-up, before the deadline.
  ASSERT_GE(early.advanced_to.size(), 2u);
  EXPECT_GE(early.advanced_to[0], early.back);
  EXPECT_LT(early.advanced_to[0], early.asked_deadline);
  if (simulated()) EXPECT_EQ(early.advanced_to[0], early.back);
  EXPECT_GE(early.advanced_to.back(), early.asked_deadline);
}

// A sleep that can never end (a deadline past the end of time) is not a
// hang: with nothing else to wake the loop, the main greenlet gets LoopExit
// naming the sleeper, on both hubs.
TEST_P(SleepTest, AnEndlessSleepIsALoopExitNotAHang) {
  auto g = spawn([] { sleep(absl::InfiniteDuration()); });
  g->set_name("forever");
  try {
    g->join();
    FAIL() << "join() returned";
  } catch (const LoopExit& e) {
    EXPECT_NE(std::string(e.what()).find("forever is blocked in sleep"), std::string::npos)
        << e.what();
  }
  g->kill();
  // The main greenlet itself, and a sleep ending after the year 2262.
  EXPECT_THROW(sleep(absl::InfiniteDuration()), LoopExit);
  EXPECT_THROW(sleep(absl::Hours(24 * 365 * 300)), LoopExit);
  // The loop still runs what can end.
  auto h = spawn([] { sleep(absl::Milliseconds(10)); return 3; });
  EXPECT_EQ(h->get(), 3);
}

GEVENT_INSTANTIATE_BACKENDS(SleepTest);

}  // namespace
}  // namespace gevent
