#include "runtime/monitor.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/gevent.h"
#include "testing/hub_test.h"

namespace gevent {
namespace {

class MonitorTest : public testing::HubTest {};

TEST_P(MonitorTest, ReportsTheGreenletThatHoldsTheHub) {
  std::mutex mu;
  std::vector<BlockingReport> reports;
  BlockingMonitor monitor(
      absl::Milliseconds(40),
      [&](const BlockingReport& r) {
        std::lock_guard<std::mutex> lock(mu);
        reports.push_back(r);
      },
      /*print=*/false);
  auto hog = spawn([] {
    // Blocks the whole thread: no other greenlet can run meanwhile.
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  });
  hog->set_name("hog");
  hog->join();
  // The stall (250 ms) is far past the threshold plus one sampling tick, so
  // the report was made while it lasted.
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(reports.size(), 1u);  // once per stretch, not once per sample
  EXPECT_EQ(reports[0].greenlet, "hog");
  EXPECT_GE(reports[0].held, absl::Milliseconds(40));
}

TEST_P(MonitorTest, QuietWhileGreenletsSwitchOrTheHubWaits) {
  BlockingMonitor monitor(absl::Milliseconds(40), nullptr, /*print=*/false);
  auto ticker = spawn([] {
    for (int i = 0; i < 20; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      sleep(absl::Milliseconds(5));
    }
  });
  ticker->join();
  EXPECT_EQ(monitor.reports(), 0u);
}

TEST_P(MonitorTest, RejectsANonPositiveThreshold) {
  EXPECT_THROW(BlockingMonitor(absl::ZeroDuration()), std::invalid_argument);
}

GEVENT_INSTANTIATE_BACKENDS(MonitorTest);

}  // namespace
}  // namespace gevent
