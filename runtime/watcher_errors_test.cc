// A watcher's function that throws: the error goes to the hub's error
// handler once, and the loop goes on (as run_callback(std::function) does).
#include <signal.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/gevent.h"
#include "testing/hub_test.h"

namespace gevent {
namespace {

using absl::Milliseconds;

class WatcherErrorsTest : public testing::HubTest {
 protected:
  void SetUp() override {
    HubTest::SetUp();
    hub()->set_error_handler([this](const RawGreenlet* where, std::exception_ptr e) {
      errors_.push_back(std::string(where == nullptr ? "hub" : where->name()) + ": " +
                        exception_message(e));
    });
  }
  void TearDown() override {
    hub()->set_error_handler(nullptr);
    HubTest::TearDown();
  }
  // The loop still runs timers and greenlets.
  void ExpectTheLoopGoesOn() {
    auto g = spawn([] { sleep(Milliseconds(10)); return 5; });
    EXPECT_EQ(g->get(), 5);
  }
  std::vector<std::string> errors_;
};
GEVENT_INSTANTIATE_BACKENDS(WatcherErrorsTest);

TEST_P(WatcherErrorsTest, ATimerThatThrowsIsReportedOnce) {
  Timer t([](Timer*) { throw std::runtime_error("timer boom"); });
  hub()->start(&t, Milliseconds(10));
  sleep(Milliseconds(20));
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_EQ(errors_[0], "hub: timer boom");
  ExpectTheLoopGoesOn();
  EXPECT_EQ(errors_.size(), 1u);
}

TEST_P(WatcherErrorsTest, ACallbackThatThrowsIsReportedOnce) {
  Callback cb([](Callback*) { throw std::runtime_error("callback boom"); });
  hub()->run_callback(&cb);
  sleep(Milliseconds(10));
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_EQ(errors_[0], "hub: callback boom");
  ExpectTheLoopGoesOn();
}

TEST_P(WatcherErrorsTest, AnIdleWatcherThatThrowsIsReportedOnce) {
  IdleWatcher w([](IdleWatcher*) { throw std::logic_error("idle boom"); });
  hub()->start(&w);
  sleep(Milliseconds(10));
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_EQ(errors_[0], "hub: idle boom");
  ExpectTheLoopGoesOn();
}

TEST_P(WatcherErrorsTest, ASignalWatcherThatThrowsIsReportedOnce) {
  SignalWatcher w(SIGUSR2, [](SignalWatcher*) { throw std::runtime_error("signal boom"); });
  hub()->start(&w);
  ::kill(getpid(), SIGUSR2);
  sleep(Milliseconds(20));
  hub()->stop(&w);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_EQ(errors_[0], "hub: signal boom");
  ExpectTheLoopGoesOn();
}

TEST_P(WatcherErrorsTest, AnIoWatcherThatThrowsIsReportedOnce) {
  if (simulated()) GTEST_SKIP() << "no real descriptors in a simulation";
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(write(fds[1], "x", 1), 1);
  IoWatcher w(fds[0], IoWatcher::kRead, [](IoWatcher* self, uint32_t) {
    get_hub()->stop(self);  // once
    throw std::runtime_error("io boom");
  });
  hub()->start(&w);
  sleep(Milliseconds(20));
  hub()->stop(&w);
  close(fds[0]);
  close(fds[1]);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_EQ(errors_[0], "hub: io boom");
  ExpectTheLoopGoesOn();
}

}  // namespace
}  // namespace gevent
