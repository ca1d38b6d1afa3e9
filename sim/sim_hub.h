// SimHub: the simulated hub backend, with a virtual clock and seeded
// scheduling decisions.
//
// The clock starts at a fixed epoch and moves only when the loop has nothing
// to run: then it jumps straight to the next timer's deadline. Nothing here
// reads a real clock, real randomness, pointer values or hash-map order, so a
// run is a pure function of the program and the seed.
//
// Where a real machine leaves the order open, the SimHub decides with a
// SplitMix64 generator seeded by the seed: which of several timers with the
// same deadline fires first, how late a timer fires (up to `max_jitter`),
// and the order of cross-thread wake-ups. Orders that gevent promises (the
// callback FIFO, spawn order, link order, FIFO wake-up of waiters) are never
// perturbed. Seed 0 perturbs nothing: strict deadline and FIFO order.
//
// Code takes no virtual time, with one exception: a pass of the callback FIFO
// that runs more than kBusyPassCallbacks (2^20) callbacks -- greenlets
// busy-looping on sleep(0) -- ends there and costs one switch interval of
// virtual time, so timers still fire under a busy loop, as they would on a
// real machine. Ordinary bursts (100,000 spawns) stay far below it.
//
// Real file descriptors cannot be waited on in a simulation: that is a
// std::logic_error naming the descriptor, not a hang.
#ifndef GEVENTPP_SIM_SIM_HUB_H_
#define GEVENTPP_SIM_SIM_HUB_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

#include "absl/time/time.h"
#include "runtime/hub.h"
#include "sim/random.h"

namespace gevent {
namespace sim {

struct SimOptions {
  // 0: no perturbation at all.
  uint64_t seed = 0;
  // The most a timer may fire late (when seed != 0).
  absl::Duration max_jitter = absl::Milliseconds(3);
  // Where the virtual clock starts.
  absl::Time epoch = absl::FromUnixSeconds(1'000'000'000);
};

class SimHub final : public Hub {
 public:
  static constexpr uint64_t kBusyPassCallbacks = uint64_t{1} << 20;
  explicit SimHub(SimOptions options = {});
  ~SimHub() override;
  const char* backend_name() const override { return "sim"; }

  uint64_t seed() const { return options_.seed; }
  const SimOptions& options() const { return options_; }
  // Virtual time elapsed since the epoch.
  absl::Duration elapsed() const {
    return absl::Nanoseconds(virtual_now_ - epoch_ns_);
  }
  // event_hash() and event_count() (from Hub): a hash of every scheduling
  // event so far (spawns, switches, timers, decisions, time jumps...): equal
  // hashes mean equal schedules.
  uint64_t decision_count() const { return decisions_; }

  // Replay hooks (used by traces/). With a decision source, every decision
  // is taken from it instead of the seeded generator (jitter only when
  // the seed is not 0, as when recording). With a clock source, each time the loop would jump to
  // `deadline` it asks the source where the clock goes instead (never
  // backwards).
  using DecisionSource = std::function<size_t(Decision d, size_t n)>;
  using ClockSource = std::function<absl::Time(absl::Time deadline)>;
  void set_decision_source(DecisionSource source) {
    decision_source_ = std::move(source);
  }
  void set_clock_source(ClockSource source) { clock_source_ = std::move(source); }
  // With a lateness source, each timer start asks it how much later than the
  // loop time the clock read (the drift an epoll trace recorded); that is
  // added to the deadline, before any jitter. Negative counts as zero.
  using LatenessSource = std::function<absl::Duration()>;
  void set_lateness_source(LatenessSource source) {
    lateness_source_ = std::move(source);
    timer_lateness_ = lateness_source_ != nullptr || max_jitter_us_ > 0;
  }
  // With a pass source, the source decides where a long pass of the callback
  // FIFO ends (every 256 callbacks: true ends it) instead of the
  // kBusyPassCallbacks rule, and the clock does not move by itself (an
  // epoll trace records where its loop ended each pass).
  using PassSource = std::function<bool(uint64_t callbacks_run)>;
  void set_pass_source(PassSource source) { pass_source_ = std::move(source); }

 protected:
  int64_t ClockNowNs() override { return virtual_now_; }
  void WaitForEvents(int64_t deadline_ns, std::vector<IoEvent>* ready) override;
  void Wakeup() override;
  void WatchInternalFd(int fd, bool watch) override;
  void UpdateInterest(int fd, uint32_t old_mask, uint32_t new_mask) override;
  size_t Choose(Decision d, size_t n) override;
  int64_t TimerLatenessNs() override;
  bool CallbackPassOver(int64_t pass_start_ns, uint64_t callbacks_run) override;
  bool perturbs() const override {
    return options_.seed != 0 || decision_source_ != nullptr;
  }

 private:

  SimOptions options_;
  DecisionSource decision_source_;
  ClockSource clock_source_;
  LatenessSource lateness_source_;
  PassSource pass_source_;
  int64_t epoch_ns_;
  int64_t virtual_now_;  // ns (internal/nanos.h)
  int64_t max_jitter_us_;
  SplitMix64 rng_;
  uint64_t decisions_ = 0;
  // Cross-thread wake-ups are the one thing a simulation must really wait
  // for (work handed to other threads).
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  bool woken_ = false;
  int internal_fd_ = -1;  // the hub's signalfd, polled before time jumps
};

}  // namespace sim
}  // namespace gevent

#endif  // GEVENTPP_SIM_SIM_HUB_H_
