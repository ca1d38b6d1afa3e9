#include "sim/sim_hub.h"

#include <algorithm>
#include <poll.h>

#include <stdexcept>

#include "absl/strings/str_cat.h"

namespace gevent {
namespace sim {

SimHub::SimHub(SimOptions options)
    : options_(options),
      epoch_ns_(internal::ToNanos(options.epoch)),
      virtual_now_(epoch_ns_),
      max_jitter_us_(options.seed == 0 || options.max_jitter <= absl::ZeroDuration()
                         ? 0
                         : absl::ToInt64Microseconds(options.max_jitter)),
      rng_(options.seed) {
  timer_lateness_ = max_jitter_us_ > 0;
  enable_event_hash(options.epoch);
  now();  // the hub's cached loop time starts at the epoch
}

SimHub::~SimHub() { ShutdownForDestruction(); }

void SimHub::WaitForEvents(int64_t deadline, std::vector<IoEvent>* ready) {
  (void)ready;  // no real I/O in a simulation
  if (clock_source_) {
    const absl::Time next_time = clock_source_(internal::TimeFromNanos(deadline));
    const int64_t next = internal::ToNanos(next_time);
    if (next > virtual_now_ && next != internal::kNanosFuture) {
      virtual_now_ = next;
    }
    if (deadline != internal::kNanosFuture || next != internal::kNanosFuture) {
      return;
    }
  }
  if (deadline == internal::kNanosPast) return;
  if (internal_fd_ >= 0) {
    // A signal that is already pending is handled before time moves on.
    pollfd p{internal_fd_, POLLIN, 0};
    if (poll(&p, 1, 0) > 0) return;
  }
  if (deadline == internal::kNanosFuture) {
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

int64_t SimHub::TimerLatenessNs() {
  int64_t extra = 0;
  if (lateness_source_) extra = std::max<int64_t>(0, internal::ToNanos(lateness_source_()));
  if (max_jitter_us_ <= 0) return extra;
  const size_t us =
      Decide(Decision::kTimerJitter, static_cast<size_t>(max_jitter_us_) + 1);
  return internal::AddNanos(extra, static_cast<int64_t>(us) * 1000);
}

bool SimHub::CallbackPassOver(int64_t pass_start_ns, uint64_t callbacks_run) {
  (void)pass_start_ns;
  if (pass_source_) return pass_source_(callbacks_run);
  if (callbacks_run < kBusyPassCallbacks) return false;
  virtual_now_ = internal::AddNanos(virtual_now_, internal::ToNanos(switch_interval()));
  return true;
}

}  // namespace sim
}  // namespace gevent
