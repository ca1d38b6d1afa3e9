#include "testing/assert_switches.h"

#include <chrono>
#include <thread>

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include "runtime/gevent.h"
#include "testing/hub_test.h"

namespace gevent {
namespace testing {
namespace {

class AssertSwitchesTest : public HubTest {};

TEST_P(AssertSwitchesTest, PassesWhenTheBlockYields) {
  AssertSwitches must_yield;
  sleep(absl::ZeroDuration());
}

TEST_P(AssertSwitchesTest, FailsWhenTheBlockNeverSwitches) {
  EXPECT_NONFATAL_FAILURE(
      {
        AssertSwitches must_yield;
        int x = 0;
        for (int i = 0; i < 1000; ++i) x += i;
        (void)x;
      },
      "never switched");
}

TEST_P(AssertSwitchesTest, FailsWhenAStretchIsTooLongOnRealTime) {
  if (simulated()) GTEST_SKIP() << "code takes no virtual time on the simulator";
  EXPECT_NONFATAL_FAILURE(
      {
        AssertSwitches fair(absl::Milliseconds(20));
        sleep(absl::ZeroDuration());
        std::this_thread::sleep_for(std::chrono::milliseconds(60));
        sleep(absl::ZeroDuration());
      },
      "without switching");
}

GEVENT_INSTANTIATE_BACKENDS(AssertSwitchesTest);

}  // namespace
}  // namespace testing
}  // namespace gevent
