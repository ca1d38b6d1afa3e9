#include "sim/sim_backend.h"

#include <poll.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "runtime/nanos.h"

#include "sim/network.h"

namespace gevent {
namespace sim {

SimBackend::~SimBackend() = default;

NetworkBackend* SimBackend::network() {
  if (replay_network_ != nullptr) return replay_network_;
  if (network_ == nullptr) network_ = std::make_unique<Network>(hub_);
  return network_.get();
}

bool SimBackend::Buggify(const char* file, int line) {
  // Option 3 of 4 is "yes": option 0, what replay without a trace and the
  // shrinker fall back to, is "no".
  auto key = std::make_pair(std::string(file != nullptr ? file : "?"), line);
  auto it = buggify_points_.find(key);
  if (it == buggify_points_.end()) {
    it = buggify_points_.emplace(key, hub_->Decide(Decision::kBuggify, 4) == 3).first;
  }
  return it->second && hub_->Decide(Decision::kBuggify, 4) == 3;
}

int64_t SimBackend::ClockSkewNs(uint32_t host) const {
  return network_ != nullptr ? network_->ClockSkewNs(host) : 0;
}

void SimBackend::OnHubDestroyed() {
  if (network_ != nullptr) network_->Shutdown();
  if (replay_network_ != nullptr) replay_network_->OrphanAll();
}

SimBackend::SimBackend(absl::Time epoch)
    : epoch_ns_(ToNanos(epoch)), virtual_now_(epoch_ns_) {
  defers_foreign_work_ = true;
}

void SimBackend::WaitForEvents(int64_t deadline, std::vector<IoEvent>* ready) {
  // The simulated network's next delivery is a deadline too; when the clock
  // has reached it, its descriptor is ready (the only I/O a simulation has).
  const int64_t net = network_ != nullptr ? network_->NextEventNs() : kNanosFuture;
  if (net < deadline && deadline != kNanosPast) deadline = net;
  MoveClock(deadline);
  if (net <= virtual_now_) ready->push_back({Network::kFd, IoWatcher::kRead});
}

void SimBackend::MoveClock(int64_t deadline) {
  if (clock_source_) {
    const absl::Time next_time = clock_source_(TimeFromNanos(deadline));
    const int64_t next = ToNanos(next_time);
    if (next > virtual_now_ && next != kNanosFuture) {
      virtual_now_ = next;
    }
    if (deadline != kNanosFuture || next != kNanosFuture) {
      return;
    }
  }
  if (deadline == kNanosPast) return;
  if (internal_fd_ >= 0) {
    // A signal that is already pending is handled before time moves on.
    pollfd p{internal_fd_, POLLIN, 0};
    if (poll(&p, 1, 0) > 0) return;
  }
  if (deadline == kNanosFuture) {
    // Only work on other threads can wake the loop now.
    std::unique_lock<std::mutex> lock(wake_mu_);
    wake_cv_.wait(lock, [this] { return woken_; });
    woken_ = false;
    return;
  }
  if (deadline > virtual_now_) virtual_now_ = deadline;  // time jumps
}

void SimBackend::WatchInternalFd(int fd, bool watch) {
  internal_fd_ = watch ? fd : -1;
}

void SimBackend::AwaitForeignWork() {
  std::unique_lock<std::mutex> lock(wake_mu_);
  if (!woken_) {
    // A program that holds Hub::ref() for work that never comes back would
    // wait here for ever: say so once, after a while of real time (a
    // message only: what the run does never depends on it).
    if (!wake_cv_.wait_for(lock, std::chrono::seconds(10), [this] { return woken_; }) &&
        !warned_stuck_) {
      warned_stuck_ = true;
      std::fprintf(stderr,
                   "geventpp: the simulated clock has waited 10 s (real time) at t=%s for "
                   "work on other threads that the hub is referenced for (Hub::ref()); it "
                   "stands still until that work calls back\n",
                   absl::FormatDuration(absl::Nanoseconds(virtual_now_ - epoch_ns_)).c_str());
    }
    wake_cv_.wait(lock, [this] { return woken_; });
  }
  woken_ = false;
}

bool SimBackend::AwaitForeignWorkFor(int64_t ns) {
  std::unique_lock<std::mutex> lock(wake_mu_);
  const bool woken =
      wake_cv_.wait_for(lock, std::chrono::nanoseconds(ns), [this] { return woken_; });
  woken_ = false;
  return woken;
}

void SimBackend::Wakeup() {
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    woken_ = true;
  }
  wake_cv_.notify_one();
}

void SimBackend::UpdateInterest(int fd, uint32_t old_mask, uint32_t new_mask) {
  (void)old_mask;
  if (new_mask == 0 || fd == Network::kFd || io_source_) return;
  throw std::logic_error(absl::StrCat(
      "real I/O is not possible in a simulation: cannot wait on file "
      "descriptor ",
      fd, " (use the epoll hub, or simulated sockets)"));
}

bool SimBackend::CallbackPassOver(int64_t pass_start_ns, uint64_t callbacks_run,
                                  int64_t interval_ns, int64_t* loop_time_ns) {
  (void)pass_start_ns;
  (void)loop_time_ns;  // the clock's move shows at the next wait
  if (pass_source_) return pass_source_(callbacks_run);
  if (callbacks_run < kBusyPassCallbacks) return false;
  virtual_now_ = AddNanos(virtual_now_, interval_ns);
  return true;
}

}  // namespace sim
}  // namespace gevent
