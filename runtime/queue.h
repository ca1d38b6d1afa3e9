// Queues between greenlets: Queue<T> (FIFO), LifoQueue<T>, PriorityQueue<T>
// and JoinableQueue<T> (with task_done() and join()).
//
//   gevent::Queue<int> q(/*maxsize=*/10);   // 0: unbounded
//   gevent::spawn([&] { for (int i = 0; i < 3; ++i) q.put(i); });
//   int first = q.get();                     // blocks until an item is there
//
// Blocked getters are served first come, first served: put() hands its item
// straight to the getter that has waited longest; likewise, when a bounded
// queue has room again, the putter that has waited longest gets its item in
// first. get() on an empty queue without blocking (or after the timeout)
// throws QueueEmpty; put() on a full one throws QueueFull. For wait() and
// iwait(), a queue is ready while it holds an item.
//
// A queue belongs to the hub of the thread that made it and is not
// thread-safe (as in gevent): put(), get(), peek(), task_done() and join()
// from another thread, or from a greenlet of another hub, throw
// InvalidThreadUseError and change nothing. To feed a queue from another
// thread, hand the put() over: `hub->run_callback_threadsafe([&] {
// q.put_nowait(v); })` (an unbounded queue never blocks there).
#ifndef GEVENTPP_RUNTIME_QUEUE_H_
#define GEVENTPP_RUNTIME_QUEUE_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <queue>
#include <stdexcept>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "runtime/event.h"
#include "runtime/hub.h"
#include "runtime/internal/hub_check.h"
#include "runtime/internal/intrusive_list.h"
#include "runtime/internal/waiter.h"
#include "runtime/internal/wait_name.h"
#include "runtime/internal/waiter_list.h"
#include "runtime/waitable.h"

namespace gevent {

class QueueEmpty : public std::runtime_error {
 public:
  QueueEmpty() : std::runtime_error("queue is empty") {}
};
class QueueFull : public std::runtime_error {
 public:
  QueueFull() : std::runtime_error("queue is full") {}
};

namespace internal {

// Storage orders for BasicQueue.
template <typename T>
struct FifoOrder {
  std::deque<T> items;
  void push(T v) { items.push_back(std::move(v)); }
  // Puts an item back so that it is the next one out.
  void push_next(T v) { items.push_front(std::move(v)); }
  T pop() {
    T v = std::move(items.front());
    items.pop_front();
    return v;
  }
  const T& peek() const { return items.front(); }
  size_t size() const { return items.size(); }
};

template <typename T>
struct LifoOrder {
  std::vector<T> items;
  void push(T v) { items.push_back(std::move(v)); }
  void push_next(T v) { items.push_back(std::move(v)); }
  T pop() {
    T v = std::move(items.back());
    items.pop_back();
    return v;
  }
  const T& peek() const { return items.back(); }
  size_t size() const { return items.size(); }
};

// Smallest first (like Python's heapq); ties in insertion order.
template <typename T, typename Less>
struct PriorityOrder {
  struct Entry {
    T value;
    uint64_t seq;
  };
  struct Later {
    bool operator()(const Entry& a, const Entry& b) const {
      if (Less()(b.value, a.value)) return true;
      if (Less()(a.value, b.value)) return false;
      return a.seq > b.seq;
    }
  };
  std::priority_queue<Entry, std::vector<Entry>, Later> items;
  uint64_t next_seq = 0;
  void push(T v) { items.push(Entry{std::move(v), next_seq++}); }
  // Priority order decides what comes out next; ties go first.
  void push_next(T v) { items.push(Entry{std::move(v), 0}); }
  T pop() {
    T v = std::move(const_cast<Entry&>(items.top()).value);
    items.pop();
    return v;
  }
  const T& peek() const { return items.top().value; }
  size_t size() const { return items.size(); }
};

}  // namespace internal

template <typename T, typename Order>
class BasicQueue : public Waitable {
 public:
  // `maxsize` 0 means unbounded.
  explicit BasicQueue(size_t maxsize = 0) : Waitable(get_hub()), maxsize_(maxsize) {}

  size_t qsize() const { return order_.size(); }
  bool empty() const { return order_.size() == 0; }
  bool full() const { return maxsize_ > 0 && order_.size() >= maxsize_; }
  size_t maxsize() const { return maxsize_; }
  bool ready() const override { return !empty(); }

  // An optional name, for deadlock reports ("worker waits for Queue 'jobs'").
  void set_name(std::string name) { name_.Set("Queue", std::move(name)); }
  const std::string& name() const { return name_.Get(); }

  // Adds `item`, blocking (if `block`) while the queue is full, up to
  // `timeout`; throws QueueFull if there is no room in time.
  void put(T item, bool block = true,
           absl::Duration timeout = absl::InfiniteDuration()) {
    internal::CheckOwnHub(hub(), "Queue", "put");
    if (Getter* g = getters_.Serve()) {
      // Someone is waiting for an item: hand it over directly.
      g->item.emplace(std::move(item));
      hub()->run_callback(&g->wake);
      OnPut();
      return;
    }
    if (!full() && putters_.empty()) {
      order_.push(std::move(item));
      OnPut();
      notify_links();
      return;
    }
    if (!block) throw QueueFull();
    Hub* const hub = this->hub();
    internal::WaitName::Scope named(name_, hub);
    Putter p(hub, std::move(item));
    putters_.Wait(&p);
    struct Leave {
      BasicQueue* q;  // not touched once the putter is detached
      Hub* hub;
      Putter* p;
      ~Leave() {
        if (!p->detached) q->putters_.Leave(p);
        if (p->wake.pending()) hub->cancel(&p->wake);
      }
    } leave{this, hub, &p};
    p.waiter.wait("Queue.put", timeout);
    if (!p.served) {
      if (p.detached) internal::ThrowDestroyedWhileWaiting("Queue.put");
      throw QueueFull();
    }
  }
  void put_nowait(T item) { put(std::move(item), false); }

  // Removes and returns the next item, blocking (if `block`) while the queue
  // is empty, up to `timeout`; throws QueueEmpty if none came in time.
  T get(bool block = true, absl::Duration timeout = absl::InfiniteDuration()) {
    internal::CheckOwnHub(hub(), "Queue", "get");
    if (!empty() && getters_.empty()) {
      T item = order_.pop();
      AdmitPutter();
      return item;
    }
    if (!block) throw QueueEmpty();
    Hub* const hub = this->hub();
    internal::WaitName::Scope named(name_, hub);
    Getter g(hub);
    getters_.Wait(&g);
    struct Leave {
      BasicQueue* q;  // not touched once the getter is detached
      Hub* hub;
      Getter* g;
      ~Leave() {
        if (!g->detached) q->getters_.Leave(g);
        if (g->wake.pending()) hub->cancel(&g->wake);
      }
    } leave{this, hub, &g};
    try {
      g.waiter.wait("Queue.get", timeout);
    } catch (...) {
      // Killed after an item was handed over: put it back in front of the
      // line so it is not lost (unless the queue is gone).
      if (g.item.has_value() && !g.detached) {
        getters_.Leave(&g);
        Requeue(std::move(*g.item));
      }
      throw;
    }
    if (!g.item.has_value()) {
      if (g.detached) internal::ThrowDestroyedWhileWaiting("Queue.get");
      throw QueueEmpty();
    }
    return std::move(*g.item);
  }
  T get_nowait() { return get(false); }

  // The next item without removing it; throws QueueEmpty if there is none.
  const T& peek() const {
    internal::CheckOwnHub(hub(), "Queue", "peek");
    if (empty()) throw QueueEmpty();
    return order_.peek();
  }

 protected:
  virtual void OnPut() {}

 private:
  // Served: handed an item (a getter), or its item taken (a putter).
  struct Getter : internal::ListedWaiter {
    explicit Getter(Hub* hub) : waiter(hub), wake(&waiter) {}
    internal::Waiter waiter;
    internal::Waiter::WakeCallback wake;
    std::optional<T> item;
  };
  struct Putter : internal::ListedWaiter {
    Putter(Hub* hub, T v) : waiter(hub), wake(&waiter), item(std::move(v)) {}
    internal::Waiter waiter;
    internal::Waiter::WakeCallback wake;
    T item;
  };

  // A get() made room: the longest-waiting putter's item goes in.
  void AdmitPutter() {
    if (Putter* p = putters_.Serve()) {
      order_.push(std::move(p->item));
      OnPut();
      hub()->run_callback(&p->wake);
    }
  }
  void Requeue(T item) {
    if (Getter* g = getters_.Serve()) {
      g->item.emplace(std::move(item));
      hub()->run_callback(&g->wake);
      return;
    }
    order_.push_next(std::move(item));
    notify_links();
  }

  size_t maxsize_;
  Order order_;
  internal::WaiterList<Getter> getters_;
  internal::WaiterList<Putter> putters_;
  internal::WaitName name_;
};

template <typename T>
using Queue = BasicQueue<T, internal::FifoOrder<T>>;
template <typename T>
using LifoQueue = BasicQueue<T, internal::LifoOrder<T>>;
template <typename T, typename Less = std::less<T>>
using PriorityQueue = BasicQueue<T, internal::PriorityOrder<T, Less>>;

// A FIFO queue that counts unfinished tasks: every put() adds one, every
// task_done() removes one, and join() waits until none is left.
template <typename T>
class JoinableQueue : public Queue<T> {
 public:
  explicit JoinableQueue(size_t maxsize = 0) : Queue<T>(maxsize) {
    all_done_.set();
  }
  // Marks one item taken with get() as processed. Calling it more often than
  // put() is a std::logic_error.
  void task_done() {
    internal::CheckOwnHub(this->hub(), "JoinableQueue", "task_done");
    if (unfinished_ == 0) {
      throw std::logic_error("task_done() called too many times");
    }
    if (--unfinished_ == 0) all_done_.set();
  }
  // Blocks until every item put has been marked done (or `timeout`);
  // returns true if so.
  bool join(absl::Duration timeout = absl::InfiniteDuration()) {
    internal::CheckOwnHub(this->hub(), "JoinableQueue", "join");
    return all_done_.wait(timeout);
  }
  size_t unfinished_tasks() const { return unfinished_; }

 protected:
  void OnPut() override {
    ++unfinished_;
    all_done_.clear();
  }

 private:
  size_t unfinished_ = 0;
  Event all_done_;
};

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_QUEUE_H_
