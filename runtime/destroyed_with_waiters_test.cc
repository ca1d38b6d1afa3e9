// A primitive destroyed while greenlets wait on it: they are detached, may
// be killed safely (run under ASan and valgrind), and a waiter that resumes
// unserved (its timeout) gets a clear error, never a wrong result.
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/gevent.h"
#include "testing/hub_test.h"

namespace gevent {
namespace {

using absl::Milliseconds;
using DestroyedWithWaitersTest = testing::HubTest;
GEVENT_INSTANTIATE_BACKENDS(DestroyedWithWaitersTest);

// Blocks `n` greenlets on a primitive made by `make`, destroys it, then
// kills them: nothing of the primitive may be touched.
template <typename P, typename Make, typename Block>
void KillAfterDestroy(Make make, Block block) {
  GreenletList waiters;
  {
    std::unique_ptr<P> p = make();
    P* raw = p.get();
    for (int i = 0; i < 3; ++i) waiters.push_back(spawn([raw, block] { block(*raw); }));
    sleep(Milliseconds(10));  // all blocked
    for (auto& g : waiters) EXPECT_FALSE(g->ready());
  }  // destroyed with its waiters
  killall(waiters);
  for (auto& g : waiters) EXPECT_TRUE(g->ready());
}

TEST_P(DestroyedWithWaitersTest, SemaphoreWaitersCanBeKilled) {
  KillAfterDestroy<Semaphore>([] { return std::make_unique<Semaphore>(0); },
                              [](Semaphore& s) { s.acquire(); });
}

TEST_P(DestroyedWithWaitersTest, QueueGettersAndPuttersCanBeKilled) {
  KillAfterDestroy<Queue<int>>([] { return std::make_unique<Queue<int>>(); },
                               [](Queue<int>& q) { q.get(); });
  KillAfterDestroy<Queue<int>>(
      [] {
        auto q = std::make_unique<Queue<int>>(1);
        q->put(0);
        return q;
      },
      [](Queue<int>& q) { q.put(1); });
}

TEST_P(DestroyedWithWaitersTest, EventAndAsyncResultWaitersCanBeKilled) {
  KillAfterDestroy<Event>([] { return std::make_unique<Event>(); },
                          [](Event& e) { e.wait(); });
  KillAfterDestroy<AsyncResult<int>>([] { return std::make_unique<AsyncResult<int>>(); },
                                     [](AsyncResult<int>& r) { r.get(); });
}

// A served waiter (handed a permit or an item) whose primitive is destroyed
// before it runs still gets what it was handed.
TEST_P(DestroyedWithWaitersTest, AServedWaiterKeepsWhatItWasHanded) {
  std::optional<int> got;
  std::shared_ptr<Greenlet<void>> getter;
  {
    Queue<int> q;
    getter = spawn([&q, &got] { got = q.get(); });
    sleep(Milliseconds(10));
    q.put(7);  // handed over; the getter runs after the queue is gone
  }
  getter->join();
  EXPECT_EQ(got, 7);
}

// Resuming unserved (a timeout) after the primitive is gone: a clear error
// that names the operation.
TEST_P(DestroyedWithWaitersTest, ATimedWaiterGetsAClearError) {
  auto expect_error = [](const std::shared_ptr<Greenlet<void>>& g, const std::string& what) {
    g->join();
    ASSERT_TRUE(g->exception() != nullptr) << what;
    EXPECT_EQ(exception_type_name(g->exception()), "std::logic_error") << what;
    EXPECT_THAT(exception_message(g->exception()),
                ::testing::HasSubstr(what + ": the object was destroyed while greenlet"));
  };
  std::shared_ptr<Greenlet<void>> s, q, e, r;
  {
    Semaphore sem(0);
    Queue<int> queue;
    Event event;
    AsyncResult<int> result;
    s = spawn([&sem] { sem.acquire(true, Milliseconds(20)); });
    q = spawn([&queue] { queue.get(true, Milliseconds(20)); });
    e = spawn([&event] { event.wait(Milliseconds(20)); });
    r = spawn([&result] { result.get(true, Milliseconds(20)); });
    sleep(Milliseconds(10));
  }
  expect_error(s, "Semaphore.acquire");
  expect_error(q, "Queue.get");
  expect_error(e, "Event.wait");
  expect_error(r, "AsyncResult.get");
}

}  // namespace
}  // namespace gevent
