// Unit tests for Semaphore, BoundedSemaphore, Lock, RLock and ScopedAcquire
// (runtime/semaphore.h), on both hub backends.
#include "runtime/semaphore.h"

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "runtime/greenlet.h"
#include "runtime/raw_greenlet.h"
#include "runtime/sleep.h"
#include "runtime/timeout.h"
#include "runtime/wait.h"
#include "testing/hub_test.h"

namespace gevent {
namespace {

using absl::Milliseconds;
using absl::Seconds;

class SemaphoreTest : public testing::HubTest {};

// ---- Basics

TEST_P(SemaphoreTest, CountsPermits) {
  Semaphore s(2);
  EXPECT_EQ(s.counter(), 2);
  EXPECT_FALSE(s.locked());
  EXPECT_TRUE(s.ready());
  EXPECT_TRUE(s.acquire());
  EXPECT_EQ(s.counter(), 1);
  EXPECT_TRUE(s.acquire());
  EXPECT_EQ(s.counter(), 0);
  EXPECT_TRUE(s.locked());
  EXPECT_FALSE(s.ready());
  s.release();
  EXPECT_EQ(s.counter(), 1);
  s.release();
  s.release();  // a plain Semaphore may go above its initial value
  EXPECT_EQ(s.counter(), 3);
}

TEST_P(SemaphoreTest, DefaultIsOnePermit) {
  Semaphore s;
  EXPECT_EQ(s.counter(), 1);
}

TEST_P(SemaphoreTest, NegativeInitialValueIsInvalid) {
  EXPECT_THROW(Semaphore(-1), std::invalid_argument);
  EXPECT_THROW(BoundedSemaphore(-3), std::invalid_argument);
}

TEST_P(SemaphoreTest, ZeroPermitsBlocksUntilRelease) {
  Semaphore s(0);
  // Before the timer starts: its deadline is at least 10 ms after this.
  const absl::Time start = hub()->now();
  auto releaser = spawn_later(Milliseconds(10), [&] { s.release(); });
  EXPECT_TRUE(s.acquire());
  EXPECT_GE(hub()->now() - start, Milliseconds(10));
  EXPECT_EQ(s.counter(), 0);
  releaser->join();
}

TEST_P(SemaphoreTest, NonBlockingAcquire) {
  Semaphore s(1);
  EXPECT_TRUE(s.acquire(/*blocking=*/false));
  const absl::Time start = hub()->now();
  EXPECT_FALSE(s.acquire(/*blocking=*/false));
  if (simulated()) {
    EXPECT_EQ(hub()->now(), start);
  }
  EXPECT_EQ(s.counter(), 0);
  EXPECT_EQ(s.waiter_count(), 0u);
}

TEST_P(SemaphoreTest, AcquireTimeoutReturnsFalseAndLeavesNoWaiter) {
  Semaphore s(0);
  const absl::Time start = hub()->now();
  EXPECT_FALSE(s.acquire(true, Milliseconds(10)));
  EXPECT_GE(hub()->now() - start, Milliseconds(10));
  EXPECT_EQ(s.waiter_count(), 0u);
  EXPECT_EQ(s.counter(), 0);
  EXPECT_FALSE(hub()->alive());
  // The permit released later is not handed to the gone waiter.
  s.release();
  EXPECT_EQ(s.counter(), 1);
  EXPECT_TRUE(s.acquire(false));
}

TEST_P(SemaphoreTest, AcquireTimeoutInGreenletsLeavesNoWaiters) {
  Semaphore s(0);
  GreenletList gs;
  int failed = 0;
  for (int i = 0; i < 3; ++i) {
    gs.push_back(spawn([&] {
      if (!s.acquire(true, Milliseconds(10))) ++failed;
    }));
  }
  sleep(absl::ZeroDuration());
  EXPECT_EQ(s.waiter_count(), 3u);
  joinall(gs);
  EXPECT_EQ(failed, 3);
  EXPECT_EQ(s.waiter_count(), 0u);
  s.release();
  EXPECT_EQ(s.counter(), 1);
}

TEST_P(SemaphoreTest, TimeoutScopeInterruptsAcquire) {
  Semaphore s(0);
  bool timed_out = false;
  try {
    TimeoutScope t(Milliseconds(10));
    s.acquire();
  } catch (const TimeoutError&) {
    timed_out = true;
  }
  EXPECT_TRUE(timed_out);
  EXPECT_EQ(s.waiter_count(), 0u);
  EXPECT_EQ(s.counter(), 0);
}

// ---- Fairness

TEST_P(SemaphoreTest, WaitersAcquireInArrivalOrder) {
  Semaphore s(0);
  std::vector<int> order;
  GreenletList gs;
  // Greenlet i arrives after (5 - i) * 10 ms: 4 arrives first, 0 last.
  for (int i = 0; i < 5; ++i) {
    gs.push_back(spawn([&, i] {
      sleep(Milliseconds(10 * (5 - i)));
      s.acquire();
      order.push_back(i);
    }));
  }
  sleep(Milliseconds(100));
  EXPECT_EQ(s.waiter_count(), 5u);
  for (int i = 0; i < 5; ++i) {
    s.release();
    sleep(absl::ZeroDuration());
  }
  joinall(gs);
  EXPECT_EQ(order, (std::vector<int>{4, 3, 2, 1, 0}));
}

TEST_P(SemaphoreTest, ReleasesAllAtOnceStillFifo) {
  Semaphore s(0);
  std::vector<int> order;
  GreenletList gs;
  for (int i = 0; i < 6; ++i) {
    gs.push_back(spawn([&, i] {
      s.acquire();
      order.push_back(i);
    }));
  }
  sleep(absl::ZeroDuration());
  for (int i = 0; i < 6; ++i) s.release();
  joinall(gs);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(s.counter(), 0);
}

// A lock passed around by greenlets that hold it across a blocking call.
TEST_P(SemaphoreTest, LockContendedFifo) {
  Lock lock;
  std::vector<int> order;
  GreenletList gs;
  for (int i = 0; i < 4; ++i) {
    gs.push_back(spawn([&, i] {
      for (int round = 0; round < 2; ++round) {
        lock.acquire();
        order.push_back(i);
        sleep(Milliseconds(1));
        lock.release();
      }
    }));
  }
  joinall(gs);
  // Each releaser re-queues behind those already waiting.
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 0, 1, 2, 3}));
  EXPECT_FALSE(lock.locked());
}

// A greenlet that calls acquire() after release() handed the permit to a
// waiter does not overtake it, with or without blocking.
TEST_P(SemaphoreTest, NewcomerDoesNotOvertakeWaiters) {
  Semaphore s(1);
  ASSERT_TRUE(s.acquire());
  std::vector<std::string> order;
  auto a = spawn([&] {
    s.acquire();
    order.push_back("a");
    s.release();
  });
  auto b = spawn([&] {
    s.acquire();
    order.push_back("b");
    s.release();
  });
  sleep(absl::ZeroDuration());
  ASSERT_EQ(s.waiter_count(), 2u);
  s.release();  // goes to a, although a has not run yet
  EXPECT_TRUE(s.locked());
  EXPECT_EQ(s.counter(), 0);
  EXPECT_FALSE(s.acquire(/*blocking=*/false));
  EXPECT_TRUE(s.acquire());  // queues behind b
  order.push_back("main");
  s.release();
  joinall(GreenletList{a, b});
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "main"}));
  EXPECT_EQ(s.counter(), 1);
}

// Even with a free permit, a newcomer waits if others wait (locked() says
// acquire() would block).
TEST_P(SemaphoreTest, LockedWhileWaitersQueued) {
  Semaphore s(0);
  auto w = spawn([&] { s.acquire(); });
  sleep(absl::ZeroDuration());
  EXPECT_TRUE(s.locked());
  s.release();
  EXPECT_TRUE(s.locked());
  EXPECT_EQ(s.counter(), 0);
  w->join();
  EXPECT_TRUE(w->successful());
  EXPECT_EQ(s.counter(), 0);
  EXPECT_EQ(s.waiter_count(), 0u);
}

// ---- Kill

TEST_P(SemaphoreTest, KillWhileWaiting) {
  Semaphore s(0);
  bool acquired = false;
  auto g = spawn([&] {
    s.acquire();
    acquired = true;
  });
  sleep(absl::ZeroDuration());
  EXPECT_EQ(s.waiter_count(), 1u);
  g->kill();
  EXPECT_TRUE(g->killed());
  EXPECT_FALSE(acquired);
  EXPECT_EQ(s.waiter_count(), 0u);
  s.release();
  EXPECT_EQ(s.counter(), 1) << "the permit went to the dead waiter";
}

// release() hands the permit to the first waiter, which is killed before it
// gets to run: the permit goes on to the next waiter.
TEST_P(SemaphoreTest, PermitOfKilledWaiterPassesToNext) {
  Semaphore s(0);
  bool a_acquired = false;
  bool b_acquired = false;
  auto a = spawn([&] {
    s.acquire();
    a_acquired = true;
  });
  auto b = spawn([&] {
    s.acquire();
    b_acquired = true;
  });
  sleep(absl::ZeroDuration());
  ASSERT_EQ(s.waiter_count(), 2u);
  a->kill(/*block=*/false);  // delivered before a's wake-up
  s.release();               // handed to a
  joinall(GreenletList{a, b}, Seconds(10));
  EXPECT_TRUE(a->killed());
  EXPECT_FALSE(a_acquired);
  EXPECT_TRUE(b->dead());
  EXPECT_TRUE(b_acquired) << "the permit handed to the killed waiter was lost";
  EXPECT_EQ(s.counter(), 0);
  EXPECT_EQ(s.waiter_count(), 0u);
}

// The same with no other waiter: the permit goes back to the counter.
TEST_P(SemaphoreTest, PermitOfKilledWaiterReturnsToCounter) {
  BoundedSemaphore s(1);
  ASSERT_TRUE(s.acquire());
  auto a = spawn([&] { s.acquire(); });
  sleep(absl::ZeroDuration());
  a->kill(/*block=*/false);
  s.release();
  a->join();
  EXPECT_TRUE(a->killed());
  EXPECT_EQ(s.counter(), 1);
  EXPECT_FALSE(s.locked());
  EXPECT_TRUE(s.acquire(false));
}

// ---- BoundedSemaphore and Lock

TEST_P(SemaphoreTest, BoundedSemaphoreOverReleaseThrows) {
  BoundedSemaphore s(2);
  EXPECT_THROW(s.release(), std::logic_error);
  EXPECT_EQ(s.counter(), 2);
  ASSERT_TRUE(s.acquire());
  s.release();
  EXPECT_THROW(s.release(), std::logic_error);
  EXPECT_EQ(s.counter(), 2);
}

TEST_P(SemaphoreTest, BoundedSemaphoreReleaseToWaiterIsAllowed) {
  BoundedSemaphore s(1);
  ASSERT_TRUE(s.acquire());
  bool got = false;
  auto w = spawn([&] {
    got = s.acquire();
    s.release();
  });
  sleep(absl::ZeroDuration());
  EXPECT_NO_THROW(s.release());
  w->join();
  EXPECT_TRUE(got);
  EXPECT_EQ(s.counter(), 1);
  EXPECT_THROW(s.release(), std::logic_error);
}

TEST_P(SemaphoreTest, LockReleaseUnheldThrows) {
  Lock l;
  EXPECT_THROW(l.release(), std::logic_error);
  EXPECT_TRUE(l.acquire());
  EXPECT_TRUE(l.locked());
  EXPECT_FALSE(l.acquire(false));
  EXPECT_FALSE(l.acquire(true, Milliseconds(10)));
  l.release();
  EXPECT_FALSE(l.locked());
  EXPECT_THROW(l.release(), std::logic_error);
}

// ---- RLock

TEST_P(SemaphoreTest, RLockReentrant) {
  RLock r;
  EXPECT_EQ(r.owner(), nullptr);
  EXPECT_EQ(r.count(), 0);
  EXPECT_TRUE(r.acquire());
  EXPECT_TRUE(r.acquire());
  EXPECT_TRUE(r.acquire(false));
  EXPECT_EQ(r.count(), 3);
  EXPECT_EQ(r.owner(), getcurrent());
  r.release();
  r.release();
  EXPECT_EQ(r.count(), 1);
  EXPECT_EQ(r.owner(), getcurrent());
  // Still held: another greenlet cannot take it.
  bool other_got = true;
  auto other = spawn([&] { other_got = r.acquire(false); });
  other->join();
  EXPECT_FALSE(other_got);
  r.release();
  EXPECT_EQ(r.count(), 0);
  EXPECT_EQ(r.owner(), nullptr);
}

TEST_P(SemaphoreTest, RLockReleaseByNonOwnerThrows) {
  RLock r;
  EXPECT_THROW(r.release(), std::logic_error);  // not held at all
  ASSERT_TRUE(r.acquire());
  bool threw = false;
  auto other = spawn([&] {
    try {
      r.release();
    } catch (const std::logic_error&) {
      threw = true;
    }
  });
  other->join();
  EXPECT_TRUE(threw);
  EXPECT_EQ(r.count(), 1);
  EXPECT_EQ(r.owner(), getcurrent());
  r.release();
}

TEST_P(SemaphoreTest, RLockBlocksOthersUntilFullyReleased) {
  RLock r;
  ASSERT_TRUE(r.acquire());
  ASSERT_TRUE(r.acquire());
  const RawGreenlet* other_self = nullptr;
  const RawGreenlet* owner_seen = nullptr;
  auto other = spawn([&] {
    other_self = getcurrent();
    r.acquire();
    owner_seen = r.owner();
    r.release();
  });
  sleep(Milliseconds(10));
  EXPECT_EQ(owner_seen, nullptr);
  r.release();
  sleep(Milliseconds(10));
  EXPECT_EQ(owner_seen, nullptr) << "taken while still held once";
  r.release();
  other->join();
  EXPECT_EQ(owner_seen, other_self);
  EXPECT_EQ(r.owner(), nullptr);
}

TEST_P(SemaphoreTest, RLockTimeoutAndNonBlocking) {
  RLock r;
  auto holder = spawn([&] {
    r.acquire();
    sleep(Milliseconds(50));
    r.release();
  });
  sleep(absl::ZeroDuration());
  EXPECT_FALSE(r.acquire(false));
  EXPECT_FALSE(r.acquire(true, Milliseconds(10)));
  EXPECT_EQ(r.owner(), holder.get());
  EXPECT_TRUE(r.acquire(true, Seconds(10)));
  EXPECT_EQ(r.owner(), getcurrent());
  r.release();
  holder->join();
}

TEST_P(SemaphoreTest, RLockFifoAmongGreenlets) {
  RLock r;
  ASSERT_TRUE(r.acquire());
  std::vector<int> order;
  GreenletList gs;
  for (int i = 0; i < 3; ++i) {
    gs.push_back(spawn([&, i] {
      r.acquire();
      r.acquire();
      order.push_back(i);
      sleep(Milliseconds(1));
      r.release();
      r.release();
    }));
  }
  sleep(absl::ZeroDuration());
  r.release();
  joinall(gs);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(r.owner(), nullptr);
}

// A greenlet that dies holding an RLock keeps it held (gevent: another
// greenlet's acquire(blocking=False) returns False). The owner must not be
// confused with a later greenlet that happens to get the same address.
TEST_P(SemaphoreTest, RLockHeldByDeadGreenletStaysHeld) {
  RLock r;
  const RawGreenlet* a_addr = nullptr;
  const RawGreenlet* reused = nullptr;
  int acquired = 0;
  // One function for both roles, so the greenlet objects have one size.
  auto body = [&](bool first) {
    if (first) {
      a_addr = getcurrent();
      r.acquire();
      return;
    }
    if (getcurrent() == a_addr) reused = a_addr;
    if (r.acquire(/*blocking=*/false)) ++acquired;
  };
  spawn(body, true)->join();
  sleep(absl::ZeroDuration());  // the hub lets go of the dead greenlet
  EXPECT_EQ(r.count(), 1);
  for (int i = 0; i < 8; ++i) spawn(body, false)->join();
  EXPECT_EQ(acquired, 0) << "a new greenlet took an RLock held by a dead one"
                         << (reused != nullptr ? " (it reused the dead owner's address)" : "");
  EXPECT_EQ(r.count(), 1);
}

// ---- ScopedAcquire

TEST_P(SemaphoreTest, ScopedAcquireReleasesOnExit) {
  Semaphore s(2);
  {
    ScopedAcquire hold(s);
    EXPECT_EQ(s.counter(), 1);
    {
      ScopedAcquire hold2(s);
      EXPECT_EQ(s.counter(), 0);
    }
    EXPECT_EQ(s.counter(), 1);
  }
  EXPECT_EQ(s.counter(), 2);
}

TEST_P(SemaphoreTest, ScopedAcquireReleasesOnException) {
  Lock l;
  try {
    ScopedAcquire hold(l);
    EXPECT_TRUE(l.locked());
    throw std::runtime_error("x");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(l.locked());
  EXPECT_EQ(l.counter(), 1);
}

TEST_P(SemaphoreTest, ScopedAcquireWithRLockAndKill) {
  RLock r;
  auto g = spawn([&] {
    ScopedAcquire hold(r);
    ScopedAcquire again(r);
    sleep(Seconds(10));
  });
  sleep(absl::ZeroDuration());
  EXPECT_EQ(r.count(), 2);
  g->kill();
  EXPECT_EQ(r.count(), 0);
  EXPECT_EQ(r.owner(), nullptr);
  EXPECT_TRUE(r.acquire(false));
  r.release();
}

TEST_P(SemaphoreTest, ScopedAcquireSerializesGreenlets) {
  Semaphore s(2);
  int inside = 0;
  int max_inside = 0;
  GreenletList gs;
  for (int i = 0; i < 6; ++i) {
    gs.push_back(spawn([&] {
      ScopedAcquire hold(s);
      ++inside;
      max_inside = std::max(max_inside, inside);
      sleep(Milliseconds(10));
      --inside;
    }));
  }
  const absl::Time start = hub()->now();
  joinall(gs);
  EXPECT_EQ(max_inside, 2);
  EXPECT_EQ(s.counter(), 2);
  EXPECT_GE(hub()->now() - start, Milliseconds(30));
  if (simulated()) {
    EXPECT_EQ(hub()->now() - start, Milliseconds(30));
  }
}

// ---- wait() / iwait()

TEST_P(SemaphoreTest, WaitReadyWhenPermitFree) {
  Semaphore free_one(1);
  auto ready = gevent::wait(std::vector<Semaphore*>{&free_one}, Seconds(10));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(free_one.counter(), 1) << "waiting must not take the permit";
}

TEST_P(SemaphoreTest, WaitBlocksUntilRelease) {
  Semaphore s(0);
  // Before the timer starts: its deadline is at least 10 ms after this.
  const absl::Time start = hub()->now();
  auto releaser = spawn_later(Milliseconds(10), [&] { s.release(); });
  auto ready = gevent::wait(std::vector<Semaphore*>{&s}, Seconds(10));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0], &s);
  EXPECT_GE(hub()->now() - start, Milliseconds(10));
  EXPECT_EQ(s.counter(), 1);
  releaser->join();
}

TEST_P(SemaphoreTest, WaitTimesOutWhenNoPermit) {
  Semaphore s(0);
  auto ready = gevent::wait(std::vector<Semaphore*>{&s}, Milliseconds(10));
  EXPECT_TRUE(ready.empty());
  EXPECT_EQ(s.link_count(), 0u);
}

// Waiters of wait() and of acquire() are served in one line, first come,
// first served: a wait() that began before an acquire() is woken by the
// release() that the acquirer then takes (gevent 22.10: wait() returns
// [sem], acquire() returns True, counter 0).
TEST_P(SemaphoreTest, WaitRegisteredBeforeAcquirerIsWoken) {
  Semaphore s(0);
  size_t waited = 99;
  bool acquired = false;
  auto w = spawn([&] {
    waited = gevent::wait(std::vector<Semaphore*>{&s}, Seconds(1)).size();
  });
  sleep(absl::ZeroDuration());
  auto a = spawn([&] { acquired = s.acquire(); });
  sleep(absl::ZeroDuration());
  s.release();
  joinall(GreenletList{w, a});
  EXPECT_TRUE(acquired);
  EXPECT_EQ(waited, 1u) << "wait() missed the release it was first in line for";
  EXPECT_EQ(s.counter(), 0);
}

TEST_P(SemaphoreTest, IwaitInReleaseOrder) {
  Semaphore a(0), b(0), c(0);
  auto r1 = spawn_later(Milliseconds(30), [&] { a.release(); });
  auto r2 = spawn_later(Milliseconds(10), [&] { c.release(); });
  auto r3 = spawn_later(Milliseconds(20), [&] { b.release(); });
  std::vector<Semaphore*> order;
  for (Semaphore* s : iwait(std::vector<Semaphore*>{&a, &b, &c}, Seconds(10))) {
    order.push_back(s);
    EXPECT_TRUE(s->acquire(false));
  }
  EXPECT_EQ(order, (std::vector<Semaphore*>{&c, &b, &a}));
  joinall(GreenletList{r1, r2, r3});
}

// A lock-order deadlock is reported with the locks' names, who holds
// each, and the cycle.
TEST_P(SemaphoreTest, DeadlockReportNamesLocksHoldersAndTheCycle) {
  Lock a("A"), b("B");
  auto g1 = spawn([&] {
    a.acquire();
    sleep(absl::Milliseconds(10));
    b.acquire();
  });
  auto g2 = spawn([&] {
    b.acquire();
    sleep(absl::Milliseconds(10));
    a.acquire();
  });
  g1->set_name("g1");
  g2->set_name("g2");
  try {
    joinall(GreenletList{g1, g2});
    FAIL() << "joinall returned";
  } catch (const LoopExit& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("g1 waits for Lock 'B' held by g2 (in Semaphore.acquire)"),
              std::string::npos) << what;
    EXPECT_NE(what.find("g2 waits for Lock 'A' held by g1"), std::string::npos) << what;
    EXPECT_TRUE(what.find("a wait cycle: g1 -> g2 -> g1") != std::string::npos ||
                what.find("a wait cycle: g2 -> g1 -> g2") != std::string::npos)
        << what;
  }
  killall(GreenletList{g1, g2});
}

// An unnamed Semaphore of several permits has no holder to name.
TEST_P(SemaphoreTest, DescribesItself) {
  Semaphore s(3);
  EXPECT_EQ(s.describe(), "Semaphore");
  s.set_name("pool");
  EXPECT_EQ(s.describe(), "Semaphore 'pool'");
  s.acquire();
  EXPECT_EQ(s.holder(), nullptr);
  Lock l;
  EXPECT_EQ(l.describe(), "Lock");
  EXPECT_EQ(l.holder(), nullptr);
  l.acquire();
  EXPECT_EQ(l.holder(), getcurrent());
  l.release();
  EXPECT_EQ(l.holder(), nullptr);
  BoundedSemaphore bs(1);
  EXPECT_EQ(bs.describe(), "BoundedSemaphore");
}

GEVENT_INSTANTIATE_BACKENDS(SemaphoreTest);

}  // namespace
}  // namespace gevent
