#include "sim/sim_hub.h"

#include <algorithm>
#include <poll.h>

#include <stdexcept>

#include "absl/strings/str_cat.h"

namespace gevent {
namespace sim {

SimHub::SimHub(SimOptions options)
    : options_(options),
      virtual_now_(options.epoch),
      rng_(options.seed) {
  enable_event_hash(options.epoch);
  now();  // the hub's cached loop time starts at the epoch
}

SimHub::~SimHub() { ShutdownForDestruction(); }

void SimHub::WaitForEvents(absl::Time deadline, std::vector<IoEvent>* ready) {
  (void)ready;  // no real I/O in a simulation
  if (clock_source_) {
    absl::Time next = clock_source_(deadline);
    if (next > virtual_now_) virtual_now_ = next;
    if (deadline != absl::InfiniteFuture() || next != absl::InfiniteFuture()) {
      return;
    }
  }
  if (deadline == absl::InfinitePast()) return;
  if (internal_fd_ >= 0) {
    // A signal that is already pending is handled before time moves on.
    pollfd p{internal_fd_, POLLIN, 0};
    if (poll(&p, 1, 0) > 0) return;
  }
  if (deadline == absl::InfiniteFuture()) {
    // Only work on other threads can wake the loop now.
    std::unique_lock<std::mutex> lock(wake_mu_);
    wake_cv_.wait(lock, [this] { return woken_; });
    woken_ = false;
    return;
  }
  if (deadline > virtual_now_) virtual_now_ = deadline;  // time jumps
}

void SimHub::WatchInternalFd(int fd, bool watch) {
  internal_fd_ = watch ? fd : -1;
}

void SimHub::Wakeup() {
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    woken_ = true;
  }
  wake_cv_.notify_one();
}

void SimHub::UpdateInterest(int fd, uint32_t old_mask, uint32_t new_mask) {
  (void)old_mask;
  if (new_mask == 0) return;
  throw std::logic_error(absl::StrCat(
      "real I/O is not possible in a simulation: cannot wait on file "
      "descriptor ",
      fd, " (use the epoll hub, or simulated sockets)"));
}

size_t SimHub::Choose(Decision d, size_t n) {
  if (decision_source_) {
    ++decisions_;
    return decision_source_(d, n);
  }
  if (options_.seed == 0 || n < 2) return 0;
  ++decisions_;
  return static_cast<size_t>(rng_.Below(n));
}

absl::Duration SimHub::TimerLateness() {
  absl::Duration extra = absl::ZeroDuration();
  if (lateness_source_) extra = std::max(extra, lateness_source_());
  if (options_.seed == 0 || options_.max_jitter <= absl::ZeroDuration()) {
    return extra;
  }
  const uint64_t bound_us =
      static_cast<uint64_t>(absl::ToInt64Microseconds(options_.max_jitter));
  size_t us = Decide(Decision::kTimerJitter, bound_us + 1);
  return extra + absl::Microseconds(static_cast<int64_t>(us));
}

bool SimHub::CallbackPassOver(absl::Time pass_start, uint64_t callbacks_run) {
  (void)pass_start;
  if (pass_source_) return pass_source_(callbacks_run);
  if (callbacks_run < kBusyPassCallbacks) return false;
  virtual_now_ += switch_interval();
  return true;
}

}  // namespace sim
}  // namespace gevent
