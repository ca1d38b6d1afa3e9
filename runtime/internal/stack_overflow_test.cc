// A greenlet that overflows its stack ends the process with a message naming
// it, instead of corrupting memory or dying silently.
#include <gtest/gtest.h>

#include "runtime/gevent.h"
#include "runtime/internal/sanitizers.h"

namespace gevent {
namespace {

// Recursion that the compiler cannot turn into a loop.
int Deep(int n) {
  volatile char pad[512];
  pad[0] = static_cast<char>(n);
  return n <= 0 ? pad[0] : Deep(n - 1) + pad[0];
}

TEST(StackOverflowDeathTest, NamesTheGreenlet) {
#if GEVENT_ASAN
  GTEST_SKIP() << "AddressSanitizer reports stack overflows itself";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto g = spawn([] { return Deep(1 << 20); });
        g->set_name("deep-recursion");
        g->join();
      },
      "stack overflow in greenlet 'deep-recursion'");
#endif
}

TEST(StackOverflowDeathTest, ModestRecursionIsFine) {
  auto g = spawn([] { return Deep(100); });  // ~50 KiB of a 128 KiB stack
  g->join();
  EXPECT_TRUE(g->successful());
}

}  // namespace
}  // namespace gevent
