// AssertSwitches: a test helper that fails when a block of code does not
// let other greenlets run (gevent.testing's assert_switches).
//
// example-prelude: void code_under_test();
//   {
//     gevent::testing::AssertSwitches must_yield;
//     code_under_test();   // fails the test if it never switched
//   }
//   {
//     gevent::testing::AssertSwitches fair(absl::Milliseconds(50));
//     code_under_test();   // also fails if it ran 50 ms without switching
//   }
//
// Time is the hub's clock: real on epoll; on the simulated hub code runs in
// zero virtual time, so only the "never switched" check can fail there.
#ifndef GEVENTPP_TESTING_ASSERT_SWITCHES_H_
#define GEVENTPP_TESTING_ASSERT_SWITCHES_H_

#include <cstdint>

#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "runtime/hub.h"

namespace gevent {
namespace testing {

class AssertSwitches {
 public:
  explicit AssertSwitches(
      absl::Duration max_blocking_time = absl::InfiniteDuration())
      : hub_(get_hub()),
        max_(max_blocking_time),
        start_count_(hub_->switch_count()) {
    hub_->track_runs(true);
  }
  ~AssertSwitches() {
    // The stretch since the last switch counts too.
    const uint64_t switches = hub_->switch_count() - start_count_;
    hub_->track_runs(false);
    EXPECT_GT(switches, 0u) << "the block never switched to another greenlet";
    if (max_ != absl::InfiniteDuration()) {
      EXPECT_LE(hub_->longest_run(), max_)
          << "greenlet '" << hub_->longest_runner() << "' ran for "
          << absl::FormatDuration(hub_->longest_run())
          << " without switching";
    }
  }
  AssertSwitches(const AssertSwitches&) = delete;
  AssertSwitches& operator=(const AssertSwitches&) = delete;

 private:
  Hub* hub_;
  absl::Duration max_;
  uint64_t start_count_;
};

}  // namespace testing
}  // namespace gevent

#endif  // GEVENTPP_TESTING_ASSERT_SWITCHES_H_
