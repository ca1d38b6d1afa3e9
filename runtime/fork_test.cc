// Unit tests for gevent::fork() and gevent::reinit() (runtime/fork.h), and
// ForkWatcher (runtime/hub.h), on both hub backends.
//
// A child reports through its exit status only: it never touches GoogleTest
// and always ends with _exit(). Exit code 0 means every check in the child
// passed; other codes say which one failed (see each test).
#include "runtime/fork.h"

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "runtime/event.h"
#include "runtime/greenlet.h"
#include "runtime/hub.h"
#include "runtime/signal.h"
#include "runtime/sleep.h"
#include "runtime/wait.h"
#include "testing/hub_test.h"

namespace gevent {
namespace {

using absl::Milliseconds;
using absl::Seconds;

constexpr int kChildCrashed = 100;  // an exception escaped the child's body

// Runs `body` in the child and _exit()s with what it returns.
[[noreturn]] void RunChild(const std::function<int()>& body) {
  int code = kChildCrashed;
  try {
    code = body();
  } catch (...) {
    code = kChildCrashed;
  }
  _exit(code);
}

// Waits (blocking this thread, not the hub) for `pid` to exit; returns its
// exit code, or -1 (after killing it) if it did not exit within 20 s or was
// killed by a signal.
int WaitChild(pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      ADD_FAILURE() << "child killed by signal " << WTERMSIG(status);
      return -1;
    }
    if (r < 0) {
      ADD_FAILURE() << "waitpid failed";
      return -1;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ADD_FAILURE() << "child did not exit within 20 s (hung)";
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

struct FlagWatcher : ForkWatcher {
  FlagWatcher() : ForkWatcher(&Fire) {}
  static void Fire(ForkWatcher* w) { ++static_cast<FlagWatcher*>(w)->runs; }
  int runs = 0;
};

class ForkTest : public testing::HubTest {};

// A greenlet sleeping across fork() finishes in the child (and in the
// parent), as in gevent.
TEST_P(ForkTest, SleepingGreenletSurvivesInChild) {
  bool flag = false;
  auto g = spawn([&] {
    sleep(Milliseconds(20));
    flag = true;
  });
  sleep(absl::ZeroDuration());  // g is now blocked in sleep
  ASSERT_TRUE(g->started());
  pid_t pid = gevent::fork();
  if (pid == 0) {
    RunChild([&] {
      g->join();
      if (!g->successful()) return 2;
      return flag ? 0 : 1;
    });
  }
  ASSERT_GT(pid, 0);
  EXPECT_EQ(WaitChild(pid), 0);
  g->join();
  EXPECT_TRUE(flag);
}

// A greenlet spawned but not yet started when fork() is called starts in the
// child.
TEST_P(ForkTest, ScheduledGreenletStartsInChild) {
  int value = 0;
  auto g = spawn([&] {
    sleep(Milliseconds(10));
    value = 7;
    return value;
  });
  auto later = spawn_later(Milliseconds(20), [] { return 5; });
  pid_t pid = gevent::fork();
  if (pid == 0) {
    RunChild([&] {
      if (g->get() != 7) return 1;
      if (later->get() != 5) return 2;
      return 0;
    });
  }
  ASSERT_GT(pid, 0);
  EXPECT_EQ(WaitChild(pid), 0);
  EXPECT_EQ(g->get(), 7);
  EXPECT_EQ(later->get(), 5);
}

TEST_P(ForkTest, ForkWatcherRunsInChildOnly) {
  FlagWatcher w;
  hub()->start(&w);
  EXPECT_TRUE(w.active());
  pid_t pid = gevent::fork();
  if (pid == 0) RunChild([&] { return w.runs == 1 ? 0 : 1; });
  ASSERT_GT(pid, 0);
  EXPECT_EQ(WaitChild(pid), 0) << "exit 1: the fork watcher did not run once";
  EXPECT_EQ(w.runs, 0) << "the fork watcher ran in the parent";
  hub()->stop(&w);
}

TEST_P(ForkTest, StoppedForkWatcherDoesNotRun) {
  FlagWatcher stopped, kept;
  hub()->start(&stopped);
  hub()->start(&kept);
  hub()->stop(&stopped);
  EXPECT_FALSE(stopped.active());
  pid_t pid = gevent::fork();
  if (pid == 0) {
    RunChild([&] {
      if (stopped.runs != 0) return 1;
      if (kept.runs != 1) return 2;
      return 0;
    });
  }
  ASSERT_GT(pid, 0);
  EXPECT_EQ(WaitChild(pid), 0);
  EXPECT_EQ(kept.runs, 0);
  hub()->stop(&kept);
}

// A fork watcher does not keep the loop alive.
TEST_P(ForkTest, ForkWatcherDoesNotKeepLoopAlive) {
  FlagWatcher w;
  hub()->start(&w);
  EXPECT_FALSE(hub()->alive());
  EXPECT_TRUE(gevent::wait(Seconds(5)));
  hub()->stop(&w);
}

// Code that forked with ::fork() calls gevent::reinit() in the child.
TEST_P(ForkTest, ReinitAfterPlainFork) {
  FlagWatcher w;
  hub()->start(&w);
  bool flag = false;
  auto g = spawn([&] {
    sleep(Milliseconds(10));
    flag = true;
  });
  sleep(absl::ZeroDuration());
  pid_t pid = ::fork();
  if (pid == 0) {
    RunChild([&] {
      gevent::reinit();
      if (w.runs != 1) return 1;
      g->join();
      return flag ? 0 : 2;
    });
  }
  ASSERT_GT(pid, 0);
  EXPECT_EQ(WaitChild(pid), 0);
  EXPECT_EQ(w.runs, 0);
  g->join();
  hub()->stop(&w);
}

// The child's hub has its own wake-up: another thread started in the child
// can wake it.
TEST_P(ForkTest, CrossThreadWakeupInChild) {
  pid_t pid = gevent::fork();
  if (pid == 0) {
    RunChild([&] {
      Event e;
      get_hub()->ref();
      std::thread t([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        e.set();
      });
      bool woken = e.wait();
      get_hub()->unref();
      t.join();
      return woken ? 0 : 1;
    });
  }
  ASSERT_GT(pid, 0);
  EXPECT_EQ(WaitChild(pid), 0);
}

// A signal handler installed before fork() handles the child's own signal
// in the child; the parent's handler does not see it.
TEST_P(ForkTest, SignalHandlerWorksInChild) {
  int count = 0;
  Event handled;
  auto h = signal_handler(SIGUSR2, [&] {
    ++count;
    handled.set();
  });
  pid_t pid = gevent::fork();
  if (pid == 0) {
    RunChild([&] {
      auto raiser = spawn([] { return ::raise(SIGUSR2); });
      if (!handled.wait(Seconds(5))) return 1;
      if (count != 1) return 2;
      return raiser->get() == 0 ? 0 : 3;
    });
  }
  ASSERT_GT(pid, 0);
  EXPECT_EQ(WaitChild(pid), 0);
  sleep(Milliseconds(10));
  EXPECT_EQ(count, 0);
  h->cancel();
  // Nothing was sent to the parent.
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGUSR2));
}

// Several children, one after the other, each with the parent's greenlets.
TEST_P(ForkTest, SeveralChildren) {
  int counter = 0;
  auto ticker = spawn([&] {
    for (int i = 0; i < 3; ++i) {
      sleep(Milliseconds(10));
      ++counter;
    }
    return counter;
  });
  sleep(absl::ZeroDuration());
  std::vector<pid_t> pids;
  for (int c = 0; c < 3; ++c) {
    pid_t pid = gevent::fork();
    if (pid == 0) RunChild([&] { return ticker->get() == 3 ? 0 : 1; });
    ASSERT_GT(pid, 0);
    pids.push_back(pid);
  }
  for (pid_t pid : pids) EXPECT_EQ(WaitChild(pid), 0);
  EXPECT_EQ(ticker->get(), 3);
}

GEVENT_INSTANTIATE_BACKENDS(ForkTest);

}  // namespace
}  // namespace gevent
