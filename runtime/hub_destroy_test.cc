// Hub::destroy() and greenlets that catch GreenletExit, on both hub
// backends (the semantics are documented at Hub::destroy in hub.h). gevent
// 22.10's hub.destroy() kills nothing: its greenlets stay suspended and
// their `finally` blocks never run. C++ needs stacks unwound (RAII), so
// geventpp kills them, and abandons only a greenlet that will not die.
#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "runtime/exceptions.h"
#include "runtime/greenlet.h"
#include "runtime/hub.h"
#include "runtime/sleep.h"
#include "testing/hub_test.h"

namespace gevent {
namespace {

using ::testing::HasSubstr;

class HubDestroyTest : public testing::HubTest {};

// destroy() throws GreenletExit into a greenlet again each time it catches
// it and blocks: one that gives up after a few catches unwinds normally.
TEST_P(HubDestroyTest, DestroyKillsAGreenletThatCatchesGreenletExitAFewTimes) {
  int caught = 0;
  bool unwound = false;
  std::shared_ptr<Greenlet<void>> g;
  testing::WithAnotherHub(backend(), [&](Hub*) {
    g = spawn([&] {
      struct Unwound {
        bool* flag;
        ~Unwound() { *flag = true; }
      } guard{&unwound};
      while (caught < 10) {
        try {
          sleep(absl::Seconds(1));
        } catch (const GreenletExit&) {
          ++caught;
        }
      }
      sleep(absl::Seconds(1));  // the 11th GreenletExit ends it
    });
    sleep(absl::ZeroDuration());
  });
  EXPECT_EQ(caught, 10);
  EXPECT_TRUE(unwound);
  EXPECT_TRUE(g->dead());
  EXPECT_TRUE(g->killed());
  std::weak_ptr<Greenlet<void>> weak = g;
  g.reset();
  EXPECT_TRUE(weak.expired()) << "the hub still holds the greenlet";
}

// One that never gives up is abandoned after the last round, as gevent's
// hub.destroy() leaves its greenlets: its stack is not unwound. It ends
// dead and killed, and the object is freed with its last handle (it was
// leaked, holding a reference to itself).
TEST_P(HubDestroyTest, DestroyAbandonsAGreenletThatNeverGivesUp) {
  int caught = 0;
  std::shared_ptr<Greenlet<void>> g;
  testing::WithAnotherHub(backend(), [&](Hub*) {
    g = spawn([&] {
      for (;;) {
        try {
          sleep(absl::Seconds(1));
        } catch (const GreenletExit&) {
          ++caught;
        }
      }
    });
    sleep(absl::ZeroDuration());
  });
  EXPECT_EQ(caught, Hub::kDestroyKillRounds);
  EXPECT_TRUE(g->dead());
  EXPECT_TRUE(g->killed());
  EXPECT_THAT(g->exit_value()->what(), HasSubstr("abandoned by Hub::destroy"));
  std::weak_ptr<Greenlet<void>> weak = g;
  g.reset();
  EXPECT_TRUE(weak.expired()) << "the greenlet object leaked";
}

GEVENT_INSTANTIATE_BACKENDS(HubDestroyTest);

}  // namespace
}  // namespace gevent
