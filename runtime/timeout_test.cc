// Tests for runtime/timeout.h: Timeout, TimeoutScope, with_timeout,
// with_silent_timeout, nesting ("not my timeout"). Both hub backends.
#include "runtime/timeout.h"

#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <type_traits>

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "runtime/gevent.h"
#include "testing/hub_test.h"

namespace gevent {
namespace {

using absl::Milliseconds;
using absl::Seconds;
using absl::ZeroDuration;

struct Boom : std::runtime_error {
  Boom() : std::runtime_error("boom") {}
};

class TimeoutTest : public testing::HubTest {};

// ------------------------------------------------------------ basics

TEST_P(TimeoutTest, StartFiresTimeoutErrorAtBlockingPoint) {
  Timeout t(Milliseconds(10));
  EXPECT_FALSE(t.pending());
  t.start();
  EXPECT_TRUE(t.pending());
  bool fired = false;
  try {
    sleep(Seconds(10));
  } catch (const TimeoutError& e) {
    fired = true;
    EXPECT_TRUE(e.is(t));
    EXPECT_EQ(e.seconds(), Milliseconds(10));
    EXPECT_STREQ(e.what(), "0.01 seconds");
  }
  EXPECT_TRUE(fired);
  EXPECT_FALSE(t.pending());  // fired: no longer armed
  EXPECT_EQ(t.seconds(), Milliseconds(10));
  // One-shot: blocking again does not fire again.
  EXPECT_NO_THROW(sleep(Milliseconds(20)));
}

TEST_P(TimeoutTest, TimeoutErrorIsNotAStdException) {
  static_assert(!std::is_base_of_v<std::exception, TimeoutError>);
  static_assert(std::is_base_of_v<BaseException, TimeoutError>);
  bool swallowed_by_std = false, got = false;
  try {
    try {
      TimeoutScope s(Milliseconds(10));
      sleep(Seconds(1));
    } catch (const std::exception&) {
      swallowed_by_std = true;
    }
  } catch (const BaseException& e) {
    got = true;
    EXPECT_NE(dynamic_cast<const TimeoutError*>(&e), nullptr);
  }
  EXPECT_FALSE(swallowed_by_std);
  EXPECT_TRUE(got);
}

TEST_P(TimeoutTest, CancelPreventsFiring) {
  Timeout t(Milliseconds(10));
  t.start();
  EXPECT_TRUE(t.pending());
  t.cancel();
  EXPECT_FALSE(t.pending());
  t.cancel();  // any number of times
  EXPECT_NO_THROW(sleep(Milliseconds(30)));
  EXPECT_FALSE(t.pending());
}

TEST_P(TimeoutTest, StartingAPendingTimeoutIsLogicError) {
  Timeout t(Milliseconds(20));
  t.start();
  EXPECT_THROW(t.start(), std::logic_error);
  EXPECT_TRUE(t.pending());  // still armed once
  t.cancel();
  // After cancel it can be started again, and then fires.
  t.start();
  EXPECT_TRUE(t.pending());
  bool fired = false;
  try {
    sleep(Seconds(1));
  } catch (const TimeoutError& e) {
    fired = e.is(t);
  }
  EXPECT_TRUE(fired);
  // After it fired it can be started once more.
  EXPECT_NO_THROW(t.start());
  EXPECT_TRUE(t.pending());
  t.cancel();
}

TEST_P(TimeoutTest, CloseCancelsAndReleasesTheGreenlet) {
  const long before = RawGreenlet::live_count();
  std::unique_ptr<Timeout> t;
  auto g = spawn([&t] { t = Timeout::start_new(Milliseconds(20)); });
  g->join();
  g.reset();
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(t->pending());
  t->close();
  EXPECT_FALSE(t->pending());
  sleep(Milliseconds(30));
  // Nothing refers to the finished greenlet any more.
  EXPECT_EQ(RawGreenlet::live_count(), before);
  t->close();  // again: harmless
  t.reset();
}

TEST_P(TimeoutTest, DestroyingAPendingTimeoutCancelsIt) {
  {
    Timeout t(Milliseconds(10));
    t.start();
  }
  EXPECT_NO_THROW(sleep(Milliseconds(30)));
}

TEST_P(TimeoutTest, StartNew) {
  auto t = Timeout::start_new(Milliseconds(10));
  EXPECT_TRUE(t->pending());
  EXPECT_EQ(t->seconds(), Milliseconds(10));
  bool fired = false;
  try {
    sleep(Seconds(1));
  } catch (const TimeoutError& e) {
    fired = e.is(*t);
  }
  EXPECT_TRUE(fired);
  auto c = Timeout::start_new(Milliseconds(10), std::make_exception_ptr(Boom()));
  EXPECT_THROW(sleep(Seconds(1)), Boom);
  EXPECT_FALSE(c->pending());
}

TEST_P(TimeoutTest, TimeoutIdsAreDistinct) {
  Timeout a(Milliseconds(10)), b(Milliseconds(10));
  EXPECT_NE(a.id(), b.id());
  a.start();
  try {
    sleep(Seconds(1));
  } catch (const TimeoutError& e) {
    EXPECT_TRUE(e.is(a));
    EXPECT_FALSE(e.is(b));
  }
}

TEST_P(TimeoutTest, TimeoutScopeFiresAndCancelsOnExit) {
  bool fired = false;
  try {
    TimeoutScope s(Milliseconds(10));
    EXPECT_TRUE(s.timeout().pending());
    sleep(Seconds(1));
  } catch (const TimeoutError&) {
    fired = true;
  }
  EXPECT_TRUE(fired);
  {
    TimeoutScope s(Milliseconds(20));
    sleep(Milliseconds(5 * 2));  // finishes in time
  }  // cancelled here
  EXPECT_NO_THROW(sleep(Milliseconds(30)));
}

TEST_P(TimeoutTest, CustomException) {
  EXPECT_THROW(
      {
        Timeout t(Milliseconds(10), Boom());
        t.start();
        sleep(Seconds(1));
      },
      Boom);
  EXPECT_THROW(
      {
        TimeoutScope s(Milliseconds(10), Boom());
        sleep(Seconds(1));
      },
      Boom);
  EXPECT_THROW(
      {
        Timeout t(Milliseconds(10), std::make_exception_ptr(
                                        std::out_of_range("custom")));
        t.start();
        sleep(Seconds(1));
      },
      std::out_of_range);
}

TEST_P(TimeoutTest, InfiniteNeverFires) {
  Timeout t(absl::InfiniteDuration());
  t.start();
  EXPECT_FALSE(t.pending());
  EXPECT_NO_THROW(sleep(Milliseconds(20)));
  {
    TimeoutScope s(absl::InfiniteDuration());
    EXPECT_NO_THROW(sleep(Milliseconds(20)));
  }
  Timeout d;  // the default is infinite
  EXPECT_EQ(d.seconds(), absl::InfiniteDuration());
  d.start();
  EXPECT_NO_THROW(sleep(Milliseconds(10)));
  EXPECT_TRUE(with_silent_timeout(absl::InfiniteDuration(),
                                  [] { sleep(Milliseconds(10)); }));
}

TEST_P(TimeoutTest, NegativeDurationCountsAsZero) {
  Timeout t(Seconds(-1));
  EXPECT_EQ(t.seconds(), ZeroDuration());
  const absl::Time t0 = hub()->now();
  t.start();
  EXPECT_THROW(sleep(Seconds(5)), TimeoutError);
  if (simulated()) {
    EXPECT_LT(hub()->now() - t0, Seconds(1));
  }
  EXPECT_FALSE(with_silent_timeout(Seconds(-1), [] { sleep(Seconds(5)); }));
  // A body that does not block finishes (gevent: with_timeout(-1, f)).
  EXPECT_EQ(with_timeout(Seconds(-1), [] { return 5; }), 5);
  EXPECT_EQ(with_timeout(Seconds(-1), timeout_value(std::string("fb")),
                         [] {
                           sleep(Milliseconds(10));
                           return std::string("body");
                         }),
            "fb");
}

TEST_P(TimeoutTest, ZeroTimeoutLetsSleepZeroReturnThenFires) {
  // gevent: Timeout(0) fires at the first blocking point after the loop
  // reached its timers; sleep(0) only runs the callbacks and returns first.
  Timeout t(ZeroDuration());
  t.start();
  std::vector<std::string> log;
  try {
    sleep(ZeroDuration());
    log.push_back("sleep(0) returned");
    sleep(Milliseconds(10));
    log.push_back("sleep(10ms) returned");
  } catch (const TimeoutError& e) {
    log.push_back(e.is(t) ? "timeout" : "other timeout");
  }
  EXPECT_EQ(log, (std::vector<std::string>{"sleep(0) returned", "timeout"}));
}

TEST_P(TimeoutTest, CodeThatDoesNotBlockIsNotInterrupted) {
  bool finished_busy = false, fired = false;
  try {
    TimeoutScope s(Milliseconds(10));
    // Busy for 20 ms of wall time without blocking.
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
    while (std::chrono::steady_clock::now() < until) {
    }
    finished_busy = true;
    sleep(Seconds(5));
  } catch (const TimeoutError&) {
    fired = true;
  }
  EXPECT_TRUE(finished_busy);
  EXPECT_TRUE(fired);
}

// ------------------------------------------------------------ targeting

TEST_P(TimeoutTest, FiresIntoTheGreenletThatStartedIt) {
  std::vector<std::string> log;
  auto a = spawn([&log] {
    Timeout t(Milliseconds(10));
    t.start();
    try {
      sleep(Seconds(1));
      log.push_back("a slept");
    } catch (const TimeoutError& e) {
      log.push_back(e.is(t) ? "a timed out" : "a: other timeout");
    }
  });
  auto b = spawn([&log] {
    try {
      sleep(Milliseconds(30));
      log.push_back("b slept");
    } catch (const TimeoutError&) {
      log.push_back("b timed out");
    }
  });
  joinall(GreenletList{a, b});
  EXPECT_EQ(log, (std::vector<std::string>{"a timed out", "b slept"}));
}

TEST_P(TimeoutTest, MainTimeoutInterruptsJoinNotTheJoinedGreenlet) {
  auto g = spawn([] {
    sleep(Milliseconds(40));
    return 1;
  });
  bool fired = false;
  try {
    TimeoutScope s(Milliseconds(10));
    g->join();
  } catch (const TimeoutError&) {
    fired = true;
  }
  EXPECT_TRUE(fired);
  EXPECT_FALSE(g->dead());
  EXPECT_EQ(g->get(), 1);  // it was not interrupted
  EXPECT_TRUE(g->successful());
}

TEST_P(TimeoutTest, TimeoutMadeInMainStartedInGreenletFiresThere) {
  Timeout t(Milliseconds(10));
  std::string got;
  auto g = spawn([&] {
    t.start();
    try {
      sleep(Seconds(1));
      got = "slept";
    } catch (const TimeoutError& e) {
      got = e.is(t) ? "timed out" : "other";
    }
  });
  EXPECT_NO_THROW(sleep(Milliseconds(30)));  // main is not the target
  g->join();
  EXPECT_EQ(got, "timed out");
}

TEST_P(TimeoutTest, TimeoutOfAFinishedGreenletIsHarmless) {
  std::unique_ptr<Timeout> t;
  auto g = spawn([&t] { t = Timeout::start_new(Milliseconds(10)); });
  g->join();
  EXPECT_TRUE(g->successful());
  EXPECT_NO_THROW(sleep(Milliseconds(30)));  // it expires into a dead greenlet
  auto h = spawn([] {
    sleep(Milliseconds(10));
    return 2;
  });
  EXPECT_EQ(h->get(), 2);
  t.reset();
}

TEST_P(TimeoutTest, TimeoutInterruptsSpawnedGreenletWhichCanCatchIt) {
  auto g = spawn([] {
    int caught = 0;
    for (int i = 0; i < 2; ++i) {
      try {
        TimeoutScope s(Milliseconds(10));
        sleep(Seconds(1));
      } catch (const TimeoutError&) {
        ++caught;
      }
    }
    return caught;
  });
  EXPECT_EQ(g->get(), 2);
}

TEST_P(TimeoutTest, UncaughtTimeoutKillsGreenletWithTimeoutError) {
  hub()->set_error_handler([](const RawGreenlet*, std::exception_ptr) {});
  auto g = spawn([] {
    TimeoutScope s(Milliseconds(10));
    sleep(Seconds(1));
    return 1;
  });
  g->join();
  EXPECT_FALSE(g->successful());
  EXPECT_THROW(g->get(), TimeoutError);
}

// ------------------------------------------------------------ nesting

TEST_P(TimeoutTest, NestedInnerShorterFiresFirstAndIsCaughtByInner) {
  Timeout outer(Milliseconds(50));
  outer.start();
  std::string caught_by;
  try {
    TimeoutScope inner(Milliseconds(10));
    try {
      sleep(Seconds(1));
      caught_by = "nobody";
    } catch (const TimeoutError& e) {
      if (!e.is(inner.timeout())) throw;
      EXPECT_FALSE(e.is(outer));
      caught_by = "inner";
    }
  } catch (const TimeoutError&) {
    caught_by = "outer";
  }
  EXPECT_EQ(caught_by, "inner");
  EXPECT_TRUE(outer.pending());
  bool outer_fired = false;
  try {
    sleep(Seconds(1));
  } catch (const TimeoutError& e) {
    outer_fired = e.is(outer);
  }
  EXPECT_TRUE(outer_fired);
}

TEST_P(TimeoutTest, NestedOuterShorterPassesThroughInnerScope) {
  Timeout outer(Milliseconds(10));
  outer.start();
  std::string caught_by;
  try {
    TimeoutScope inner(Milliseconds(50));
    try {
      sleep(Seconds(1));
      caught_by = "nobody";
    } catch (const TimeoutError& e) {
      if (!e.is(inner.timeout())) throw;  // not my timeout
      caught_by = "inner";
    }
  } catch (const TimeoutError& e) {
    caught_by = e.is(outer) ? "outer" : "unknown";
  }
  EXPECT_EQ(caught_by, "outer");
}

TEST_P(TimeoutTest, WithSilentTimeoutDoesNotSwallowOuterExpiry) {
  Timeout outer(Milliseconds(10));
  outer.start();
  std::string result;
  bool body_finished = false;
  try {
    bool completed = with_silent_timeout(Milliseconds(50), [&] {
      sleep(Seconds(1));
      body_finished = true;
    });
    result = completed ? "completed" : "swallowed";
  } catch (const TimeoutError& e) {
    result = e.is(outer) ? "outer" : "unknown";
  }
  EXPECT_EQ(result, "outer");
  EXPECT_FALSE(body_finished);
}

TEST_P(TimeoutTest, WithSilentTimeoutInnerShorterReturnsFalseOuterStays) {
  Timeout outer(Milliseconds(50));
  outer.start();
  bool completed = true;
  EXPECT_NO_THROW(completed = with_silent_timeout(
                      Milliseconds(10), [] { sleep(Seconds(1)); }));
  EXPECT_FALSE(completed);
  EXPECT_TRUE(outer.pending());
  outer.cancel();
}

TEST_P(TimeoutTest, WithTimeoutFallbackDoesNotSwallowOuterExpiry) {
  Timeout outer(Milliseconds(10));
  outer.start();
  std::string result;
  try {
    result = with_timeout(Milliseconds(50), timeout_value(std::string("fb")),
                          [] {
                            sleep(Seconds(1));
                            return std::string("body");
                          });
  } catch (const TimeoutError& e) {
    result = e.is(outer) ? "outer" : "unknown";
  }
  EXPECT_EQ(result, "outer");
}

TEST_P(TimeoutTest, WithTimeoutInnerErrorIsNotTheOuters) {
  Timeout outer(Milliseconds(50));
  outer.start();
  bool inner = false;
  try {
    with_timeout(Milliseconds(10), [] { sleep(Seconds(1)); });
  } catch (const TimeoutError& e) {
    inner = !e.is(outer);
  }
  EXPECT_TRUE(inner);
  EXPECT_TRUE(outer.pending());
  outer.cancel();
}

// ------------------------------------------------------------ helpers

TEST_P(TimeoutTest, WithTimeoutReturnsValueOrThrows) {
  EXPECT_EQ(with_timeout(Milliseconds(50), [](int x) { return x + 1; }, 41),
            42);
  EXPECT_EQ(with_timeout(Milliseconds(50),
                         [] {
                           sleep(Milliseconds(10));
                           return std::string("fast");
                         }),
            "fast");
  EXPECT_THROW(with_timeout(Milliseconds(10),
                            [] {
                              sleep(Seconds(1));
                              return 1;
                            }),
               TimeoutError);
  // Nothing is left armed after a call that finished in time.
  EXPECT_NO_THROW(sleep(Milliseconds(60)));
}

TEST_P(TimeoutTest, WithTimeoutValueReturnsFallbackOnExpiry) {
  auto slow = [](int x) {
    sleep(Seconds(1));
    return std::to_string(x);
  };
  EXPECT_EQ(with_timeout(Milliseconds(10), timeout_value(std::string("fb")),
                         slow, 5),
            "fb");
  EXPECT_EQ(with_timeout(Milliseconds(50), timeout_value(std::string("fb")),
                         [] { return std::string("body"); }),
            "body");
  EXPECT_EQ(with_timeout(Milliseconds(10), timeout_value(-1),
                         [] {
                           sleep(Seconds(1));
                           return 1;
                         }),
            -1);
  EXPECT_NO_THROW(sleep(Milliseconds(60)));
}

TEST_P(TimeoutTest, WithSilentTimeoutReturns) {
  int after = 0;
  EXPECT_TRUE(with_silent_timeout(Milliseconds(50), [&after] {
    sleep(Milliseconds(10));
    ++after;
  }));
  EXPECT_EQ(after, 1);
  EXPECT_FALSE(with_silent_timeout(Milliseconds(10), [&after] {
    sleep(Seconds(1));
    ++after;
  }));
  EXPECT_EQ(after, 1);
  EXPECT_NO_THROW(sleep(Milliseconds(60)));
}

TEST_P(TimeoutTest, WithSilentTimeoutLetsOtherExceptionsThrough) {
  EXPECT_THROW(with_silent_timeout(Milliseconds(50), [] { throw Boom(); }),
               Boom);
  EXPECT_NO_THROW(sleep(Milliseconds(60)));
}

// ---- what must not compile: a bool, a number or a duration where an
// exception is expected.

template <typename T, typename = void>
struct CanKillWith : std::false_type {};
template <typename T>
struct CanKillWith<T, std::void_t<decltype(std::declval<Greenlet<void>&>().kill(std::declval<T>()))>>
    : std::true_type {};

// Timeout(d, false) is gevent's silent timeout: in C++ it is
// with_silent_timeout(d, body), and the bool must not become the exception.
static_assert(!std::is_constructible_v<Timeout, absl::Duration, bool>);
static_assert(!std::is_constructible_v<Timeout, absl::Duration, int>);
static_assert(!std::is_constructible_v<Timeout, absl::Duration, absl::Duration>);
static_assert(!std::is_constructible_v<TimeoutScope, absl::Duration, bool>);
static_assert(!std::is_constructible_v<TimeoutScope, absl::Duration, double>);
static_assert(std::is_constructible_v<Timeout, absl::Duration, std::runtime_error>);
static_assert(std::is_constructible_v<TimeoutScope, absl::Duration, std::runtime_error>);
static_assert(std::is_constructible_v<Timeout, absl::Duration, std::exception_ptr>);
// kill(d) meant kill(true, d): it must not throw a Duration into the greenlet.
static_assert(!CanKillWith<absl::Duration>::value);
static_assert(!CanKillWith<int>::value);
static_assert(CanKillWith<bool>::value);  // kill(block)
static_assert(CanKillWith<std::runtime_error>::value);
static_assert(CanKillWith<std::exception_ptr>::value);

// gevent's Timeout.start_new(t) with an existing Timeout: starts it if it is
// not pending, and returns the same object.
TEST_P(TimeoutTest, StartNewWithATimeoutStartsItOnce) {
  Timeout t(Milliseconds(20));
  Timeout& same = Timeout::start_new(t);
  EXPECT_EQ(&same, &t);
  EXPECT_TRUE(t.pending());
  EXPECT_NO_THROW(Timeout::start_new(t));  // pending: left as it is
  try {
    sleep(Seconds(1));
    FAIL() << "the timeout did not fire";
  } catch (const TimeoutError& e) {
    EXPECT_TRUE(e.is(t));
  }
}

// start_new(d, E) takes any exception value, as Timeout(d, E) does.
TEST_P(TimeoutTest, StartNewTakesAnyExceptionValue) {
  struct Late {};
  auto t = Timeout::start_new(Milliseconds(10), Late{});
  EXPECT_THROW(sleep(Seconds(1)), Late);
  EXPECT_FALSE(t->pending());
}

GEVENT_INSTANTIATE_BACKENDS(TimeoutTest);

}  // namespace
}  // namespace gevent
