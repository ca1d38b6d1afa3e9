// SimBackend: the simulator's HubBackend, a virtual clock.
//
// The clock starts at a fixed epoch and moves only when the loop has nothing
// to run: then it jumps straight to the next timer's deadline. Nothing here
// reads a real clock, so a run is a pure function of the program and the
// scheduling policy's choices.
//
// Code takes no virtual time, with one exception: a pass of the callback FIFO
// that runs more than kBusyPassCallbacks (2^20) callbacks -- greenlets
// busy-looping on sleep(0) -- ends there and costs one switch interval of
// virtual time, so timers still fire under a busy loop, as they would on a
// real machine. Ordinary bursts (100,000 spawns) stay far below it.
//
// The simulated network (sim/network.h) has no descriptors of its own: its
// next delivery is one more deadline, reported as readiness of
// Network::kFd once the clock reaches it.
//
// Real file descriptors cannot be waited on in a simulation: that is a
// std::logic_error naming the descriptor, not a hang. The one real wait is
// for work handed to other threads (a cross-thread wake-up).
#ifndef GEVENTPP_SIM_SIM_BACKEND_H_
#define GEVENTPP_SIM_SIM_BACKEND_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <mutex>
#include <vector>

#include "absl/time/time.h"
#include "runtime/hub_backend.h"

namespace gevent {
namespace sim {

class SimBackend final : public HubBackend {
 public:
  static constexpr uint64_t kBusyPassCallbacks = uint64_t{1} << 20;
  explicit SimBackend(absl::Time epoch);
  ~SimBackend() override;

  const char* name() const override { return "sim"; }
  int64_t NowNs() override { return virtual_now_; }
  void WaitForEvents(int64_t deadline_ns, std::vector<IoEvent>* ready) override;
  void Wakeup() override;
  void AwaitForeignWork() override;
  void UpdateInterest(int fd, uint32_t old_mask, uint32_t new_mask) override;
  void WatchInternalFd(int fd, bool watch) override;
  bool CallbackPassOver(int64_t pass_start_ns, uint64_t callbacks_run,
                        int64_t interval_ns, int64_t* loop_time_ns) override;
  void Attach(Hub* hub) override { hub_ = hub; }
  // The simulated network (sim/network.h), made on first use.
  NetworkBackend* network() override;
  void OnHubDestroyed() override;

  // buggify() points: each is on or off for the whole run (a decision the
  // first time it is reached), and an "on" point fires on a quarter of its
  // evaluations (another decision).
  bool Buggify(const char* file, int line) override;
  int64_t ClockSkewNs(uint32_t host) const override;

  int64_t epoch_ns() const { return epoch_ns_; }
  int64_t now_ns() const { return virtual_now_; }

  // Replay hooks (see SimHub).
  using ClockSource = std::function<absl::Time(absl::Time deadline)>;
  using PassSource = std::function<bool(uint64_t callbacks_run)>;
  void set_clock_source(ClockSource source) { clock_source_ = std::move(source); }
  void set_pass_source(PassSource source) { pass_source_ = std::move(source); }
  // A replay's network (not owned; nullptr: the simulated one), and where
  // the readiness of its descriptors comes from: the I/O phase asks `source`
  // for one more ready descriptor at a time (HubBackend::MoreIoEvents), and
  // any descriptor may be watched.
  using IoSource = std::function<bool(std::vector<IoEvent>* ready)>;
  void set_replay_network(NetworkBackend* network, IoSource source) {
    replay_network_ = network;
    io_source_ = std::move(source);
    extends_io_batches_ = static_cast<bool>(io_source_);
  }
  bool MoreIoEvents(std::vector<IoEvent>* ready) override {
    return io_source_ && io_source_(ready);
  }
  // Where work from other threads is taken (HubBackend::ForeignWorkDue):
  // `due` answers; `missing` hears that the work due did not come.
  using ForeignSource = std::function<int64_t()>;
  using ForeignMissing = std::function<bool(uint64_t tag, int64_t waited_ns)>;
  void set_foreign_source(ForeignSource due, ForeignMissing missing) {
    foreign_due_ = std::move(due);
    foreign_missing_ = std::move(missing);
  }
  int64_t ForeignWorkDue() override { return foreign_due_ ? foreign_due_() : -1; }
  bool AwaitForeignWorkFor(int64_t ns) override;
  bool ForeignWorkMissing(uint64_t tag, int64_t waited_ns) override {
    return !foreign_missing_ || foreign_missing_(tag, waited_ns);
  }

 private:
  // Moves the virtual clock for a wait until `deadline` (the replay clock
  // source, a pending signal, or work on other threads may say otherwise).
  void MoveClock(int64_t deadline);

  Hub* hub_ = nullptr;
  std::unique_ptr<class Network> network_;
  // file:line of each buggify() point reached -> on for this run.
  std::map<std::pair<std::string, int>, bool> buggify_points_;
  ClockSource clock_source_;
  PassSource pass_source_;
  NetworkBackend* replay_network_ = nullptr;
  IoSource io_source_;
  ForeignSource foreign_due_;
  ForeignMissing foreign_missing_;
  const int64_t epoch_ns_;
  int64_t virtual_now_;  // ns (runtime/nanos.h)
  // Cross-thread wake-ups are the one thing a simulation must really wait
  // for (work handed to other threads).
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  bool woken_ = false;
  bool warned_stuck_ = false;
  int internal_fd_ = -1;  // the hub's signalfd, polled before time jumps
};

}  // namespace sim
}  // namespace gevent

#endif  // GEVENTPP_SIM_SIM_BACKEND_H_
