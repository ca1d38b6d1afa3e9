#include "runtime/threadpool.h"

#include <stdexcept>

namespace gevent {

ThreadPool::ThreadPool(size_t max_threads)
    : hub_(get_hub()), max_threads_(max_threads) {
  if (max_threads == 0) {
    throw std::invalid_argument("ThreadPool: max_threads must be at least 1");
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

size_t ThreadPool::thread_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return threads_.size();
}

void ThreadPool::Submit(std::function<void()> task) {
  hub_->ref();  // released by the hand-back callback
  std::lock_guard<std::mutex> lock(mu_);
  tasks_.push_back(std::move(task));
  if (idle_ == 0 && threads_.size() < max_threads_) {
    threads_.emplace_back([this] { WorkerMain(); });
  } else {
    cv_.notify_one();
  }
}

void ThreadPool::WorkerMain() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    ++idle_;
    cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
    --idle_;
    if (tasks_.empty()) return;  // stopping, nothing left
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

}  // namespace gevent
