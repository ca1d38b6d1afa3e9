// Tests for runtime/wait.h: wait, iwait, joinall, killall, kill, and
// wait() without objects. Both hub backends.
#include "runtime/wait.h"

#include <algorithm>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "runtime/gevent.h"
#include "testing/hub_test.h"

namespace gevent {
namespace {

using absl::Milliseconds;
using absl::Seconds;
using absl::ZeroDuration;
using IntGreenlets = std::vector<std::shared_ptr<Greenlet<int>>>;

struct Boom : std::runtime_error {
  explicit Boom(const std::string& w = "boom") : std::runtime_error(w) {}
};

class WaitTest : public testing::HubTest {
 protected:
  void SetUp() override {
    HubTest::SetUp();
    hub()->set_error_handler([](const RawGreenlet*, std::exception_ptr) {});
  }
  // Three greenlets finishing at 60, 20 and 40 ms with values 3, 1, 2 (wide
  // gaps, so that a loaded machine cannot swap them on epoll).
  IntGreenlets ThreeNappers() {
    auto f = [](absl::Duration d, int v) {
      sleep(d);
      return v;
    };
    return {spawn(f, Milliseconds(60), 3), spawn(f, Milliseconds(20), 1),
            spawn(f, Milliseconds(40), 2)};
  }
  static std::vector<int> Values(const IntGreenlets& gs) {
    std::vector<int> out;
    for (auto& g : gs) out.push_back(g->value().value_or(-1));
    return out;
  }
};

// ------------------------------------------------------------ wait

TEST_P(WaitTest, WaitAllReturnsInFinishingOrder) {
  IntGreenlets gs = ThreeNappers();
  IntGreenlets ready = wait(gs);
  EXPECT_EQ(Values(ready), (std::vector<int>{1, 2, 3}));
  ASSERT_EQ(ready.size(), 3u);
  EXPECT_EQ(ready[0], gs[1]);  // the same elements come back
  for (auto& g : gs) EXPECT_TRUE(g->dead());
}

// Many objects becoming ready in a scrambled order, some together: each
// comes back once, in the order it became ready (the set's ready FIFO).
TEST_P(WaitTest, ManyObjectsComeBackOnceInReadinessOrder) {
  constexpr int kEvents = 1000;
  std::vector<std::unique_ptr<Event>> owned;
  std::vector<Event*> events;
  for (int i = 0; i < kEvents; ++i) {
    owned.push_back(std::make_unique<Event>());
    events.push_back(owned.back().get());
  }
  std::vector<int> order(kEvents);
  for (int i = 0; i < kEvents; ++i) order[i] = (i * 379) % kEvents;  // a permutation
  auto setter = spawn([&] {
    for (int k = 0; k < kEvents; ++k) {
      events[order[k]]->set();
      if (k % 7 == 0) sleep();  // some one by one, some in a batch
    }
  });
  std::vector<Event*> ready = wait(events);
  ASSERT_EQ(ready.size(), static_cast<size_t>(kEvents));
  for (int k = 0; k < kEvents; ++k) {
    ASSERT_EQ(ready[k], events[order[k]]) << "position " << k;
  }
  setter->join();

  // All ready now, and the last one set is still in its notification pass
  // (it woke this greenlet): a wait for 10 returns the first 10 of the
  // list, in list order, as gevent does (22.10: [0, 1, ..., 9]); the link
  // made during that pass waits for the next one.
  std::vector<Event*> first = wait(events, absl::InfiniteDuration(), 10);
  EXPECT_EQ(first, std::vector<Event*>(events.begin(), events.begin() + 10));
  owned.clear();  // the events go before the links of later passes ran
  sleep();
}

TEST_P(WaitTest, WaitCount) {
  IntGreenlets gs = ThreeNappers();
  IntGreenlets first = wait(gs, absl::InfiniteDuration(), 1);
  EXPECT_EQ(Values(first), std::vector<int>{1});
  EXPECT_FALSE(gs[2]->dead());
  IntGreenlets two = wait(gs, absl::InfiniteDuration(), 2);
  EXPECT_EQ(Values(two), (std::vector<int>{1, 2}));  // 1 is ready at once
  EXPECT_FALSE(gs[0]->dead());
  IntGreenlets more = wait(gs, absl::InfiniteDuration(), 10);  // > size
  EXPECT_EQ(more.size(), 3u);
  for (auto& g : gs) EXPECT_TRUE(g->dead());
}

TEST_P(WaitTest, WaitCountZeroReturnsAtOnce) {
  IntGreenlets gs = ThreeNappers();
  const absl::Time t0 = hub()->now();
  EXPECT_TRUE(wait(gs, absl::InfiniteDuration(), 0).empty());
  EXPECT_FALSE(gs[1]->has_run());  // did not even yield
  if (simulated()) {
    EXPECT_EQ(hub()->now(), t0);
  }
  joinall(gs);
}

TEST_P(WaitTest, WaitTimeoutReturnsOnlyReadyOnes) {
  auto f = [](absl::Duration d, int v) {
    sleep(d);
    return v;
  };
  IntGreenlets gs = {spawn(f, Milliseconds(10), 1),
                     spawn(f, Milliseconds(60), 2)};
  IntGreenlets ready = wait(gs, Milliseconds(30));
  EXPECT_EQ(Values(ready), std::vector<int>{1});
  EXPECT_FALSE(gs[1]->dead());
  EXPECT_TRUE(wait(IntGreenlets{gs[1]}, Milliseconds(10)).empty());
  EXPECT_EQ(wait(gs).size(), 2u);
}

TEST_P(WaitTest, WaitTimeoutZeroPollsReadiness) {
  IntGreenlets gs = ThreeNappers();
  EXPECT_TRUE(wait(gs, ZeroDuration()).empty());
  joinall(gs);
  EXPECT_EQ(wait(gs, ZeroDuration()).size(), 3u);
}

// ------------------------------------------------------------ iwait

TEST_P(WaitTest, IwaitYieldsInFinishingOrder) {
  IntGreenlets gs = ThreeNappers();
  std::vector<int> got;
  std::vector<bool> others_dead;
  for (auto& g : iwait(gs)) {
    got.push_back(*g->value());
    // Each step yields as soon as the next one is ready.
    if (got.size() == 1) others_dead.push_back(gs[0]->dead());
  }
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(others_dead, std::vector<bool>{false});
}

TEST_P(WaitTest, IwaitCountAndTimeout) {
  IntGreenlets gs = ThreeNappers();
  std::vector<int> got;
  for (auto& g : iwait(gs, absl::InfiniteDuration(), 2)) got.push_back(*g->value());
  EXPECT_EQ(got, (std::vector<int>{1, 2}));
  EXPECT_FALSE(gs[0]->dead());
  got.clear();
  IntGreenlets slow = {spawn([] {
                         sleep(Milliseconds(60));
                         return 9;
                       }),
                       spawn([] {
                         sleep(Milliseconds(10));
                         return 8;
                       })};
  for (auto& g : iwait(slow, Milliseconds(30))) got.push_back(*g->value());
  EXPECT_EQ(got, std::vector<int>{8});
  EXPECT_FALSE(slow[0]->dead());
  joinall(gs);
  joinall(slow);
}

TEST_P(WaitTest, IwaitBreakingOutEarlyLeavesNothingBehind) {
  IntGreenlets gs = ThreeNappers();
  int first = 0;
  for (auto& g : iwait(gs)) {
    first = *g->value();
    break;
  }
  EXPECT_EQ(first, 1);
  for (auto& g : gs) EXPECT_EQ(g->link_count(), 0u);
  EXPECT_EQ(joinall(gs).size(), 3u);
}

// ------------------------------------------------------------ mixed, empty

TEST_P(WaitTest, MixedGreenletTypes) {
  std::vector<std::string> log;
  GreenletList gs = {
      spawn([&log] {
        sleep(Milliseconds(60));
        log.push_back("int");
        return 1;
      }),
      spawn([&log] {
        sleep(Milliseconds(20));
        log.push_back("void");
      }),
      spawn([&log] {
        sleep(Milliseconds(40));
        log.push_back("string");
        return std::string("s");
      })};
  GreenletList first = wait(gs, absl::InfiniteDuration(), 1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0], gs[1]);
  GreenletList order;
  for (auto& g : iwait(gs)) order.push_back(g);
  EXPECT_EQ(order, (GreenletList{gs[1], gs[2], gs[0]}));
  EXPECT_EQ(joinall(gs).size(), 3u);
  EXPECT_EQ(log, (std::vector<std::string>{"void", "string", "int"}));
}

TEST_P(WaitTest, MixedWaitables) {
  Event e;
  auto setter = spawn([&e] {
    sleep(Milliseconds(10));
    e.set();
  });
  auto g = spawn([] {
    sleep(Milliseconds(30));
    return 1;
  });
  std::vector<Waitable*> objects = {g.get(), &e};
  std::vector<Waitable*> first = wait(objects, absl::InfiniteDuration(), 1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0], &e);
  EXPECT_FALSE(g->dead());
  std::vector<Waitable*> all = wait(objects);
  EXPECT_EQ(all.size(), 2u);
  EXPECT_TRUE(g->dead());
  setter->join();
}

TEST_P(WaitTest, EmptyListsReturnAtOnce) {
  const absl::Time t0 = hub()->now();
  GreenletList none;
  EXPECT_TRUE(wait(none).empty());
  EXPECT_TRUE(wait(none, Milliseconds(10)).empty());
  int steps = 0;
  for (auto& g : iwait(none)) {
    (void)g;
    ++steps;
  }
  EXPECT_EQ(steps, 0);
  EXPECT_TRUE(joinall(none).empty());
  EXPECT_TRUE(joinall(none, absl::InfiniteDuration(), true).empty());
  killall(none);
  killall(none, std::make_exception_ptr(Boom()), false);
  if (simulated()) {
    EXPECT_EQ(hub()->now(), t0);
  }
}

TEST_P(WaitTest, AlreadyReadyObjects) {
  IntGreenlets gs = ThreeNappers();
  joinall(gs);
  // Let the hub finish the notification passes that joinall() left running
  // (a link added while an object's pass is still running is called by that
  // pass first, as in gevent).
  sleep(Milliseconds(10));
  const absl::Time t0 = hub()->now();
  // iwait hands out objects that were ready already in list order (gevent).
  std::vector<int> got;
  for (auto& g : iwait(gs)) got.push_back(*g->value());
  EXPECT_EQ(got, (std::vector<int>{3, 1, 2}));
  sleep(ZeroDuration());
  IntGreenlets first = wait(gs, absl::InfiniteDuration(), 1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0], gs[0]);
  std::vector<int> all = Values(wait(gs));
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(joinall(gs).size(), 3u);
  Event e;
  e.set();
  std::vector<Event*> events = {&e};
  EXPECT_EQ(wait(events).size(), 1u);
  if (simulated()) {
    EXPECT_EQ(hub()->now(), t0);
  }
}

// ------------------------------------------------------------ joinall

TEST_P(WaitTest, JoinallWaitsForAllAndHonoursCountAndTimeout) {
  IntGreenlets gs = ThreeNappers();
  IntGreenlets some = joinall(gs, Milliseconds(30));
  EXPECT_EQ(Values(some), std::vector<int>{1});
  IntGreenlets two = joinall(gs, absl::InfiniteDuration(), false, 2);
  EXPECT_EQ(Values(two), (std::vector<int>{1, 2}));
  IntGreenlets all = joinall(gs);
  ASSERT_EQ(all.size(), 3u);
  // 1 and 2 were ready already (in either order); 3 finishes last.
  std::vector<int> v = Values(all);
  EXPECT_EQ(v[2], 3);
  std::sort(v.begin(), v.end());
  EXPECT_EQ(v, (std::vector<int>{1, 2, 3}));
}

TEST_P(WaitTest, JoinallWithoutRaiseErrorDoesNotThrow) {
  IntGreenlets gs = {spawn([]() -> int { throw Boom(); }),
                     spawn([] { return 2; })};
  IntGreenlets done;
  EXPECT_NO_THROW(done = joinall(gs));
  EXPECT_EQ(done.size(), 2u);
}

TEST_P(WaitTest, JoinallRaiseErrorRethrowsTheFirstFailureAtOnce) {
  auto fail = [](absl::Duration d, std::string what) -> int {
    sleep(d);
    throw Boom(what);
  };
  IntGreenlets gs = {spawn(fail, Milliseconds(20), std::string("second")),
                     spawn([] {
                       sleep(Milliseconds(40));
                       return 3;
                     }),
                     spawn(fail, Milliseconds(10), std::string("first"))};
  std::string what;
  try {
    joinall(gs, absl::InfiniteDuration(), /*raise_error=*/true);
  } catch (const Boom& e) {
    what = e.what();
  }
  EXPECT_EQ(what, "first");
  EXPECT_FALSE(gs[0]->dead());  // thrown as soon as the first one failed
  EXPECT_FALSE(gs[1]->dead());
  EXPECT_EQ(joinall(gs).size(), 3u);
}

TEST_P(WaitTest, JoinallRaiseErrorWithoutFailuresReturnsAll) {
  IntGreenlets gs = ThreeNappers();
  auto killed = spawn([] {
    sleep(Seconds(10));
    return 0;
  });
  gs.push_back(killed);
  sleep(ZeroDuration());
  killed->kill();  // GreenletExit is a success
  IntGreenlets done;
  EXPECT_NO_THROW(done = joinall(gs, absl::InfiniteDuration(), true));
  EXPECT_EQ(done.size(), 4u);
}

TEST_P(WaitTest, JoinallRaiseErrorOnAlreadyFailed) {
  IntGreenlets gs = {spawn([] { return 1; }),
                     spawn([]() -> int { throw Boom("dead already"); })};
  sleep(Milliseconds(10));
  ASSERT_TRUE(gs[1]->dead());
  EXPECT_THROW(joinall(gs, absl::InfiniteDuration(), true), Boom);
}

// ------------------------------------------------------------ killall

TEST_P(WaitTest, KillallKillsRunningAndUnstarted) {
  int started = 0, finally_ran = 0;
  auto body = [&] {
    ++started;
    struct F {
      int* n;
      ~F() { ++*n; }
    } f{&finally_ran};
    sleep(Seconds(10));
  };
  GreenletList gs = {spawn(body), spawn(body), make_greenlet(body)};
  sleep(ZeroDuration());
  ASSERT_EQ(started, 2);
  auto late = spawn(body);  // scheduled, not yet run
  gs.push_back(late);
  killall(gs);
  for (auto& g : gs) {
    EXPECT_TRUE(g->dead());
    EXPECT_TRUE(static_cast<GreenletBase&>(*g).killed());
  }
  sleep(Milliseconds(10));
  EXPECT_EQ(started, 2);
  EXPECT_EQ(finally_ran, 2);
}

TEST_P(WaitTest, KillallWithExceptionAndNonBlocking) {
  std::vector<std::shared_ptr<Greenlet<void>>> gs = {
      spawn([] { sleep(Seconds(10)); }), spawn([] { sleep(Seconds(10)); })};
  sleep(ZeroDuration());
  killall(gs, std::make_exception_ptr(Boom()), /*block=*/false);
  EXPECT_FALSE(gs[0]->dead());
  EXPECT_FALSE(gs[1]->dead());
  sleep(ZeroDuration());
  for (auto& g : gs) {
    EXPECT_TRUE(g->dead());
    EXPECT_FALSE(g->successful());
    EXPECT_THROW(g->get(), Boom);
  }
}

TEST_P(WaitTest, KillallTimeoutWhenAGreenletRefusesToDie) {
  bool refuse = true;
  int exits = 0;
  auto stubborn = spawn([&] {
    for (;;) {
      try {
        sleep(Seconds(1));
        return;
      } catch (const GreenletExit&) {
        ++exits;
        if (!refuse) throw;
      }
    }
  });
  auto meek = spawn([] { sleep(Seconds(10)); });
  sleep(ZeroDuration());
  bool timed_out = false;
  try {
    killall(GreenletList{stubborn, meek}, nullptr, true, Milliseconds(20));
  } catch (const TimeoutError&) {
    timed_out = true;
  }
  EXPECT_TRUE(timed_out);
  EXPECT_EQ(exits, 1);
  EXPECT_FALSE(stubborn->dead());
  EXPECT_TRUE(meek->dead());
  refuse = false;
  stubborn->kill();
  EXPECT_TRUE(stubborn->dead());
  EXPECT_EQ(exits, 2);
  // killall with a timeout that is met does not throw.
  auto quick = spawn([] { sleep(Seconds(10)); });
  sleep(ZeroDuration());
  EXPECT_NO_THROW(killall(GreenletList{quick}, nullptr, true, Milliseconds(20)));
  EXPECT_TRUE(quick->dead());
  EXPECT_NO_THROW(sleep(Milliseconds(30)));  // no stray timeout later
}

TEST_P(WaitTest, KillFunctionDoesNotBlock) {
  auto g = spawn([] { sleep(Seconds(10)); });
  std::shared_ptr<RawGreenlet> r = spawn_raw([] { sleep(Seconds(10)); });
  sleep(ZeroDuration());
  kill(g);
  kill(r);
  EXPECT_FALSE(g->dead());
  EXPECT_FALSE(r->finished());
  sleep(ZeroDuration());
  sleep(Milliseconds(10));
  EXPECT_TRUE(g->dead());
  EXPECT_TRUE(g->killed());
  EXPECT_TRUE(r->finished());
  kill(g);  // dead: nothing happens
  kill(nullptr);
}

// ------------------------------------------------------------ wait()

TEST_P(WaitTest, WaitWithoutObjectsReturnsWhenNothingIsLeft) {
  int done = 0;
  auto a = spawn([&done] {
    sleep(Milliseconds(10));
    ++done;
  });
  auto b = spawn([&done] {
    sleep(Milliseconds(20));
    ++done;
  });
  spawn_later(Milliseconds(30), [&done] { ++done; });
  EXPECT_TRUE(wait());
  EXPECT_EQ(done, 3);
  EXPECT_TRUE(a->dead());
  EXPECT_TRUE(b->dead());
  EXPECT_TRUE(wait());  // nothing at all: at once
}

TEST_P(WaitTest, WaitWithoutObjectsTimesOut) {
  auto g = spawn([] { sleep(Milliseconds(60)); });
  EXPECT_FALSE(wait(Milliseconds(20)));
  EXPECT_FALSE(g->dead());
  EXPECT_TRUE(wait(Seconds(10)));
  EXPECT_TRUE(g->dead());
}

TEST_P(WaitTest, WaitWithoutObjectsIgnoresUnreferencedSleep) {
  auto g = spawn([] { sleep(Seconds(10), /*ref=*/false); });
  auto h = spawn([] { sleep(Milliseconds(10)); });
  EXPECT_TRUE(wait());
  EXPECT_TRUE(h->dead());
  EXPECT_FALSE(g->dead());
}

TEST_P(WaitTest, LoopExitWhenBlockingForever) {
  Event e;
  std::string what;
  try {
    e.wait();
  } catch (const LoopExit& x) {
    what = x.what();
  }
  EXPECT_EQ(what.rfind("This operation would block forever", 0), 0u) << what;
  // Joining a greenlet that waits for nothing that can happen.
  auto g = spawn([&e] { e.wait(); });
  what.clear();
  try {
    g->join();
  } catch (const LoopExit& x) {
    what = x.what();
  }
  EXPECT_EQ(what.rfind("This operation would block forever", 0), 0u) << what;
  EXPECT_NE(what.find("join"), std::string::npos) << what;
  EXPECT_FALSE(g->dead());
  // The hub is still usable afterwards.
  auto h = spawn([] {
    sleep(Milliseconds(10));
    return 5;
  });
  EXPECT_EQ(h->get(), 5);
  e.set();
  g->join();
  EXPECT_TRUE(g->successful());
}

// Braced lists of greenlets of different result types, as gevent users
// write joinall([a, b]).
TEST_P(WaitTest, BracedListsOfMixedGreenlets) {
  auto a = spawn([] { sleep(absl::Milliseconds(20)); return 1; });
  auto b = spawn([] { sleep(absl::Milliseconds(10)); return std::string("b"); });
  auto c = spawn([] { sleep(absl::Milliseconds(30)); });
  GreenletList first = wait({a, b, c}, absl::InfiniteDuration(), 1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0], b);
  GreenletList done = joinall({a, b});
  EXPECT_EQ(done.size(), 2u);
  EXPECT_TRUE(a->ready());
  killall({c});
  EXPECT_TRUE(c->ready());
}

// killall and kill take an exception value as Greenlet::kill does.
TEST_P(WaitTest, KillallAndKillTakeAnExceptionValue) {
  struct Stop {};
  auto a = spawn([] { sleep(absl::Seconds(5)); });
  auto b = spawn([] { sleep(absl::Seconds(5)); });
  sleep(absl::Milliseconds(1));
  killall(GreenletList{a}, Stop{});
  ASSERT_TRUE(a->ready());
  const std::string type = exception_type_name(a->exception());
  EXPECT_EQ(type.substr(type.size() - 6), "::Stop") << type;
  kill(b, std::runtime_error("stop b"));
  b->join();
  EXPECT_EQ(exception_message(b->exception()), "stop b");
}

// killall takes raw greenlets too, as gevent does: each gets the exception
// at its blocking point, one that has not run never runs its function, and
// with `block` killall returns only once every one has finished, even one
// that caught the exception and blocked again.
TEST_P(WaitTest, KillallKillsRawGreenlets) {
  std::vector<std::string> log;
  auto sleeper = spawn_raw([&] {
    try {
      sleep(Seconds(10));
      log.push_back("sleeper woke");
    } catch (const GreenletExit&) {
      log.push_back("sleeper killed");
      throw;
    }
  });
  auto careful = spawn_raw([&] {
    try {
      sleep(Seconds(10));
    } catch (const GreenletExit&) {
      log.push_back("careful cleaning up");
      sleep(Milliseconds(20));
      log.push_back("careful done");
    }
  });
  auto typed = spawn([] { sleep(Seconds(10)); return 7; });
  sleep(ZeroDuration());
  auto unstarted = spawn_raw([&] { log.push_back("unstarted ran"); });
  killall({sleeper, careful, typed, unstarted});
  EXPECT_TRUE(sleeper->finished());
  EXPECT_TRUE(careful->finished());
  EXPECT_TRUE(unstarted->finished());
  EXPECT_TRUE(typed->killed());
  EXPECT_EQ(log, (std::vector<std::string>{"sleeper killed", "careful cleaning up", "careful done"}));
  // A plain vector of raw greenlets, without blocking.
  std::vector<std::shared_ptr<RawGreenlet>> raws{spawn_raw([] { sleep(Seconds(10)); })};
  sleep(ZeroDuration());
  killall(raws, nullptr, /*block=*/false);
  EXPECT_FALSE(raws[0]->finished());
  sleep(Milliseconds(10));
  EXPECT_TRUE(raws[0]->finished());
}

// A raw greenlet that will not die makes a blocking killall time out, as a
// Greenlet does; the main greenlet and the hub cannot be killed.
TEST_P(WaitTest, KillallOfRawGreenletsTimesOutAndRefusesMainAndHub) {
  bool refuse = true;
  auto stubborn = spawn_raw([&] {
    for (;;) {
      try {
        sleep(Seconds(1));
        return;
      } catch (const GreenletExit&) {
        if (!refuse) return;
      }
    }
  });
  sleep(ZeroDuration());
  EXPECT_THROW(killall({stubborn}, nullptr, true, Milliseconds(20)), TimeoutError);
  EXPECT_FALSE(stubborn->finished());
  refuse = false;
  killall({stubborn});
  EXPECT_TRUE(stubborn->finished());
  std::shared_ptr<RawGreenlet> main = getcurrent()->shared_from_this();
  try {
    killall({main});
    ADD_FAILURE() << "killall of the main greenlet did not throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("the main greenlet, which cannot be killed"),
              std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(sleep(Milliseconds(30)));  // no stray timeout later
}

GEVENT_INSTANTIATE_BACKENDS(WaitTest);

}  // namespace
}  // namespace gevent
