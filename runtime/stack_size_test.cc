// Tests for a greenlet's own stack size (RawGreenlet::set_stack_size and
// stack_size): the default, a larger stack that takes frames the default
// cannot, when it may be set and which sizes are refused. On both hubs.
// The overflow deaths are in internal/stack_overflow_test.cc.
#include <unistd.h>

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/gevent.h"
#include "testing/hub_test.h"

namespace gevent {
namespace {

size_t Page() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

// A frame of `kBig` bytes, every page of it written: more than a default
// (128 KiB) stack holds.
constexpr size_t kBig = 600 * 1024;
__attribute__((noinline)) int UseBigFrame() {
  volatile char buf[kBig];
  for (size_t i = 0; i < kBig; i += 1024) buf[i] = static_cast<char>(i >> 10);
  int sum = 0;
  for (size_t i = 0; i < kBig; i += 4096) sum += buf[i];
  return sum;
}

int Expected() {
  int sum = 0;
  for (size_t i = 0; i < kBig; i += 4096) sum += static_cast<char>(i >> 10);
  return sum;
}

template <typename F>
std::string ErrorOf(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

class StackSizeTest : public testing::HubTest {};

TEST_P(StackSizeTest, DefaultIs128KiB) {
  EXPECT_EQ(RawGreenlet::kDefaultStackSize, size_t{128 * 1024});
  size_t inside = 0;
  auto g = spawn([&inside] { inside = getcurrent()->stack_size(); });
  EXPECT_EQ(g->stack_size(), RawGreenlet::kDefaultStackSize);  // not run yet
  g->join();
  EXPECT_EQ(inside, RawGreenlet::kDefaultStackSize);
  EXPECT_EQ(g->stack_size(), RawGreenlet::kDefaultStackSize);
  EXPECT_EQ(getcurrent()->stack_size(), 0u);  // the thread's own stack
}

TEST_P(StackSizeTest, ALargerStackTakesAFrameTheDefaultCannot) {
  size_t inside = 0;
  auto g = make_greenlet([&inside] {
    inside = getcurrent()->stack_size();
    return UseBigFrame();
  });
  g->set_stack_size(1024 * 1024);
  EXPECT_EQ(g->stack_size(), size_t{1024 * 1024});
  g->start();
  EXPECT_EQ(g->get(), Expected());
  EXPECT_EQ(inside, size_t{1024 * 1024});
  EXPECT_EQ(g->stack_size(), size_t{1024 * 1024});  // still, once finished
}

TEST_P(StackSizeTest, SetRightAfterSpawnBeforeItRuns) {
  auto g = spawn([] { return UseBigFrame(); });
  g->set_stack_size(768 * 1024);
  EXPECT_EQ(g->get(), Expected());
}

TEST_P(StackSizeTest, SizeIsRoundedUpToPages) {
  auto g = make_greenlet([] { return getcurrent()->stack_size(); });
  g->set_stack_size(100 * 1000);
  const size_t rounded = (100 * 1000 + Page() - 1) / Page() * Page();
  EXPECT_EQ(g->stack_size(), rounded);
  g->start();
  EXPECT_EQ(g->get(), rounded);
}

TEST_P(StackSizeTest, SmallerAndDefaultSizedStacksWork) {
  std::vector<std::shared_ptr<Greenlet<int>>> gs;
  for (int i = 0; i < 20; ++i) {
    auto g = make_greenlet([i] {
      sleep();
      return i;
    });
    g->set_stack_size(i % 2 == 0 ? RawGreenlet::kMinStackSize
                                 : RawGreenlet::kDefaultStackSize);
    g->start();
    gs.push_back(g);
  }
  for (int i = 0; i < 20; ++i) EXPECT_EQ(gs[i]->get(), i);
}

TEST_P(StackSizeTest, SettingItOnceTheGreenletRanIsALogicError) {
  auto g = spawn([] { sleep(absl::Milliseconds(5)); });
  g->set_name("runner");
  sleep();  // it runs, and blocks
  ASSERT_TRUE(g->has_run());
  std::string what = ErrorOf([&] { g->set_stack_size(1 << 20); });
  EXPECT_NE(what.find("'runner'"), std::string::npos) << what;
  EXPECT_NE(what.find("already run"), std::string::npos) << what;
  EXPECT_THROW(g->set_stack_size(1 << 20), std::logic_error);
  g->join();
  EXPECT_THROW(g->set_stack_size(1 << 20), std::logic_error);
  EXPECT_EQ(g->stack_size(), RawGreenlet::kDefaultStackSize);
  // Nor on the main greenlet, whose stack is the thread's.
  EXPECT_THROW(getcurrent()->set_stack_size(1 << 20), std::logic_error);
}

TEST_P(StackSizeTest, AbsurdSizesAreRefusedSayingWhichBound) {
  auto g = make_greenlet([] {});
  g->set_name("sized");
  std::string what = ErrorOf([&] { g->set_stack_size(1000); });
  EXPECT_NE(what.find("'sized'"), std::string::npos) << what;
  EXPECT_NE(what.find("below the minimum"), std::string::npos) << what;
  EXPECT_THROW(g->set_stack_size(0), std::invalid_argument);
  EXPECT_THROW(g->set_stack_size(RawGreenlet::kMinStackSize - 1),
               std::invalid_argument);
  what = ErrorOf([&] { g->set_stack_size(RawGreenlet::kMaxStackSize + 1); });
  EXPECT_NE(what.find("'sized'"), std::string::npos) << what;
  EXPECT_NE(what.find("above the maximum"), std::string::npos) << what;
  EXPECT_THROW(g->set_stack_size(~size_t{0}), std::invalid_argument);
  EXPECT_EQ(g->stack_size(), RawGreenlet::kDefaultStackSize);  // unchanged
  g->set_stack_size(RawGreenlet::kMinStackSize);  // the bounds themselves
  g->set_stack_size(RawGreenlet::kMaxStackSize);
  EXPECT_EQ(g->stack_size(), RawGreenlet::kMaxStackSize);
  g->set_stack_size(64 * 1024);
  g->start();
  g->join();
  EXPECT_TRUE(g->successful());
}

TEST_P(StackSizeTest, KilledBeforeItRanNeedsNoStack) {
  auto g = make_greenlet([] {});
  g->set_stack_size(1 << 20);
  g->start();
  g->kill();
  EXPECT_TRUE(g->dead());
}

GEVENT_INSTANTIATE_BACKENDS(StackSizeTest);

}  // namespace
}  // namespace gevent
