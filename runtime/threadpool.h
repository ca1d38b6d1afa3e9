// ThreadPool: run blocking calls that cannot be made cooperative on native
// threads, and wait for them from greenlets without blocking the hub.
//
// example-prelude: int expensive_blocking_call();
//   gevent::ThreadPool pool(4);
//   auto result = pool.spawn([] { return expensive_blocking_call(); });
//   auto value = result->get();   // this greenlet waits; others keep running
//
// At most `max_threads` threads run tasks; further tasks wait in FIFO order.
// A task's return value or exception is carried back through the returned
// AsyncResult, which is set on the pool's hub (the hub of the thread that
// made the pool). While a task is queued or running it keeps that hub's loop
// alive, so waiting for it never ends in LoopExit. The destructor waits for
// queued tasks to finish.
//
// On the simulated hub, virtual time stands still while a task is queued or
// running: its result arrives at the virtual time the loop went idle, and a
// get() with a timeout never times out early. A task that waits for
// virtual time to pass cannot finish there (docs/simulation.md, "Work on
// other threads").
#ifndef GEVENTPP_RUNTIME_THREADPOOL_H_
#define GEVENTPP_RUNTIME_THREADPOOL_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "runtime/async_result.h"
#include "runtime/hub.h"
#include "runtime/internal/hub_check.h"

namespace gevent {

class ThreadPool {
 public:
  // `max_threads` must be at least 1 (std::invalid_argument otherwise).
  explicit ThreadPool(size_t max_threads = 4);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Runs `f(args...)` on a pool thread. Call from the pool's own hub (the
  // thread that made the pool): elsewhere it throws InvalidThreadUseError.
  template <typename F, typename... Args>
  auto spawn(F&& f, Args&&... args) {
    internal::CheckOwnHub(hub_, "ThreadPool", "spawn");
    using R = std::invoke_result_t<std::decay_t<F>&, std::decay_t<Args>&...>;
    auto result = std::make_shared<AsyncResult<R>>();
    auto call = std::make_shared<std::tuple<std::decay_t<F>, std::decay_t<Args>...>>(
        std::forward<F>(f), std::forward<Args>(args)...);
    Hub* hub = hub_;
    // The result comes back tagged: a replay takes it where the recorded
    // run did, whatever order the threads finish in.
    const uint64_t tag = hub->next_foreign_tag();
    Submit([result, call, hub, tag] {
      // On the pool thread: run, then hand the outcome to the hub.
      std::exception_ptr error;
      if constexpr (std::is_void_v<R>) {
        try {
          std::apply([](auto& fn, auto&... a) { std::invoke(fn, a...); }, *call);
        } catch (...) {
          error = std::current_exception();
        }
        hub->run_callback_threadsafe(
            [result, error, hub] {
              hub->unref();
              if (error) {
                result->set_exception(error);
              } else {
                result->set();
              }
            },
            tag);
      } else {
        auto value = std::make_shared<std::optional<R>>();
        try {
          value->emplace(std::apply(
              [](auto& fn, auto&... a) -> R { return std::invoke(fn, a...); },
              *call));
        } catch (...) {
          error = std::current_exception();
        }
        hub->run_callback_threadsafe(
            [result, error, value, hub] {
              hub->unref();
              if (error) {
                result->set_exception(error);
              } else {
                result->set(std::move(**value));
              }
            },
            tag);
      }
    });
    return result;
  }

  // spawn() and wait for the value (gevent's apply()).
  template <typename F, typename... Args>
  auto apply(F&& f, Args&&... args) {
    return spawn(std::forward<F>(f), std::forward<Args>(args)...)->get();
  }

  size_t max_threads() const { return max_threads_; }
  // Threads started so far (they start on demand).
  size_t thread_count() const;

 private:
  void Submit(std::function<void()> task);
  void WorkerMain();

  Hub* hub_;
  const size_t max_threads_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool stopping_ = false;
};

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_THREADPOOL_H_
