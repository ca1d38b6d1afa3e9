// A greenlet that overflows its stack ends the process with a message naming
// it, instead of corrupting memory or dying silently.
#include <gtest/gtest.h>

#include "runtime/gevent.h"
#include "runtime/internal/sanitizers.h"
#include "runtime/internal/stack_pool.h"
#include "sim/simulation.h"

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

// Recursion whose frames are filled with non-zero bytes, as most real frames
// are somewhere.
int DenseDeep(int n) {
  volatile char pad[512];
  for (int i = 0; i < 512; ++i) pad[i] = static_cast<char>(n | 1);
  return n <= 0 ? pad[7] : DenseDeep(n - 1) + pad[3];
}

// Uses up the process's guard pages (the next stacks are slab stacks, back
// to back, each guarded only by its canary), then overflows one with
// `deep(300)`: about 150 KiB of frames on a 128 KiB stack run into the top
// of the stack below, return, and are caught when the greenlet next
// switches out, before the greenlet below runs again.
void OverflowASlabStack(int (*deep)(int), const char* name) {
  internal::StackPool hog;
  while (hog.Acquire().guard != nullptr) {
  }
  Event gate;
  auto below = spawn([&gate] { gate.wait(); });
  sleep();
  auto g = spawn([deep] {
    int r = deep(300);
    sleep();
    return r;
  });
  g->set_name(name);
  g->join();
  gate.set();
  below->join();
}

void OverflowAnUnguardedStack() { OverflowASlabStack(&DenseDeep, "slab-recursion"); }

TEST(StackOverflowDeathTest, UnguardedStackNamesTheGreenletWhenItSwitchesOut) {
#if GEVENT_ASAN
  GTEST_SKIP() << "AddressSanitizer reports stack overflows itself";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(OverflowAnUnguardedStack(),
               "stack overflow in greenlet 'slab-recursion'")
      << "epoll";
  EXPECT_DEATH(
      {
        sim::Simulation sim(0);
        OverflowAnUnguardedStack();
      },
      "stack overflow in greenlet 'slab-recursion'")
      << "sim";
#endif
}

// One frame far larger than the guard page, written from its low end: it
// jumps the guard and faults well below it, where nothing is mapped. The
// handler knows it by the stack pointer, below the greenlet's stack.
constexpr size_t kBigFrame = 600 * 1024;
__attribute__((noinline)) int BigFrame() {
  volatile char buf[kBigFrame];
  buf[0] = 1;
  buf[kBigFrame - 1] = 2;
  return buf[0] + buf[kBigFrame - 1];
}

TEST(StackOverflowDeathTest, FrameLargerThanTheGuardNamesTheGreenlet) {
#if GEVENT_ASAN
  GTEST_SKIP() << "AddressSanitizer reports stack overflows itself";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto g = spawn([] { return BigFrame(); });
        g->set_name("big-frame");
        g->join();
      },
      "stack overflow in greenlet 'big-frame' \\(stack size 128 KiB\\)")
      << "epoll";
  EXPECT_DEATH(
      {
        sim::Simulation sim(0);
        auto g = spawn([] { return BigFrame(); });
        g->set_name("big-frame");
        g->join();
      },
      "stack overflow in greenlet 'big-frame'")
      << "sim";
#endif
}

// A greenlet that asked for a smaller stack overflows it like any other.
TEST(StackOverflowDeathTest, SizedStackNamesTheGreenletAndItsSize) {
#if GEVENT_ASAN
  GTEST_SKIP() << "AddressSanitizer reports stack overflows itself";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto g = make_greenlet([] { return Deep(1 << 20); });
        g->set_name("small-stack");
        g->set_stack_size(64 * 1024);
        g->start();
        g->join();
      },
      "stack overflow in greenlet 'small-stack' \\(stack size 64 KiB\\)");
#endif
}

TEST(StackOverflowDeathTest, ALargerStackTakesTheBigFrame) {
  auto g = make_greenlet([] { return BigFrame(); });
  g->set_stack_size(1024 * 1024);
  g->start();
  EXPECT_EQ(g->get(), 3);
}

// Recursion whose frames hold only zeros, as a large zero-initialised
// buffer does.
int ZeroDeep(int n) {
  volatile char pad[512];
  for (int i = 0; i < 512; ++i) pad[i] = 0;
  return n <= 0 ? pad[7] : ZeroDeep(n - 1) + pad[3];
}

// As OverflowAnUnguardedStack, with frames that write only zeros over the
// canary: the canary is a pattern, not zeros, so this is caught too.
void ZeroOverflowAnUnguardedStack() { OverflowASlabStack(&ZeroDeep, "zero-recursion"); }

TEST(StackOverflowDeathTest, ZeroFilledOverflowOfAnUnguardedStackIsCaught) {
#if GEVENT_ASAN
  GTEST_SKIP() << "AddressSanitizer reports stack overflows itself";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(ZeroOverflowAnUnguardedStack(),
               "stack overflow in greenlet 'zero-recursion'")
      << "epoll";
  EXPECT_DEATH(
      {
        sim::Simulation sim(0);
        ZeroOverflowAnUnguardedStack();
      },
      "stack overflow in greenlet 'zero-recursion'")
      << "sim";
#endif
}

TEST(StackOverflowDeathTest, ModestRecursionIsFine) {
  auto g = spawn([] { return Deep(100); });  // ~50 KiB of a 128 KiB stack
  g->join();
  EXPECT_TRUE(g->successful());
}

}  // namespace
}  // namespace gevent
