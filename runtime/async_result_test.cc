// Unit tests for gevent::AsyncResult<T> and AsyncResult<void>
// (runtime/async_result.h), on both hub backends.
#include "runtime/async_result.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
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

struct Boom : std::runtime_error {
  Boom() : std::runtime_error("boom") {}
};

class AsyncResultTest : public testing::HubTest {
 protected:
  void SetUp() override {
    HubTest::SetUp();
    // Greenlets that fail on purpose are not reported.
    hub()->set_error_handler([this](const RawGreenlet*, std::exception_ptr) {
      ++errors_reported;
    });
  }
  int errors_reported = 0;
};

// ---- AsyncResult<T>

TEST_P(AsyncResultTest, StartsNotReady) {
  AsyncResult<int> r;
  EXPECT_FALSE(r.ready());
  EXPECT_FALSE(r.successful());
  EXPECT_EQ(r.exception(), nullptr);
  EXPECT_FALSE(r.value().has_value());
  EXPECT_EQ(r.hub(), hub());
}

TEST_P(AsyncResultTest, SetThenGet) {
  AsyncResult<int> r;
  r.set(42);
  EXPECT_TRUE(r.ready());
  EXPECT_TRUE(r.successful());
  EXPECT_EQ(r.exception(), nullptr);
  ASSERT_TRUE(r.value().has_value());
  EXPECT_EQ(*r.value(), 42);
  EXPECT_EQ(r.get(), 42);
  EXPECT_EQ(r.get(/*block=*/false), 42);
  EXPECT_EQ(r.get(true, Milliseconds(10)), 42);
  EXPECT_TRUE(r.wait());
  EXPECT_TRUE(r.wait(absl::ZeroDuration()));
  // It stays ready: get() again returns the same value.
  EXPECT_EQ(r.get(), 42);
}

TEST_P(AsyncResultTest, SetReplacesValue) {
  AsyncResult<std::string> r;
  r.set("first");
  r.set("second");
  EXPECT_EQ(r.get(), "second");
}

TEST_P(AsyncResultTest, GetNonBlockingThrowsTimeoutError) {
  AsyncResult<int> r;
  const absl::Time start = hub()->now();
  EXPECT_THROW(r.get(/*block=*/false), TimeoutError);
  if (simulated()) {
    EXPECT_EQ(hub()->now(), start);
  }
  EXPECT_FALSE(r.ready());
  EXPECT_EQ(r.link_count(), 0u);
}

TEST_P(AsyncResultTest, GetWithTimeoutThrowsTimeoutError) {
  AsyncResult<int> r;
  const absl::Time start = hub()->now();
  EXPECT_THROW(r.get(/*block=*/true, Milliseconds(10)), TimeoutError);
  EXPECT_GE(hub()->now() - start, Milliseconds(10));
  EXPECT_EQ(r.link_count(), 0u);
  EXPECT_FALSE(hub()->alive()) << "the get() timeout left something armed";
}

TEST_P(AsyncResultTest, WaitWithTimeoutReturnsFalse) {
  AsyncResult<int> r;
  EXPECT_FALSE(r.wait(Milliseconds(10)));
  EXPECT_FALSE(r.wait(absl::ZeroDuration()));
  EXPECT_EQ(r.link_count(), 0u);
}

TEST_P(AsyncResultTest, GetBlocksUntilSet) {
  AsyncResult<int> r;
  // Before the timer starts: its deadline is at least 10 ms after this.
  const absl::Time start = hub()->now();
  auto setter = spawn_later(Milliseconds(10), [&] { r.set(7); });
  EXPECT_EQ(r.get(), 7);
  EXPECT_GE(hub()->now() - start, Milliseconds(10));
  if (simulated()) {
    EXPECT_EQ(hub()->now() - start, Milliseconds(10));
  }
  setter->join();
}

TEST_P(AsyncResultTest, WaitBlocksUntilSetAndDoesNotThrow) {
  AsyncResult<int> r;
  auto setter = spawn_later(Milliseconds(10), [&] { r.set_exception(Boom()); });
  EXPECT_TRUE(r.wait(Seconds(10)));
  EXPECT_TRUE(r.ready());
  EXPECT_FALSE(r.successful());
  setter->join();
}

TEST_P(AsyncResultTest, EveryWaiterGetsTheValue) {
  AsyncResult<int> r;
  std::vector<int> got;
  GreenletList gs;
  for (int i = 0; i < 5; ++i) {
    gs.push_back(spawn([&, i] { got.push_back(r.get() * 10 + i); }));
  }
  sleep(absl::ZeroDuration());
  EXPECT_EQ(r.link_count(), 5u);
  r.set(3);
  joinall(gs);
  EXPECT_EQ(got, (std::vector<int>{30, 31, 32, 33, 34}));
  EXPECT_EQ(r.link_count(), 0u);
}

TEST_P(AsyncResultTest, SetExceptionThenGetRethrows) {
  AsyncResult<int> r;
  r.set_exception(Boom());
  EXPECT_TRUE(r.ready());
  EXPECT_FALSE(r.successful());
  ASSERT_NE(r.exception(), nullptr);
  EXPECT_FALSE(r.value().has_value());
  EXPECT_THROW(r.get(), Boom);
  EXPECT_THROW(r.get(/*block=*/false), Boom);
  try {
    std::rethrow_exception(r.exception());
  } catch (const Boom& e) {
    EXPECT_STREQ(e.what(), "boom");
  }
  EXPECT_TRUE(r.wait());
}

TEST_P(AsyncResultTest, SetExceptionWakesBlockedGetter) {
  AsyncResult<int> r;
  bool caught = false;
  auto getter = spawn([&] {
    try {
      r.get();
    } catch (const Boom&) {
      caught = true;
    }
  });
  sleep(Milliseconds(10));
  EXPECT_FALSE(caught);
  r.set_exception(std::make_exception_ptr(Boom()));
  getter->join();
  EXPECT_TRUE(caught);
}

TEST_P(AsyncResultTest, LaterSetReplacesException) {
  AsyncResult<int> r;
  r.set_exception(Boom());
  r.set(5);
  EXPECT_TRUE(r.successful());
  EXPECT_EQ(r.exception(), nullptr);
  EXPECT_EQ(r.get(), 5);
}

TEST_P(AsyncResultTest, LaterSetExceptionReplacesValue) {
  AsyncResult<int> r;
  r.set(5);
  r.set_exception(Boom());
  EXPECT_TRUE(r.ready());
  EXPECT_FALSE(r.successful());
  EXPECT_THROW(r.get(), Boom);
}

TEST_P(AsyncResultTest, SetExceptionNullIsInvalid) {
  AsyncResult<int> r;
  EXPECT_THROW(r.set_exception(std::exception_ptr()), std::invalid_argument);
  EXPECT_FALSE(r.ready());
}

TEST_P(AsyncResultTest, KillGetterLeavesNoLink) {
  AsyncResult<int> r;
  auto getter = spawn([&] { return r.get(); });
  sleep(absl::ZeroDuration());
  EXPECT_EQ(r.link_count(), 1u);
  getter->kill();
  EXPECT_TRUE(getter->killed());
  EXPECT_EQ(r.link_count(), 0u);
  r.set(1);
  sleep(absl::ZeroDuration());
  EXPECT_FALSE(getter->value().has_value());
}

TEST_P(AsyncResultTest, TimeoutScopeInterruptsGet) {
  AsyncResult<int> r;
  bool timed_out = false;
  try {
    TimeoutScope t(Milliseconds(10));
    r.get();
  } catch (const TimeoutError&) {
    timed_out = true;
  }
  EXPECT_TRUE(timed_out);
  EXPECT_EQ(r.link_count(), 0u);
}

TEST_P(AsyncResultTest, WorksWithGeventWait) {
  AsyncResult<int> a, b;
  auto setter = spawn_later(Milliseconds(10), [&] { b.set(2); });
  auto ready = gevent::wait(std::vector<AsyncResult<int>*>{&a, &b}, Seconds(10), 1);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0], &b);
  setter->join();
}

// ---- AsyncResult<void>

TEST_P(AsyncResultTest, VoidSetThenGet) {
  AsyncResult<void> r;
  EXPECT_FALSE(r.ready());
  EXPECT_THROW(r.get(/*block=*/false), TimeoutError);
  r.set();
  EXPECT_TRUE(r.ready());
  EXPECT_TRUE(r.successful());
  EXPECT_EQ(r.exception(), nullptr);
  EXPECT_NO_THROW(r.get());
  EXPECT_NO_THROW(r.get(/*block=*/false));
  EXPECT_TRUE(r.wait(Milliseconds(10)));
}

TEST_P(AsyncResultTest, VoidGetTimesOut) {
  AsyncResult<void> r;
  EXPECT_THROW(r.get(true, Milliseconds(10)), TimeoutError);
  EXPECT_FALSE(r.wait(Milliseconds(10)));
  EXPECT_EQ(r.link_count(), 0u);
}

TEST_P(AsyncResultTest, VoidSetExceptionRethrows) {
  AsyncResult<void> r;
  r.set_exception(Boom());
  EXPECT_TRUE(r.ready());
  EXPECT_FALSE(r.successful());
  EXPECT_NE(r.exception(), nullptr);
  EXPECT_THROW(r.get(), Boom);
  r.set();
  EXPECT_TRUE(r.successful());
  EXPECT_NO_THROW(r.get());
}

TEST_P(AsyncResultTest, VoidGetBlocksUntilSet) {
  AsyncResult<void> r;
  bool set_ran = false;
  auto setter = spawn_later(Milliseconds(10), [&] {
    set_ran = true;
    r.set();
  });
  r.get();
  EXPECT_TRUE(set_ran);
  setter->join();
}

// ---- As a link target of a greenlet

TEST_P(AsyncResultTest, LinkReceivesValue) {
  AsyncResult<int> r;
  auto g = spawn([] {
    sleep(Milliseconds(10));
    return 21 * 2;
  });
  g->link(std::ref(r));
  EXPECT_EQ(r.get(), 42);
  EXPECT_TRUE(r.successful());
}

TEST_P(AsyncResultTest, LinkReceivesError) {
  AsyncResult<int> r;
  auto g = spawn([]() -> int {
    sleep(Milliseconds(10));
    throw Boom();
  });
  g->link(std::ref(r));
  EXPECT_THROW(r.get(), Boom);
  EXPECT_FALSE(r.successful());
  EXPECT_EQ(errors_reported, 1);
}

TEST_P(AsyncResultTest, LinkToKilledGreenletGivesNoValueError) {
  AsyncResult<int> r;
  auto g = spawn([] {
    sleep(Seconds(10));
    return 1;
  });
  g->link(std::ref(r));
  sleep(absl::ZeroDuration());
  g->kill();
  EXPECT_THROW(r.get(), NoValueError);
  EXPECT_FALSE(r.successful());
}

TEST_P(AsyncResultTest, LinkToFinishedGreenletStillDelivers) {
  AsyncResult<std::string> r;
  auto g = spawn([] { return std::string("done"); });
  g->join();
  g->link(std::ref(r));
  EXPECT_EQ(r.get(), "done");
}

TEST_P(AsyncResultTest, RawlinkReceivesValueAndError) {
  AsyncResult<int> ok, bad;
  auto g1 = spawn([] {
    sleep(Milliseconds(10));
    return 5;
  });
  auto g2 = spawn([]() -> int {
    sleep(Milliseconds(10));
    throw Boom();
  });
  g1->rawlink([&](Waitable& w) { ok(dynamic_cast<GreenletBase&>(w)); });
  g2->rawlink([&](Waitable& w) { bad(dynamic_cast<GreenletBase&>(w)); });
  EXPECT_EQ(ok.get(), 5);
  EXPECT_THROW(bad.get(), Boom);
}

TEST_P(AsyncResultTest, VoidLinkReceivesCompletionAndError) {
  AsyncResult<void> done, failed, killed;
  auto a = spawn([] { sleep(Milliseconds(10)); });
  auto b = spawn([] {
    sleep(Milliseconds(10));
    throw Boom();
  });
  auto c = spawn([] { sleep(Seconds(10)); });
  a->link(std::ref(done));
  b->link(std::ref(failed));
  c->link(std::ref(killed));
  sleep(absl::ZeroDuration());
  c->kill();
  EXPECT_NO_THROW(done.get());
  EXPECT_TRUE(done.successful());
  EXPECT_THROW(failed.get(), Boom);
  // A killed greenlet ended successfully (GreenletExit): no error.
  EXPECT_NO_THROW(killed.get());
  EXPECT_TRUE(killed.successful());
}

// ---- From another thread

TEST_P(AsyncResultTest, CrossThreadSet) {
  AsyncResult<int> r;
  hub()->ref();
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    r.set(99);
  });
  int v = 0;
  auto getter = spawn([&] { v = r.get(); });
  getter->join();
  hub()->unref();
  t.join();
  EXPECT_EQ(v, 99);
  EXPECT_TRUE(r.successful());
}

TEST_P(AsyncResultTest, CrossThreadSetExceptionToMainGreenlet) {
  AsyncResult<std::string> r;
  hub()->ref();
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    r.set_exception(Boom());
  });
  EXPECT_THROW(r.get(), Boom);
  hub()->unref();
  t.join();
  EXPECT_FALSE(r.successful());
}

TEST_P(AsyncResultTest, CrossThreadSetVoid) {
  AsyncResult<void> r;
  hub()->ref();
  std::atomic<bool> set_called{false};
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    set_called = true;
    r.set();
  });
  EXPECT_TRUE(r.wait());
  EXPECT_TRUE(set_called.load());
  hub()->unref();
  t.join();
  EXPECT_TRUE(r.successful());
}

// A set() from another thread is applied on the result's own hub, never on
// the setting thread: the value is not visible until the hub runs.
TEST_P(AsyncResultTest, CrossThreadSetAppliedOnOwnHub) {
  AsyncResult<int> r;
  std::thread t([&] { r.set(1); });
  t.join();
  EXPECT_FALSE(r.ready());
  // run_callback_threadsafe keeps the loop alive until the hand-over ran.
  EXPECT_EQ(r.get(), 1);
}

GEVENT_INSTANTIATE_BACKENDS(AsyncResultTest);

}  // namespace
}  // namespace gevent
