// exit() called inside a greenlet ends the process with its status: the
// thread's hub and the stack the greenlet runs on are not freed under it.
// Both hub backends.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "runtime/gevent.h"
#include "testing/hub_test.h"

// A child that calls exit() mid-test leaves the test's own objects behind on
// purpose: LeakSanitizer (under --config=asan) is told so in the child only.
namespace {
bool g_in_child = false;
}  // namespace
extern "C" int __lsan_is_turned_off() { return g_in_child ? 1 : 0; }

namespace gevent {
namespace {

class ExitTest : public testing::HubTest {
 protected:
  // Runs `child` in a forked process; returns its exit status, or -signal.
  template <typename F>
  int InChild(F child) {
    fflush(nullptr);
    pid_t pid = ::fork();  // a plain fork: the child only exits
    if (pid == 0) {
      g_in_child = true;
      child();
      _exit(99);  // not reached when the child calls exit()
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) return -WTERMSIG(status);
    return WEXITSTATUS(status);
  }
};

TEST_P(ExitTest, ExitInAGreenletGivesItsStatus) {
  EXPECT_EQ(InChild([] { spawn([] { std::exit(7); })->join(); }), 7);
}

TEST_P(ExitTest, ExitInANestedGreenletWhileOthersSleep) {
  EXPECT_EQ(InChild([] {
              for (int i = 0; i < 10; ++i) spawn([] { sleep(absl::Hours(1)); });
              spawn([] {
                spawn([] {
                  sleep(absl::Milliseconds(10));
                  std::exit(3);
                })->join();
              })->join();
            }),
            3);
}

TEST_P(ExitTest, ExitInTheMainGreenletStillDestroysTheHub) {
  EXPECT_EQ(InChild([] {
              spawn([] { sleep(absl::Hours(1)); });
              sleep(absl::Milliseconds(10));
              std::exit(5);
            }),
            5);
}

GEVENT_INSTANTIATE_BACKENDS(ExitTest);

}  // namespace
}  // namespace gevent
