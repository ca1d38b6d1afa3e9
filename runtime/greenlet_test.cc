// Tests for runtime/greenlet.h: spawn/get, start ordering, join, links,
// status flags, names, error reporting, the kill matrix and bad inputs.
// Every behaviour test runs on the epoll hub and on the simulated hub.
#include "runtime/greenlet.h"

#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "runtime/gevent.h"
#include "sim/sim_hub.h"
#include "testing/hub_test.h"

namespace gevent {
namespace {

using absl::Milliseconds;
using absl::Seconds;
using absl::ZeroDuration;

// Runs its function when it goes out of scope: Python's `finally:`.
class Finally {
 public:
  explicit Finally(std::function<void()> f) : f_(std::move(f)) {}
  ~Finally() { f_(); }

 private:
  std::function<void()> f_;
};

struct Boom : std::runtime_error {
  Boom() : std::runtime_error("boom") {}
};

// "Boom", "GreenletExit", "TimeoutError", "std::logic_error: ..." ...
std::string Kind(std::exception_ptr e) {
  if (e == nullptr) return "none";
  try {
    std::rethrow_exception(e);
  } catch (const Boom&) {
    return "Boom";
  } catch (const GreenletExit&) {
    return "GreenletExit";
  } catch (const TimeoutError&) {
    return "TimeoutError";
  } catch (const BlockingSwitchOutError&) {
    return "BlockingSwitchOutError";
  } catch (const std::exception& x) {
    return std::string("std::exception: ") + x.what();
  } catch (...) {
    return "unknown";
  }
}

class GreenletTest : public testing::HubTest {
 protected:
  struct Report {
    const RawGreenlet* where;
    std::string name;
    std::string kind;
  };
  // Counts what reaches the hub's error handler (instead of printing it).
  void RecordErrors() {
    hub()->set_error_handler(
        [this](const RawGreenlet* where, std::exception_ptr e) {
          reports_.push_back(
              {where, where != nullptr ? where->name() : "(hub)", Kind(e)});
        });
  }
  // True on the simulator with seed 0: no timer jitter, strict tie order.
  bool strict_sim() const {
    auto* s = dynamic_cast<sim::SimHub*>(hub());
    return s != nullptr && s->seed() == 0;
  }
  std::vector<Report> reports_;
};

// ------------------------------------------------------------ spawn / get

TEST_P(GreenletTest, SpawnGetInt) {
  auto g = spawn([](int x) {
    sleep(Milliseconds(10));
    return x * 2;
  }, 21);
  static_assert(std::is_same_v<decltype(g), std::shared_ptr<Greenlet<int>>>);
  EXPECT_EQ(g->get(), 42);
  EXPECT_EQ(g->value(), std::optional<int>(42));
  EXPECT_EQ(g->get(), 42);  // again: the value is kept
}

TEST_P(GreenletTest, SpawnGetString) {
  auto g = spawn([](std::string a, const std::string& b) { return a + b; },
                 std::string("foo"), std::string("bar"));
  static_assert(
      std::is_same_v<decltype(g), std::shared_ptr<Greenlet<std::string>>>);
  EXPECT_EQ(g->get(), "foobar");
}

TEST_P(GreenletTest, SpawnArgumentsAreCopiedAtSpawnTime) {
  std::string s = "before";
  auto g = spawn([](const std::string& x) { return x; }, s);
  s = "after";
  EXPECT_EQ(g->get(), "before");
}

TEST_P(GreenletTest, SpawnGetVoid) {
  int ran = 0;
  auto g = spawn([&ran] {
    sleep(Milliseconds(10));
    ++ran;
  });
  static_assert(std::is_same_v<decltype(g), std::shared_ptr<Greenlet<void>>>);
  g->get();
  EXPECT_EQ(ran, 1);
  EXPECT_TRUE(g->dead());
  EXPECT_TRUE(g->successful());
}

TEST_P(GreenletTest, MoveOnlyResultIsKept) {
  auto g = spawn([] {
    sleep(Milliseconds(10));
    return std::make_unique<int>(7);
  });
  static_assert(std::is_same_v<decltype(g),
                               std::shared_ptr<Greenlet<std::unique_ptr<int>>>>);
  g->join();
  ASSERT_TRUE(g->successful());
  ASSERT_TRUE(g->value().has_value());
  ASSERT_NE(*g->value(), nullptr);
  EXPECT_EQ(**g->value(), 7);
}

// get() on a greenlet with a move-only result returns a reference to the
// value the greenlet keeps (get() may be called again).
TEST_P(GreenletTest, MoveOnlyResultGet) {
  auto g = spawn([] {
    sleep(Milliseconds(10));
    return std::make_unique<int>(7);
  });
  const std::unique_ptr<int>& p = g->get();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 7);
  EXPECT_EQ(g->get().get(), p.get());
}

TEST_P(GreenletTest, MoveOnlyArgumentByValue) {
  auto g = spawn([](std::unique_ptr<int> p) { return *p + 1; },
                 std::make_unique<int>(41));
  EXPECT_EQ(g->get(), 42);
}

TEST_P(GreenletTest, MoveOnlyArgument) {
  auto g = spawn([](std::unique_ptr<int>& p) { return *p + 1; },
                 std::make_unique<int>(41));
  EXPECT_EQ(g->get(), 42);
}

TEST_P(GreenletTest, GetRethrowsException) {
  RecordErrors();
  auto gi = spawn([]() -> int {
    sleep(Milliseconds(10));
    throw Boom();
  });
  auto gv = spawn([] { throw std::out_of_range("range"); });
  auto gs = spawn([]() -> std::string { throw Boom(); });
  EXPECT_THROW(gi->get(), Boom);
  EXPECT_THROW(gi->get(), Boom);  // again: the error is kept
  EXPECT_THROW(gi->get(/*block=*/false), Boom);  // ready: not TimeoutError
  try {
    gv->get();
    ADD_FAILURE() << "get() did not rethrow";
  } catch (const std::out_of_range& e) {
    EXPECT_STREQ(e.what(), "range");
  }
  EXPECT_THROW(gs->get(), Boom);
  EXPECT_FALSE(gi->value().has_value());
  EXPECT_EQ(Kind(gi->exception()), "Boom");
}

TEST_P(GreenletTest, GreenletExitFromBodyIsSuccessfulKilledAndNotReported) {
  RecordErrors();
  auto gi = spawn([]() -> int { throw GreenletExit("bye"); });
  auto gv = spawn([] { throw GreenletExit(); });
  joinall(GreenletList{gi, gv});
  EXPECT_TRUE(gi->successful());
  EXPECT_TRUE(gi->killed());
  ASSERT_TRUE(gi->exit_value().has_value());
  EXPECT_STREQ(gi->exit_value()->what(), "bye");
  EXPECT_EQ(gi->exception(), nullptr);
  EXPECT_THROW(gi->get(), NoValueError);
  EXPECT_NO_THROW(gv->get());
  EXPECT_TRUE(gv->killed());
  EXPECT_TRUE(reports_.empty());
}

// ------------------------------------------------------------ start order

TEST_P(GreenletTest, SpawnRunsOnlyWhenSpawnerBlocksInSpawnOrder) {
  std::vector<std::string> log;
  auto f = [&log](std::string n) { log.push_back(n); };
  auto a = spawn(f, std::string("a"));
  auto b = spawn(f, std::string("b"));
  auto c = spawn(f, std::string("c"));
  log.push_back("spawned");
  EXPECT_EQ(log, std::vector<std::string>{"spawned"});
  sleep(ZeroDuration());
  EXPECT_EQ(log, (std::vector<std::string>{"spawned", "a", "b", "c"}));
}

TEST_P(GreenletTest, StartLaterAndSpawnLaterRunByDelay) {
  std::vector<std::string> log;
  auto f = [&log](std::string n) { log.push_back(n); };
  auto late = spawn_later(Milliseconds(30), f, std::string("30"));
  auto early = spawn_later(Milliseconds(10), f, std::string("10"));
  auto mid = make_greenlet(f, std::string("20"));
  mid->start_later(Milliseconds(20));
  auto now = spawn(f, std::string("now"));
  EXPECT_TRUE(late->started());
  EXPECT_TRUE(mid->started());
  joinall(GreenletList{late, early, mid, now});
  EXPECT_EQ(log, (std::vector<std::string>{"now", "10", "20", "30"}));
}

TEST_P(GreenletTest, StartIsIdempotent) {
  int runs = 0;
  auto g = make_greenlet([&runs] { ++runs; });
  g->start();
  g->start();
  g->start_later(Milliseconds(10));  // already scheduled: ignored
  sleep(Milliseconds(30));
  EXPECT_EQ(runs, 1);
  g->start();  // dead: ignored
  g->start_later(ZeroDuration());
  sleep(Milliseconds(10));
  EXPECT_EQ(runs, 1);
  EXPECT_TRUE(g->dead());
  EXPECT_FALSE(g->started());
}

TEST_P(GreenletTest, StartAfterStartLaterDoesNotRunEarly) {
  std::vector<std::string> log;
  auto g = make_greenlet([&log] { log.push_back("g"); });
  g->start_later(Milliseconds(30));
  g->start();  // already scheduled: must not run it now
  auto marker = spawn_later(Milliseconds(10), [&log] { log.push_back("10"); });
  joinall(GreenletList{g, marker});
  EXPECT_EQ(log, (std::vector<std::string>{"10", "g"}));
}

TEST_P(GreenletTest, NotStartedGreenletNeverRuns) {
  int runs = 0;
  auto g = make_greenlet([&runs] { ++runs; });
  sleep(Milliseconds(10));
  EXPECT_EQ(runs, 0);
  EXPECT_FALSE(g->started());
  EXPECT_FALSE(g->dead());
}

// ------------------------------------------------------------ join / get

TEST_P(GreenletTest, JoinWithTimeoutReturnsEitherWay) {
  auto g = spawn([] {
    sleep(Milliseconds(50));
    return 1;
  });
  g->join(Milliseconds(10));
  EXPECT_FALSE(g->ready());
  g->join();
  EXPECT_TRUE(g->ready());
  g->join();  // dead already: returns at once
  g->join(ZeroDuration());
  EXPECT_EQ(g->get(), 1);
}

TEST_P(GreenletTest, JoinNotStartedWithTimeoutTimesOut) {
  auto g = make_greenlet([] { return 1; });
  g->join(Milliseconds(10));
  EXPECT_FALSE(g->ready());
}

TEST_P(GreenletTest, GetNonBlockingAndTimeoutThrowTimeoutError) {
  auto g = spawn([] {
    sleep(Milliseconds(50));
    return std::string("done");
  });
  EXPECT_THROW(g->get(/*block=*/false), TimeoutError);
  EXPECT_THROW(g->get(/*block=*/true, Milliseconds(10)), TimeoutError);
  EXPECT_FALSE(g->dead());
  EXPECT_EQ(g->get(), "done");
  EXPECT_EQ(g->get(/*block=*/false), "done");
  EXPECT_EQ(g->get(/*block=*/true, ZeroDuration()), "done");
}

TEST_P(GreenletTest, VoidGetNonBlockingAndTimeout) {
  auto g = spawn([] { sleep(Milliseconds(50)); });
  EXPECT_THROW(g->get(false), TimeoutError);
  EXPECT_THROW(g->get(true, Milliseconds(10)), TimeoutError);
  EXPECT_NO_THROW(g->get());
  EXPECT_NO_THROW(g->get(false));
}

TEST_P(GreenletTest, GetOfNotStartedTimesOut) {
  auto g = make_greenlet([] { return 1; });
  EXPECT_THROW(g->get(false), TimeoutError);
  EXPECT_THROW(g->get(true, Milliseconds(10)), TimeoutError);
}

TEST_P(GreenletTest, GetOfKilledNonVoidThrowsNoValueError) {
  auto g = spawn([] {
    sleep(Seconds(10));
    return 3;
  });
  sleep(ZeroDuration());
  g->kill();
  EXPECT_THROW(g->get(), NoValueError);
  auto v = spawn([] { sleep(Seconds(10)); });
  sleep(ZeroDuration());
  v->kill();
  EXPECT_NO_THROW(v->get());  // void: like gevent returning the GreenletExit
}

// ------------------------------------------------------------ links

TEST_P(GreenletTest, LinksRunInLinkOrderInNewGreenletsRawlinkInHub) {
  std::vector<std::string> log;
  std::vector<uint64_t> link_ids;
  bool link_in_hub = true;
  bool rawlink_in_hub = false;
  auto g = spawn([] { sleep(Milliseconds(10)); });
  const uint64_t gid = g->id();
  GreenletBase* seen = nullptr;
  g->link([&](GreenletBase& x) {
    seen = &x;
    link_in_hub = hub()->in_hub();
    link_ids.push_back(getcurrent()->id());
    log.push_back("1a");
    sleep(Milliseconds(10));  // blocks: must not delay the next links
    log.push_back("1b");
  });
  g->rawlink([&](Waitable&) {
    rawlink_in_hub = hub()->in_hub();
    log.push_back("raw");
  });
  g->link([&](GreenletBase&) {
    link_ids.push_back(getcurrent()->id());
    log.push_back("3");
  });
  g->join();
  sleep(Milliseconds(30));
  EXPECT_EQ(log, (std::vector<std::string>{"1a", "raw", "3", "1b"}));
  EXPECT_EQ(seen, g.get());
  EXPECT_FALSE(link_in_hub);
  EXPECT_TRUE(rawlink_in_hub);
  ASSERT_EQ(link_ids.size(), 2u);
  EXPECT_NE(link_ids[0], link_ids[1]);
  EXPECT_NE(link_ids[0], gid);
  EXPECT_NE(link_ids[0], 0u);  // not the main greenlet
  EXPECT_NE(link_ids[1], gid);
}

TEST_P(GreenletTest, LinkValueAndLinkExceptionFilter) {
  RecordErrors();
  struct Counts {
    int link = 0, value = 0, exception = 0;
  };
  auto watch = [](GreenletBase& g, Counts* c) {
    g.link([c](GreenletBase&) { ++c->link; });
    g.link_value([c](GreenletBase&) { ++c->value; });
    g.link_exception([c](GreenletBase&) { ++c->exception; });
  };
  Counts ok, bad, killed;
  auto a = spawn([] {
    sleep(Milliseconds(10));
    return 1;
  });
  auto b = spawn([]() -> int {
    sleep(Milliseconds(10));
    throw Boom();
  });
  auto c = spawn([] {
    sleep(Seconds(10));
    return 1;
  });
  watch(*a, &ok);
  watch(*b, &bad);
  watch(*c, &killed);
  sleep(ZeroDuration());
  c->kill();
  joinall(GreenletList{a, b, c});
  sleep(Milliseconds(10));
  EXPECT_EQ(ok.link, 1);
  EXPECT_EQ(ok.value, 1);
  EXPECT_EQ(ok.exception, 0);
  EXPECT_EQ(bad.link, 1);
  EXPECT_EQ(bad.value, 0);
  EXPECT_EQ(bad.exception, 1);
  EXPECT_EQ(killed.link, 1);
  EXPECT_EQ(killed.value, 1);  // GreenletExit counts as success
  EXPECT_EQ(killed.exception, 0);
}

// A Greenlet<T>'s links may take it as its own type: value() without a cast
// (gevent's link callbacks get the greenlet itself). Base-typed and generic
// callbacks, function pointers and std::functions keep working; an empty
// one is refused by name.
TEST_P(GreenletTest, TypedLinksGetTheGreenletAsItsOwnType) {
  RecordErrors();
  std::vector<std::string> log;
  auto g = spawn([] {
    sleep(Milliseconds(10));
    return std::string("forty-two");
  });
  g->link_value([&](Greenlet<std::string>& done) { log.push_back("value " + *done.value()); });
  g->link([&](auto& done) { log.push_back("generic " + done.get()); });
  g->link([&](GreenletBase& done) { log.push_back(done.successful() ? "base ok" : "base failed"); });
  g->link_exception([&](Greenlet<std::string>&) { log.push_back("exception"); });
  std::function<void(GreenletBase&)> as_function = [&](GreenletBase&) { log.push_back("function"); };
  g->link(as_function);
  static int pointer_calls = 0;
  pointer_calls = 0;
  g->link(+[](Greenlet<std::string>&) { ++pointer_calls; });
  auto v = spawn([]() -> void { throw Boom(); });
  v->link_exception([&](Greenlet<void>& failed) {
    log.push_back("void failed: " + exception_message(failed.exception()));
  });
  g->join();
  v->join();
  sleep(Milliseconds(10));
  EXPECT_EQ(log, (std::vector<std::string>{"void failed: boom", "value forty-two",
                                           "generic forty-two", "base ok", "function"}));
  EXPECT_EQ(pointer_calls, 1);
  EXPECT_THROW(g->link(std::function<void(Greenlet<std::string>&)>()), std::invalid_argument);
  EXPECT_THROW(g->link(static_cast<void (*)(GreenletBase&)>(nullptr)), std::invalid_argument);
}

TEST_P(GreenletTest, UnlinkRemovesPendingLinks) {
  std::vector<std::string> log;
  auto g = spawn([] { sleep(Milliseconds(10)); });
  LinkId l1 = g->link([&](GreenletBase&) { log.push_back("link"); });
  LinkId l2 = g->link_value([&](GreenletBase&) { log.push_back("value"); });
  LinkId l3 = g->rawlink([&](Waitable&) { log.push_back("raw"); });
  g->link([&](GreenletBase&) { log.push_back("kept"); });
  EXPECT_TRUE(g->unlink(l1));
  EXPECT_TRUE(g->unlink(l2));
  EXPECT_TRUE(g->unlink(l3));
  EXPECT_FALSE(g->unlink(l1));  // already removed
  g->join();
  sleep(Milliseconds(10));
  EXPECT_EQ(log, std::vector<std::string>{"kept"});
  EXPECT_FALSE(g->unlink(l1));
}

TEST_P(GreenletTest, LinkToDeadGreenletFiresOnceSoon) {
  auto g = spawn([] { return 5; });
  g->join();
  int links = 0, raws = 0;
  g->link([&](GreenletBase& x) {
    EXPECT_TRUE(x.dead());
    ++links;
  });
  g->rawlink([&](Waitable&) { ++raws; });
  EXPECT_EQ(links, 0);  // not inside link()
  sleep(ZeroDuration());
  sleep(Milliseconds(10));
  EXPECT_EQ(links, 1);
  EXPECT_EQ(raws, 1);
  sleep(Milliseconds(10));
  EXPECT_EQ(links, 1);
  EXPECT_EQ(raws, 1);
}

TEST_P(GreenletTest, EmptyLinkCallbackIsRejected) {
  auto g = spawn([] {});
  EXPECT_THROW(g->link(nullptr), std::invalid_argument);
  EXPECT_THROW(g->link_value(std::function<void(GreenletBase&)>()),
               std::invalid_argument);
  EXPECT_THROW(g->link_exception(nullptr), std::invalid_argument);
  EXPECT_THROW(g->rawlink(std::function<void(Waitable&)>()),
               std::invalid_argument);
  g->join();
}

// ------------------------------------------------------------ status flags

TEST_P(GreenletTest, StatusAtEveryStage) {
  std::shared_ptr<Greenlet<int>> self;
  bool inside_started = false, inside_dead = true, inside_ready = true;
  auto g = make_greenlet([&] {
    inside_started = self->started();
    inside_dead = self->dead();
    inside_ready = self->ready();
    sleep(Milliseconds(20));
    return 7;
  });
  self = g;
  // Made, not started.
  EXPECT_FALSE(g->ready());
  EXPECT_FALSE(g->dead());
  EXPECT_FALSE(g->successful());
  EXPECT_FALSE(g->started());
  EXPECT_FALSE(static_cast<bool>(*g));
  EXPECT_FALSE(g->killed());
  EXPECT_EQ(g->exception(), nullptr);
  EXPECT_FALSE(g->value().has_value());
  EXPECT_FALSE(g->has_run());
  // Scheduled, not yet run.
  g->start();
  EXPECT_TRUE(g->started());
  EXPECT_TRUE(static_cast<bool>(*g));
  EXPECT_FALSE(g->dead());
  EXPECT_FALSE(g->ready());
  EXPECT_FALSE(g->successful());
  EXPECT_FALSE(g->has_run());
  // Running, blocked in sleep.
  sleep(ZeroDuration());
  EXPECT_TRUE(g->has_run());
  EXPECT_TRUE(inside_started);
  EXPECT_FALSE(inside_dead);
  EXPECT_FALSE(inside_ready);
  EXPECT_TRUE(g->started());
  EXPECT_TRUE(static_cast<bool>(*g));
  EXPECT_FALSE(g->dead());
  EXPECT_FALSE(g->ready());
  EXPECT_FALSE(g->successful());
  EXPECT_FALSE(g->killed());
  EXPECT_EQ(g->exception(), nullptr);
  // Finished.
  g->join();
  EXPECT_TRUE(g->dead());
  EXPECT_TRUE(g->ready());
  EXPECT_TRUE(g->successful());
  EXPECT_FALSE(g->started());
  EXPECT_FALSE(static_cast<bool>(*g));
  EXPECT_FALSE(g->killed());
  EXPECT_EQ(g->exception(), nullptr);
  EXPECT_EQ(g->value(), std::optional<int>(7));
  self.reset();
}

TEST_P(GreenletTest, StatusOfFailedAndKilled) {
  RecordErrors();
  auto bad = spawn([]() -> int {
    sleep(Milliseconds(10));
    throw Boom();
  });
  auto victim = spawn([] {
    sleep(Seconds(10));
    return 1;
  });
  sleep(ZeroDuration());
  victim->kill();
  bad->join();
  EXPECT_TRUE(bad->dead());
  EXPECT_TRUE(bad->ready());
  EXPECT_FALSE(bad->successful());
  EXPECT_FALSE(bad->started());
  EXPECT_FALSE(static_cast<bool>(*bad));
  EXPECT_FALSE(bad->killed());
  EXPECT_EQ(Kind(bad->exception()), "Boom");
  EXPECT_FALSE(bad->value().has_value());

  EXPECT_TRUE(victim->dead());
  EXPECT_TRUE(victim->ready());
  EXPECT_TRUE(victim->successful());
  EXPECT_FALSE(victim->started());
  EXPECT_FALSE(static_cast<bool>(*victim));
  EXPECT_TRUE(victim->killed());
  EXPECT_EQ(victim->exception(), nullptr);
  EXPECT_FALSE(victim->value().has_value());
}

// ------------------------------------------------------------ names

TEST_P(GreenletTest, DefaultNamesAndSetName) {
  auto a = make_greenlet([] {});
  auto b = spawn([] {});
  EXPECT_EQ(a->name(), "Greenlet-1");  // a fresh hub numbers from 1
  EXPECT_EQ(b->name(), "Greenlet-2");
  EXPECT_EQ(a->name(), "Greenlet-" + std::to_string(a->id()));
  EXPECT_EQ(b->id(), a->id() + 1);
  b->set_name("worker");
  EXPECT_EQ(b->name(), "worker");
  b->join();
  EXPECT_EQ(b->name(), "worker");
}

// ------------------------------------------------------------ errors

TEST_P(GreenletTest, UncaughtErrorReportedExactlyOnce) {
  RecordErrors();
  auto g = spawn([]() -> int {
    sleep(Milliseconds(10));
    throw Boom();
  });
  g->set_name("bomber");
  EXPECT_THROW(g->get(), Boom);
  EXPECT_THROW(g->get(), Boom);  // get() again does not report again
  g->join();
  sleep(Milliseconds(10));
  ASSERT_EQ(reports_.size(), 1u);
  EXPECT_EQ(reports_[0].where, g.get());
  EXPECT_EQ(reports_[0].name, "bomber");
  EXPECT_EQ(reports_[0].kind, "Boom");
}

TEST_P(GreenletTest, GreenletExitAndSuccessAreNotReported) {
  RecordErrors();
  auto ok = spawn([] { return 1; });
  auto killed = spawn([] { sleep(Seconds(10)); });
  auto exits = spawn([] { throw GreenletExit(); });
  auto never = make_greenlet([] {});
  sleep(ZeroDuration());
  killed->kill();
  never->kill();
  joinall(GreenletList{ok, killed, exits, never});
  sleep(Milliseconds(10));
  EXPECT_TRUE(reports_.empty()) << reports_.size() << " reports, first: "
                                << reports_.front().kind;
}

TEST_P(GreenletTest, DefaultErrorHandlerPrintsNameTypeAndWhat) {
  auto g = spawn([] { throw std::runtime_error("it broke"); });
  g->set_name("printer");
  ::testing::internal::CaptureStderr();
  g->join();
  sleep(Milliseconds(10));
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "printer failed with std::runtime_error: it broke\n");
  auto h = spawn([] { throw std::logic_error("again"); });
  ::testing::internal::CaptureStderr();
  h->join();
  err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, h->name() + " failed with std::logic_error: again\n");
  EXPECT_EQ(h->name(), "Greenlet-" + std::to_string(h->id()));
}

TEST_P(GreenletTest, ErrorInHubCallbackIsReportedWithoutGreenlet) {
  RecordErrors();
  hub()->run_callback([] { throw Boom(); });
  sleep(ZeroDuration());
  sleep(Milliseconds(10));
  ASSERT_EQ(reports_.size(), 1u);
  EXPECT_EQ(reports_[0].where, nullptr);
  EXPECT_EQ(reports_[0].kind, "Boom");
}

// ------------------------------------------------------------ handles

TEST_P(GreenletTest, DroppingTheHandleDoesNotStopARunningGreenlet) {
  const long before = RawGreenlet::live_count();
  bool running_done = false;
  bool unstarted_ran = false;
  {
    auto g = spawn([&running_done] {
      sleep(Milliseconds(10));
      running_done = true;
    });
    sleep(ZeroDuration());  // it runs to its sleep
  }
  spawn([&unstarted_ran] {
    sleep(Milliseconds(10));
    unstarted_ran = true;
  });  // handle dropped before it ever ran
  spawn_later(Milliseconds(10), [] {});
  EXPECT_FALSE(running_done);
  sleep(Milliseconds(40));
  EXPECT_TRUE(running_done);
  EXPECT_TRUE(unstarted_ran);
  // Once finished, nothing keeps them alive.
  EXPECT_EQ(RawGreenlet::live_count(), before);
}

// ------------------------------------------------------------ kill matrix

enum class KillState { kNotStarted, kStarted, kStartLater };
enum class KillHow { kKill, kKillAll };

class GreenletKillMatrix : public GreenletTest {
 protected:
  void RunKillCase(KillState state, KillHow how, bool block, bool boom) {
    RecordErrors();
    int ran = 0, finally_ran = 0, links = 0, value_links = 0,
        exception_links = 0;
    bool reached_end = false;
    auto body = [&]() -> int {
      ++ran;
      Finally fin([&] { ++finally_ran; });
      sleep(Seconds(10));
      reached_end = true;
      return 5;
    };
    std::shared_ptr<Greenlet<int>> g;
    switch (state) {
      case KillState::kNotStarted:
        g = make_greenlet(body);
        sleep(ZeroDuration());
        ASSERT_FALSE(g->started());
        break;
      case KillState::kStarted:
        g = spawn(body);
        sleep(ZeroDuration());
        ASSERT_EQ(ran, 1);
        ASSERT_TRUE(g->has_run());
        break;
      case KillState::kStartLater:
        g = spawn_later(Milliseconds(20), body);
        sleep(ZeroDuration());
        ASSERT_EQ(ran, 0);
        ASSERT_TRUE(g->started());
        break;
    }
    ASSERT_FALSE(g->dead());
    g->link([&](GreenletBase&) { ++links; });
    g->link_value([&](GreenletBase&) { ++value_links; });
    g->link_exception([&](GreenletBase&) { ++exception_links; });

    std::exception_ptr exc = boom ? std::make_exception_ptr(Boom()) : nullptr;
    if (how == KillHow::kKill) {
      if (boom) {
        g->kill(Boom(), block);
      } else {
        g->kill(block);
      }
    } else {
      killall(std::vector<std::shared_ptr<Greenlet<int>>>{g}, exc, block);
    }
    // A greenlet that has not run dies at once; a running one dies at once
    // only with block.
    const bool dies_at_once = state != KillState::kStarted || block;
    EXPECT_EQ(g->dead(), dies_at_once);
    if (state == KillState::kStarted && block) {
      EXPECT_EQ(finally_ran, 1);
    }
    if (!block) sleep(ZeroDuration());

    EXPECT_TRUE(g->dead());
    EXPECT_TRUE(g->ready());
    EXPECT_FALSE(g->started());
    EXPECT_FALSE(static_cast<bool>(*g));
    EXPECT_EQ(g->successful(), !boom);
    EXPECT_EQ(g->killed(), !boom);
    EXPECT_EQ(Kind(g->exception()), boom ? "Boom" : "none");
    EXPECT_FALSE(g->value().has_value());
    if (boom) {
      EXPECT_THROW(g->get(), Boom);
    } else {
      EXPECT_THROW(g->get(), NoValueError);
    }

    // Past the start delay: a greenlet that had not run never runs.
    sleep(Milliseconds(40));
    const int expect_ran = state == KillState::kStarted ? 1 : 0;
    EXPECT_EQ(ran, expect_ran);
    EXPECT_EQ(finally_ran, expect_ran);
    EXPECT_FALSE(reached_end);
    EXPECT_EQ(links, 1);
    EXPECT_EQ(value_links, boom ? 0 : 1);
    EXPECT_EQ(exception_links, boom ? 1 : 0);
    ASSERT_EQ(reports_.size(), boom ? 1u : 0u);
    if (boom) {
      EXPECT_EQ(reports_[0].where, g.get());
      EXPECT_EQ(reports_[0].kind, "Boom");
    }

    // Killing again changes nothing and fires nothing.
    g->kill();
    killall(GreenletList{g}, std::make_exception_ptr(Boom()), false);
    sleep(Milliseconds(10));
    EXPECT_EQ(links, 1);
    EXPECT_EQ(ran, expect_ran);
    EXPECT_EQ(g->killed(), !boom);
    EXPECT_EQ(Kind(g->exception()), boom ? "Boom" : "none");
    EXPECT_EQ(reports_.size(), boom ? 1u : 0u);
  }
};

#define GEVENT_KILL_CASE(State, How, Block, Error)                          \
  TEST_P(GreenletKillMatrix, State##_##How##_##Block##_##Error) {           \
    RunKillCase(KillState::k##State, KillHow::k##How,                      \
                std::string(#Block) == "Block",                             \
                std::string(#Error) == "Boom");                             \
  }

GEVENT_KILL_CASE(NotStarted, Kill, Block, GreenletExit)
GEVENT_KILL_CASE(NotStarted, Kill, Block, Boom)
GEVENT_KILL_CASE(NotStarted, Kill, NoBlock, GreenletExit)
GEVENT_KILL_CASE(NotStarted, Kill, NoBlock, Boom)
GEVENT_KILL_CASE(NotStarted, KillAll, Block, GreenletExit)
GEVENT_KILL_CASE(NotStarted, KillAll, Block, Boom)
GEVENT_KILL_CASE(NotStarted, KillAll, NoBlock, GreenletExit)
GEVENT_KILL_CASE(NotStarted, KillAll, NoBlock, Boom)
GEVENT_KILL_CASE(Started, Kill, Block, GreenletExit)
GEVENT_KILL_CASE(Started, Kill, Block, Boom)
GEVENT_KILL_CASE(Started, Kill, NoBlock, GreenletExit)
GEVENT_KILL_CASE(Started, Kill, NoBlock, Boom)
GEVENT_KILL_CASE(Started, KillAll, Block, GreenletExit)
GEVENT_KILL_CASE(Started, KillAll, Block, Boom)
GEVENT_KILL_CASE(Started, KillAll, NoBlock, GreenletExit)
GEVENT_KILL_CASE(Started, KillAll, NoBlock, Boom)
GEVENT_KILL_CASE(StartLater, Kill, Block, GreenletExit)
GEVENT_KILL_CASE(StartLater, Kill, Block, Boom)
GEVENT_KILL_CASE(StartLater, Kill, NoBlock, GreenletExit)
GEVENT_KILL_CASE(StartLater, Kill, NoBlock, Boom)
GEVENT_KILL_CASE(StartLater, KillAll, Block, GreenletExit)
GEVENT_KILL_CASE(StartLater, KillAll, Block, Boom)
GEVENT_KILL_CASE(StartLater, KillAll, NoBlock, GreenletExit)
GEVENT_KILL_CASE(StartLater, KillAll, NoBlock, Boom)

#undef GEVENT_KILL_CASE

// More kill behaviour outside the matrix.

TEST_P(GreenletTest, KilledGreenletMayCatchAndGoOn) {
  int caught = 0;
  auto g = spawn([&caught] {
    try {
      sleep(Seconds(10));
    } catch (const GreenletExit&) {
      ++caught;
    }
    sleep(Milliseconds(30));
    return 9;
  });
  sleep(ZeroDuration());
  g->kill(/*block=*/true, Milliseconds(10));
  EXPECT_EQ(caught, 1);
  EXPECT_FALSE(g->dead());  // it caught GreenletExit and went on
  EXPECT_EQ(g->get(), 9);
  EXPECT_FALSE(g->killed());
}

TEST_P(GreenletTest, KillYourselfRaisesHere) {
  std::shared_ptr<Greenlet<int>> self;
  bool after = false;
  auto g = spawn([&] {
    self->kill();
    after = true;
    return 1;
  });
  self = g;
  g->join();
  EXPECT_FALSE(after);
  EXPECT_TRUE(g->dead());
  EXPECT_TRUE(g->killed());
  EXPECT_TRUE(g->successful());
  self.reset();
}

TEST_P(GreenletTest, KillWithExceptionPtr) {
  RecordErrors();
  auto g = spawn([] { sleep(Seconds(10)); });
  sleep(ZeroDuration());
  g->kill(std::make_exception_ptr(Boom()));
  EXPECT_EQ(Kind(g->exception()), "Boom");
  EXPECT_EQ(reports_.size(), 1u);
}

// ------------------------------------------------------------ bad inputs

TEST_P(GreenletTest, JoiningYourselfIsLogicError) {
  std::shared_ptr<Greenlet<std::string>> self;
  auto g = spawn([&self]() -> std::string {
    try {
      self->join();
      return "returned";
    } catch (const std::logic_error&) {
      return "logic_error";
    }
  });
  self = g;
  EXPECT_EQ(g->get(), "logic_error");
  self.reset();
}

TEST_P(GreenletTest, GetFromInsideItselfIsLogicError) {
  std::shared_ptr<Greenlet<int>> self;
  std::string what;
  auto g = spawn([&]() -> int {
    try {
      return self->get() + 100;
    } catch (const std::logic_error& e) {
      what = e.what();
      return 1;
    }
  });
  self = g;
  EXPECT_EQ(g->get(), 1);
  EXPECT_NE(what.find(g->name()), std::string::npos) << what;
  std::shared_ptr<Greenlet<void>> vself;
  bool threw = false;
  auto v = spawn([&] {
    try {
      vself->get();
    } catch (const std::logic_error&) {
      threw = true;
    }
  });
  vself = v;
  v->join();
  EXPECT_TRUE(threw);
  self.reset();
  vself.reset();
}

TEST_P(GreenletTest, BlockingInsideHubCallbackThrowsBlockingSwitchOutError) {
  int caught = 0;
  auto g = spawn([] { sleep(Seconds(10)); });
  hub()->run_callback([&] {
    try {
      sleep(Milliseconds(10));
    } catch (const BlockingSwitchOutError&) {
      ++caught;
    }
    try {
      sleep(ZeroDuration());
    } catch (const BlockingSwitchOutError&) {
      ++caught;
    }
    try {
      g->join();
    } catch (const BlockingSwitchOutError&) {
      ++caught;
    }
    try {
      idle();
    } catch (const BlockingSwitchOutError&) {
      ++caught;
    }
  });
  g->rawlink([&](Waitable&) {
    try {
      sleep(ZeroDuration());
    } catch (const BlockingSwitchOutError&) {
      ++caught;
    }
  });
  sleep(Milliseconds(10));
  EXPECT_EQ(caught, 4);
  g->kill();
  sleep(Milliseconds(10));
  EXPECT_EQ(caught, 5);
}

TEST_P(GreenletTest, UncaughtBlockingInHubCallbackIsReported) {
  RecordErrors();
  hub()->run_callback([] { sleep(Milliseconds(10)); });
  sleep(Milliseconds(10));
  ASSERT_EQ(reports_.size(), 1u);
  EXPECT_EQ(reports_[0].where, nullptr);
  EXPECT_EQ(reports_[0].kind, "BlockingSwitchOutError");
  // The hub still works.
  EXPECT_EQ(spawn([] { return 3; })->get(), 3);
}

TEST_P(GreenletTest, SpawningEmptyFunctionIsInvalidArgument) {
  EXPECT_THROW(spawn(std::function<void()>()), std::invalid_argument);
  EXPECT_THROW(spawn(std::function<int(int)>(), 1), std::invalid_argument);
  EXPECT_THROW(make_greenlet(std::function<std::string()>()),
               std::invalid_argument);
  EXPECT_THROW(spawn_later(Milliseconds(10), std::function<void()>()),
               std::invalid_argument);
  EXPECT_THROW(spawn(static_cast<int (*)()>(nullptr)), std::invalid_argument);
  EXPECT_THROW(spawn_raw(std::function<void()>()), std::invalid_argument);
  static_assert(!is_spawnable_v<int>);
  static_assert(!is_spawnable_v<void (*)(int)>);
  static_assert(is_spawnable_v<void (*)(int), int>);
  sleep(Milliseconds(10));
}

TEST_P(GreenletTest, NegativeDurationsCountAsZero) {
  std::vector<std::string> log;
  const absl::Time t0 = hub()->now();
  sleep(Seconds(-1));
  log.push_back("slept");
  auto later = spawn_later(Seconds(-1), [&log] { log.push_back("later"); });
  auto mid = make_greenlet([&log] { log.push_back("start_later"); });
  mid->start_later(Seconds(-1));
  auto guard = spawn_later(Milliseconds(10), [&log] { log.push_back("10ms"); });
  joinall(GreenletList{later, mid, guard});
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[0], "slept");
  // Both were due at once: either order (the simulator may break the tie).
  EXPECT_TRUE((log[1] == "later" && log[2] == "start_later") ||
              (log[1] == "start_later" && log[2] == "later"))
      << log[1] << " " << log[2];
  EXPECT_EQ(log[3], "10ms");
  bool timed_out = false;
  try {
    Timeout t(Seconds(-1));
    EXPECT_EQ(t.seconds(), ZeroDuration());
    t.start();
    sleep(Seconds(5));
  } catch (const TimeoutError&) {
    timed_out = true;
  }
  EXPECT_TRUE(timed_out);
  auto slow = spawn([] { sleep(Seconds(5)); });
  slow->join(Seconds(-1));
  EXPECT_FALSE(slow->dead());
  EXPECT_THROW(slow->get(true, Seconds(-1)), TimeoutError);
  slow->kill();
  if (simulated()) {
    // None of it waited for the seconds it was given.
    EXPECT_LT(hub()->now() - t0, Seconds(1));
  }
}

TEST_P(GreenletTest, StartingOnDestroyedHubIsHubError) {
  // Make a greenlet on a second hub, then destroy that hub.
  std::unique_ptr<Hub> mine = exchange_hub(make_hub("epoll"));
  Hub* other = get_hub();
  ASSERT_NE(other, hub());
  auto g = make_greenlet([] { return 1; });
  auto h = make_greenlet([] { return 2; });
  EXPECT_EQ(g->hub(), other);
  std::unique_ptr<Hub> temp = exchange_hub(std::move(mine));
  ASSERT_EQ(get_hub(), hub());
  // Another thread's hub (here: not the current one) is refused too.
  EXPECT_THROW(h->start(), HubError);
  temp->destroy();
  temp.reset();
  EXPECT_THROW(g->start(), HubError);
  EXPECT_THROW(g->start_later(Milliseconds(10)), HubError);
  EXPECT_FALSE(g->started());
  EXPECT_FALSE(g->dead());
  try {
    g->start();
  } catch (const HubError& e) {
    EXPECT_NE(std::string(e.what()).find(g->name()), std::string::npos)
        << e.what();
  }
  // The test's own hub is unaffected.
  EXPECT_EQ(spawn([] { return 3; })->get(), 3);
}

TEST_P(GreenletTest, StartingOnCurrentButDestroyedHubIsHubError) {
  std::unique_ptr<Hub> mine = exchange_hub(make_hub("epoll"));
  auto g = make_greenlet([] { return 1; });
  get_hub()->destroy();
  EXPECT_THROW(g->start(), HubError);
  EXPECT_FALSE(g->started());
  std::unique_ptr<Hub> temp = exchange_hub(std::move(mine));
  temp.reset();
  EXPECT_THROW(g->start(), HubError);
}

TEST_P(GreenletTest, RethrowInsideCatchAfterSwitchRethrowsOwnException) {
  // Each greenlet has its own "currently caught" exception.
  auto a = spawn([]() -> std::string {
    try {
      try {
        throw std::runtime_error("A");
      } catch (...) {
        sleep(Milliseconds(20));  // B catches its own exception meanwhile
        throw;
      }
    } catch (const std::runtime_error& e) {
      return e.what();
    }
  });
  auto b = spawn([]() -> std::string {
    try {
      throw std::logic_error("B");
    } catch (...) {
      sleep(Milliseconds(40));
      try {
        throw;
      } catch (const std::logic_error& e) {
        return e.what();
      }
    }
    return "none";
  });
  EXPECT_EQ(a->get(), "A");
  EXPECT_EQ(b->get(), "B");
}

TEST_P(GreenletTest, UncaughtExceptionCountIsPerGreenlet) {
  int in_dtor = -1, other = -1, main_count = -1;
  struct Blocker {
    int* out;
    ~Blocker() {
      sleep(Milliseconds(10));  // blocks while an exception is in flight
      *out = std::uncaught_exceptions();
    }
  };
  RecordErrors();
  auto a = spawn([&in_dtor] {
    Blocker b{&in_dtor};
    throw Boom();
  });
  auto b = spawn([&other] {
    sleep(ZeroDuration());
    other = std::uncaught_exceptions();
  });
  sleep(ZeroDuration());
  main_count = std::uncaught_exceptions();
  joinall(GreenletList{a, b});
  EXPECT_EQ(in_dtor, 1);
  EXPECT_EQ(other, 0);
  EXPECT_EQ(main_count, 0);
  EXPECT_EQ(Kind(a->exception()), "Boom");
}

TEST_P(GreenletTest, LinkMayUnlinkALaterLink) {
  std::vector<std::string> log;
  auto g = spawn([] { sleep(Milliseconds(10)); });
  LinkId second = 0;
  g->link([&](GreenletBase& x) {
    log.push_back("first");
    EXPECT_TRUE(x.unlink(second));
  });
  second = g->link([&](GreenletBase&) { log.push_back("second"); });
  g->link([&](GreenletBase&) { log.push_back("third"); });
  g->join();
  sleep(Milliseconds(10));
  EXPECT_EQ(log, (std::vector<std::string>{"first", "third"}));
}

TEST_P(GreenletTest, JoinersWakeInOrderWhenUnstartedGreenletIsKilled) {
  std::vector<std::string> log;
  auto g = make_greenlet([] { return 1; });
  auto joiner = [&log, g](std::string n) {
    g->join();
    log.push_back(n + (g->dead() ? " saw dead" : " saw alive"));
  };
  GreenletList js = {spawn(joiner, std::string("j1")),
                     spawn(joiner, std::string("j2"))};
  auto getter = spawn([&log, g] {
    try {
      g->get();
      log.push_back("get returned");
    } catch (const NoValueError&) {
      log.push_back("get NoValueError");
    }
  });
  sleep(Milliseconds(10));
  EXPECT_TRUE(log.empty());
  g->kill();
  js.push_back(getter);
  joinall(js);
  EXPECT_EQ(log, (std::vector<std::string>{"j1 saw dead", "j2 saw dead",
                                           "get NoValueError"}));
}

TEST_P(GreenletTest, SpawnMemberFunction) {
  struct Counter {
    int total = 0;
    int add(int n) {
      total += n;
      return total;
    }
  } counter;
  auto g = spawn(&Counter::add, &counter, 5);
  EXPECT_EQ(g->get(), 5);
  EXPECT_EQ(counter.total, 5);
  int (Counter::*none)(int) = nullptr;
  EXPECT_THROW(spawn(none, &counter, 1), std::invalid_argument);
}

TEST_P(GreenletTest, LinksOfAGreenletWhoseHandleWasDroppedStillSeeIt) {
  const long before = RawGreenlet::live_count();
  int value_seen = 0;
  std::string name_seen;
  {
    auto g = spawn([] {
      sleep(Milliseconds(10));
      return 77;
    });
    g->set_name("orphan");
    g->link([&](GreenletBase& x) {
      sleep(Milliseconds(10));  // the link outlives the notification pass
      name_seen = x.name();
      auto* typed = dynamic_cast<Greenlet<int>*>(&x);
      value_seen = typed != nullptr ? typed->value().value_or(-1) : -2;
    });
  }
  sleep(Milliseconds(40));
  EXPECT_EQ(value_seen, 77);
  EXPECT_EQ(name_seen, "orphan");
  EXPECT_EQ(RawGreenlet::live_count(), before);
}

// ------------------------------------------------------------ scale

TEST_P(GreenletTest, HundredThousandConcurrentGreenlets) {
  constexpr int kN = 100000;
  std::vector<std::shared_ptr<Greenlet<int>>> gs;
  gs.reserve(kN);
  for (int i = 0; i < kN; ++i) {
    gs.push_back(spawn(
        [](int i) {
          sleep(Milliseconds(i % 100));
          return i;
        },
        i));
  }
  auto done = joinall(gs);
  ASSERT_EQ(done.size(), static_cast<size_t>(kN));
  int wrong = 0, not_dead = 0;
  for (int i = 0; i < kN; ++i) {
    if (!gs[i]->dead()) ++not_dead;
    if (!gs[i]->value().has_value() || *gs[i]->value() != i) ++wrong;
  }
  EXPECT_EQ(not_dead, 0);
  EXPECT_EQ(wrong, 0);
  if (strict_sim()) {
    // Everything started at the same virtual instant: they finish by nap.
    int out_of_order = 0;
    for (int k = 1; k < kN; ++k) {
      if (*done[k]->value() % 100 < *done[k - 1]->value() % 100) ++out_of_order;
    }
    EXPECT_EQ(out_of_order, 0);
  }
}

// Greenlets that outlive their hub. Instantiated last: a use-after-free here
// aborts an ASan run, and should not hide the results of the other tests.
class GreenletHubLifetimeTest : public GreenletTest {};

TEST_P(GreenletHubLifetimeTest, KillAfterItsHubWasDestroyedDoesNotTouchTheHub) {
  // A never-started greenlet of a hub that is gone: kill() must not use the
  // freed hub (under ASan this is checked); it either dies at once without
  // running, or is refused with HubError like start().
  std::unique_ptr<Hub> mine = exchange_hub(make_hub("epoll"));
  int ran = 0, linked = 0;
  auto g = make_greenlet([&ran] { ++ran; });
  g->link([&linked](GreenletBase&) { ++linked; });
  std::unique_ptr<Hub> temp = exchange_hub(std::move(mine));
  temp->destroy();
  temp.reset();
  try {
    g->kill();
    EXPECT_TRUE(g->dead());
  } catch (const HubError&) {
    EXPECT_FALSE(g->dead());
  }
  sleep(Milliseconds(10));
  EXPECT_EQ(ran, 0);
}

// A greenlet, unlike an Event, notifies in the same pass the links added
// while it notifies (gevent's Greenlet._notify_links runs until no link is
// left). gevent 22.10 prints ['first', 'second', 'late', 'queued'].
TEST_P(GreenletTest, LinksAddedDuringItsNotificationRunInTheSamePass) {
  std::vector<std::string> log;
  Event all_logged;
  auto note = [&](const char* what) {
    log.push_back(what);
    if (log.size() == 4) all_logged.set();
  };
  auto g = spawn([] {});
  g->rawlink([&](Waitable&) {
    note("first");
    g->rawlink([&](Waitable&) { note("late"); });
    hub()->run_callback([&] { note("queued"); });
  });
  g->rawlink([&](Waitable&) { note("second"); });
  g->join();
  ASSERT_TRUE(all_logged.wait(absl::Seconds(5)));
  EXPECT_EQ(log, (std::vector<std::string>{"first", "second", "late", "queued"}));
}

// destroy_hub() from a greenlet would free the stack it runs on: a clear
// error instead (it was a use-after-free).
TEST_P(GreenletTest, DestroyHubInsideAGreenletIsALogicError) {
  auto g = spawn([] { destroy_hub(); });
  g->set_name("destroyer");
  g->join();
  ASSERT_TRUE(g->exception() != nullptr);
  EXPECT_EQ(exception_type_name(g->exception()), "std::logic_error");
  EXPECT_NE(exception_message(g->exception()).find("destroy_hub() called from greenlet 'destroyer'"),
            std::string::npos)
      << exception_message(g->exception());
  // The hub is intact.
  EXPECT_EQ(spawn([] { return 4; })->get(), 4);
}

GEVENT_INSTANTIATE_BACKENDS(GreenletTest);
GEVENT_INSTANTIATE_BACKENDS(GreenletKillMatrix);
GEVENT_INSTANTIATE_BACKENDS(GreenletHubLifetimeTest);

}  // namespace
}  // namespace gevent
