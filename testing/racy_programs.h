// Small racy programs with known bugs, for the explorer's tests and
// benchmarks: each is a test body (it spawns, joins, and asserts with
// gtest) whose bug shows only under some schedules.
#ifndef GEVENTPP_TESTING_RACY_PROGRAMS_H_
#define GEVENTPP_TESTING_RACY_PROGRAMS_H_

namespace gevent {
namespace testing {
namespace racy {

// A read-modify-write split by a sleep: an increment is lost.
void LostUpdate();
// A wake-up sent before the waiter waits is lost: a deadlock.
void LostWakeup();
// A late reply to a request that timed out is taken for the retry's.
void TimeoutRacesReply();
// Two locks taken in opposite orders: a deadlock.
void LockOrder();
// LockOrder among ten greenlets that only sleep: hundreds of decisions.
void LockOrderInNoise();
// Depth 3: the lead of three greenlets must pass A -> B -> C once each.
void DepthThree();
// The example of docs/testing.md: two withdrawals overdraw an account.
void Overdraw();

}  // namespace racy
}  // namespace testing
}  // namespace gevent

#endif  // GEVENTPP_TESTING_RACY_PROGRAMS_H_
