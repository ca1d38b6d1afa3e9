#include "runtime/monitor.h"

#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "runtime/raw_greenlet.h"

namespace gevent {

BlockingMonitor::BlockingMonitor(
    absl::Duration threshold,
    std::function<void(const BlockingReport&)> callback, bool print)
    : hub_(get_hub()),
      threshold_(threshold),
      callback_(std::move(callback)),
      print_(print) {
  if (threshold <= absl::ZeroDuration()) {
    throw std::invalid_argument("BlockingMonitor: threshold must be positive");
  }
  thread_ = std::thread([this] { Run(); });
}

BlockingMonitor::~BlockingMonitor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void BlockingMonitor::Run() {
  using Clock = std::chrono::steady_clock;
  const auto tick = absl::ToChronoNanoseconds(threshold_ / 4);
  uint64_t last_count = hub_->switch_count();
  auto last_change = Clock::now();
  bool reported = false;
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, tick, [this] { return stop_; })) {
    const uint64_t count = hub_->switch_count();
    const auto now = Clock::now();
    if (count != last_count || hub_->polling()) {
      last_count = count;
      last_change = now;
      reported = false;
      continue;
    }
    const absl::Duration held = absl::FromChrono(now - last_change);
    if (reported || held < threshold_) continue;
    reported = true;
    BlockingReport report;
    // The greenlet cannot finish while it holds the hub, so reading its name
    // here is safe in practice (it is not synchronised with the hub thread).
    if (const RawGreenlet* g = hub_->running_greenlet()) {
      report.greenlet = g->name_snapshot();
      report.greenlet_id = g->id();
    } else {
      report.greenlet = "main";
    }
    report.held = held;
    reports_.fetch_add(1);
    if (print_) {
      fprintf(stderr,
              "geventpp: greenlet '%s' has held the hub for %lld ms without "
              "switching (threshold %lld ms)\n",
              report.greenlet.c_str(),
              static_cast<long long>(absl::ToInt64Milliseconds(held)),
              static_cast<long long>(absl::ToInt64Milliseconds(threshold_)));
    }
    if (callback_) callback_(report);
  }
}

}  // namespace gevent
