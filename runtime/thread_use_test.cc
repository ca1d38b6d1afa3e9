// Cross-thread and cross-hub use of the primitives and greenlets, on both
// hub backends: what is handed over to the object's own hub (Event::set,
// AsyncResult::set, Semaphore::release) and what is refused with
// InvalidThreadUseError naming the object, its hub and the caller's (the
// table in docs/api.md, "Threads").
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "runtime/async_result.h"
#include "runtime/event.h"
#include "runtime/exceptions.h"
#include "runtime/greenlet.h"
#include "runtime/queue.h"
#include "runtime/semaphore.h"
#include "runtime/sleep.h"
#include "runtime/socket.h"
#include "runtime/threadpool.h"
#include "runtime/wait.h"
#include "testing/hub_test.h"

namespace gevent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ThreadUseTest : public testing::HubTest {
 protected:
  template <typename F>
  void OnAnotherHub(F body) {
    testing::WithAnotherHub(backend(), body);
  }

  // The message of the InvalidThreadUseError that `f` throws, or "".
  template <typename F>
  static std::string RefusalOf(F f) {
    try {
      f();
    } catch (const InvalidThreadUseError& e) {
      return e.what();
    }
    return "";
  }

  // The same, with `f` run on a new thread (without a hub of its own).
  template <typename F>
  static std::string RefusalOnThread(F f) {
    std::string message;
    std::thread t([&] { message = RefusalOf(f); });
    t.join();
    return message;
  }

  std::string Belongs(const char* what) const {
    return absl::StrCat(what, ": this ", std::string(what).substr(0, std::string(what).find('.')),
                        " belongs to hub ", hub()->id(), " (thread ");
  }
};

// ---- Another hub on the same thread (a Simulation inside a test)

TEST_P(ThreadUseTest, EventWaitFromAnotherHubIsRefused) {
  Event e;
  OnAnotherHub([&](Hub* other) {
    const std::string m = RefusalOf([&] { e.wait(absl::Seconds(10)); });
    EXPECT_THAT(m, HasSubstr(Belongs("Event.wait")));
    EXPECT_THAT(m, HasSubstr(absl::StrCat("used from hub ", other->id())));
    EXPECT_THAT(RefusalOf([&] { e.wait(); }), HasSubstr("Event.wait"));
    EXPECT_THAT(RefusalOf([&] { e.clear(); }), HasSubstr(Belongs("Event.clear")));
  });
  // On its own hub it still works.
  spawn([&] { e.set(); });
  EXPECT_TRUE(e.wait(absl::Seconds(10)));
}

TEST_P(ThreadUseTest, QueueGetFromAnotherHubsGreenletIsRefused) {
  Queue<int> q;
  OnAnotherHub([&](Hub* other) {
    std::string m;
    auto g = spawn([&] { m = RefusalOf([&] { q.get(); }); });
    g->join();
    EXPECT_THAT(m, HasSubstr(Belongs("Queue.get")));
    EXPECT_THAT(m, HasSubstr(absl::StrCat("used from hub ", other->id())));
    EXPECT_THAT(m, Not(HasSubstr("main")));
    EXPECT_THAT(RefusalOf([&] { q.put(1); }), HasSubstr(Belongs("Queue.put")));
    EXPECT_THAT(RefusalOf([&] { q.peek(); }), HasSubstr(Belongs("Queue.peek")));
  });
  EXPECT_TRUE(q.empty());
  q.put(7);
  EXPECT_EQ(q.get(), 7);
}

TEST_P(ThreadUseTest, SemaphoreAcquireFromAnotherHubIsRefused) {
  Semaphore s(0);
  Lock l;
  RLock r;
  OnAnotherHub([&](Hub*) {
    EXPECT_THAT(RefusalOf([&] { s.acquire(true, absl::Seconds(10)); }),
                HasSubstr(Belongs("Semaphore.acquire")));
    EXPECT_THAT(RefusalOf([&] { l.acquire(); }), HasSubstr(Belongs("Lock.acquire")));
    EXPECT_THAT(RefusalOf([&] { r.acquire(); }), HasSubstr(Belongs("RLock.acquire")));
  });
  EXPECT_EQ(s.counter(), 0);
  EXPECT_FALSE(l.locked());
}

TEST_P(ThreadUseTest, JoinAndGetFromAnotherHubAreRefused) {
  Event go;
  auto g = spawn([&] {
    go.wait();
    return 5;
  });
  sleep(absl::ZeroDuration());  // g is blocked on `go`
  OnAnotherHub([&](Hub* other) {
    const std::string m = RefusalOf([&] { g->join(absl::Seconds(10)); });
    EXPECT_THAT(m, HasSubstr(absl::StrCat("cannot join greenlet '", g->name(),
                                          "': it belongs to hub ", hub()->id())));
    EXPECT_THAT(m, HasSubstr(absl::StrCat("used from hub ", other->id())));
    EXPECT_THAT(RefusalOf([&] { g->get(); }), HasSubstr("cannot get greenlet"));
    EXPECT_THAT(RefusalOf([&] { g->kill(); }), HasSubstr("cannot kill greenlet"));
    EXPECT_THAT(RefusalOf([&] { killall({g}); }), HasSubstr(Belongs("Greenlet.killall")));
    EXPECT_THAT(RefusalOf([&] { joinall({g}); }), HasSubstr(Belongs("Greenlet.wait")));
  });
  EXPECT_FALSE(g->ready());
  go.set();
  EXPECT_EQ(g->get(), 5);
}

TEST_P(ThreadUseTest, WaitOnObjectsOfAnotherHubIsRefused) {
  Event e;
  AsyncResult<int> r;
  OnAnotherHub([&](Hub*) {
    EXPECT_THAT(RefusalOf([&] { gevent::wait(std::vector<Event*>{&e}, absl::Seconds(1)); }),
                HasSubstr(Belongs("Event.wait")));
    EXPECT_THAT(RefusalOf([&] { r.get(absl::Seconds(1)); }),
                HasSubstr(Belongs("AsyncResult.get")));
    EXPECT_THAT(RefusalOf([&] { r.wait(); }), HasSubstr(Belongs("AsyncResult.wait")));
  });
  EXPECT_EQ(e.link_count(), 0u);
  EXPECT_EQ(r.link_count(), 0u);
}

TEST_P(ThreadUseTest, SocketFromAnotherHubIsRefused) {
  Socket s(AF_INET, SocketType::kStream);
  OnAnotherHub([&](Hub*) {
    EXPECT_THAT(RefusalOf([&] { s.listen(); }), HasSubstr(Belongs("Socket.listen")));
  });
  s.close();
}

// ---- Another thread

TEST_P(ThreadUseTest, ThreadPoolSpawnFromAnotherThreadIsRefused) {
  ThreadPool pool(1);
  EXPECT_THAT(RefusalOnThread([&] { pool.spawn([] { return 1; }); }),
              HasSubstr(Belongs("ThreadPool.spawn")));
  EXPECT_EQ(pool.thread_count(), 0u);
  EXPECT_EQ(pool.apply([] { return 2; }), 2);
}

// Tags for thread work are handed out on the hub's thread only; a
// callback with a tag may come from any thread.
TEST_P(ThreadUseTest, ForeignTagFromAnotherThreadIsRefused) {
  Hub* h = hub();
  EXPECT_THAT(RefusalOnThread([h] { h->next_foreign_tag(); }),
              HasSubstr(Belongs("Hub.next_foreign_tag")));
  const uint64_t tag = h->next_foreign_tag();
  EXPECT_EQ(h->next_foreign_tag(), tag + 1);  // the refused call took none
  AsyncResult<uint64_t> back;
  h->ref();
  std::thread t([h, &back, tag] {
    h->run_callback_threadsafe(
        [h, &back, tag] {
          back.set(tag);
          h->unref();
        },
        tag);
  });
  EXPECT_EQ(back.get(), tag);
  t.join();
}

TEST_P(ThreadUseTest, QueuePutFromAnotherThreadIsRefused) {
  Queue<int> q;
  JoinableQueue<int> jq;
  const std::string m = RefusalOnThread([&] { q.put(1); });
  EXPECT_THAT(m, HasSubstr(Belongs("Queue.put")));
  EXPECT_THAT(m, HasSubstr("which has no hub"));
  EXPECT_THAT(RefusalOnThread([&] { q.get(false); }), HasSubstr(Belongs("Queue.get")));
  EXPECT_THAT(RefusalOnThread([&] { jq.task_done(); }),
              HasSubstr(Belongs("JoinableQueue.task_done")));
  EXPECT_THAT(RefusalOnThread([&] { jq.join(); }), HasSubstr(Belongs("JoinableQueue.join")));
  // A thread with a hub of its own is named by that hub.
  std::string with_hub;
  std::thread t([&] {
    Hub* own = get_hub();
    with_hub = RefusalOf([&] { q.put(2); });
    EXPECT_THAT(with_hub, HasSubstr(absl::StrCat("used from hub ", own->id())));
  });
  t.join();
  EXPECT_THAT(with_hub, HasSubstr(Belongs("Queue.put")));
  EXPECT_TRUE(q.empty());
}

TEST_P(ThreadUseTest, LockReleaseFromAnotherThreadIsRefused) {
  Lock l("accounts");
  BoundedSemaphore b(2);
  RLock r;
  ASSERT_TRUE(l.acquire());
  ASSERT_TRUE(b.acquire());
  ASSERT_TRUE(r.acquire());
  EXPECT_THAT(RefusalOnThread([&] { l.release(); }), HasSubstr(Belongs("Lock.release")));
  EXPECT_THAT(RefusalOnThread([&] { b.release(); }),
              HasSubstr(Belongs("BoundedSemaphore.release")));
  EXPECT_THAT(RefusalOnThread([&] { r.release(); }), HasSubstr(Belongs("RLock.release")));
  EXPECT_TRUE(l.locked());
  EXPECT_EQ(b.counter(), 1);
  EXPECT_EQ(r.count(), 1);
  l.release();
  b.release();
  r.release();
}

// A Semaphore's release() from another thread is handed over to its hub,
// which wakes the waiter at once (not when its timeout fires).
TEST_P(ThreadUseTest, SemaphoreReleaseFromAnotherThreadWakesTheWaiter) {
  Semaphore s(0);
  auto g = spawn([&] { return s.acquire(); });
  sleep(absl::ZeroDuration());  // g waits in acquire()
  ASSERT_EQ(s.waiter_count(), 1u);
  hub()->ref();  // the thread's release is outstanding work
  std::thread t([&] { s.release(); });
  // Nothing but the release can wake g. (On epoll, a lost wake-up shows as
  // a timeout; the simulator would move its clock to the timeout at once.)
  g->join(simulated() ? absl::InfiniteDuration() : absl::Seconds(20));
  hub()->unref();
  t.join();
  ASSERT_TRUE(g->ready());
  EXPECT_TRUE(g->get());
  EXPECT_EQ(s.counter(), 0);
  EXPECT_EQ(s.waiter_count(), 0u);
}

// Event::set and AsyncResult::set from another thread are handed over too.
TEST_P(ThreadUseTest, EventAndAsyncResultSetFromAnotherThreadWake) {
  Event e;
  AsyncResult<int> r;
  auto g = spawn([&] {
    e.wait();
    return r.get();
  });
  sleep(absl::ZeroDuration());
  hub()->ref();
  std::thread t([&] {
    e.set();
    r.set(11);
    Hub* h = e.hub();
    h->run_callback_threadsafe([h] { h->unref(); });
  });
  EXPECT_EQ(g->get(), 11);
  t.join();
  EXPECT_TRUE(e.is_set());
}

// ---- A greenlet whose hub goes away before it runs

// Spawned on a thread that exits before the greenlet ran (the thread's hub
// is destroyed with it): the greenlet ends killed, without running, and
// get() says so (it used to stay started() and never ready(), and get()
// ended in LoopExit "main is blocked").
TEST_P(ThreadUseTest, AGreenletWhoseThreadExitsBeforeItRunsEndsKilled) {
  std::shared_ptr<Greenlet<int>> now, later;
  int ran = 0;
  std::thread t([&] {
    exchange_hub(testing::MakeBackendHub(backend()));
    now = spawn([&ran] { return ++ran; });
    later = spawn_later(absl::Seconds(1), [&ran] { return ++ran; });
  });
  t.join();
  for (auto& g : {now, later}) {
    EXPECT_TRUE(g->ready());
    EXPECT_FALSE(g->started());
    EXPECT_TRUE(g->killed());
    EXPECT_FALSE(g->successful() && g->value().has_value());
    try {
      g->get();
      ADD_FAILURE() << "get() returned";
    } catch (const NoValueError& e) {
      EXPECT_THAT(e.what(), HasSubstr("its hub was destroyed before it ran"));
    }
    g->join();  // returns at once
  }
  EXPECT_EQ(ran, 0);
  // Released on a thread of their own: the fixture's leak check counts the
  // greenlets made and freed on this thread (a thread-local count).
  std::thread([&] {
    now.reset();
    later.reset();
  }).join();
}

// The same for a hub destroyed on this thread (a Simulation's, say).
TEST_P(ThreadUseTest, AGreenletWhoseHubIsDestroyedBeforeItRunsEndsKilled) {
  std::shared_ptr<Greenlet<void>> g;
  OnAnotherHub([&](Hub*) { g = spawn([] {}); });
  EXPECT_TRUE(g->ready());
  EXPECT_TRUE(g->killed());
  EXPECT_FALSE(g->started());
  g->get();  // a void greenlet killed returns normally
}

GEVENT_INSTANTIATE_BACKENDS(ThreadUseTest);

}  // namespace
}  // namespace gevent
