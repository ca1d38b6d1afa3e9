// SimHub: a hub on the simulated backend, with the seeded scheduling policy.
//
// A SimHub is an ordinary Hub configured with the two simulator parts:
//  - SimBackend (sim_backend.h): the virtual clock, which jumps to the next
//    deadline when nothing can run;
//  - SeededPolicy (seeded_policy.h): where a real machine leaves the order
//    open, a SplitMix64 generator seeded by the seed decides. Seed 0
//    perturbs nothing.
// It turns the hub's event hash on (equal hashes mean equal schedules), and
// adds the replay hooks traces/ uses. A schedule explorer may install its
// own policy with Hub::set_scheduling_policy; the backend stays the same.
#ifndef GEVENTPP_SIM_SIM_HUB_H_
#define GEVENTPP_SIM_SIM_HUB_H_

#include <cstdint>
#include <functional>

#include "absl/time/time.h"
#include "runtime/hub.h"
#include "sim/seeded_policy.h"
#include "sim/sim_backend.h"

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
  static constexpr uint64_t kBusyPassCallbacks = SimBackend::kBusyPassCallbacks;
  explicit SimHub(SimOptions options = {});
  ~SimHub() override;

  uint64_t seed() const { return options_.seed; }
  const SimOptions& options() const { return options_; }
  // Virtual time elapsed since the epoch.
  absl::Duration elapsed() const {
    return absl::Nanoseconds(clock_->now_ns() - clock_->epoch_ns());
  }
  // A hash of every scheduling event so far (spawns, switches, timers,
  // decisions, time jumps...): equal hashes mean equal schedules
  // (runtime/event_digest.h).
  uint64_t event_hash() const { return digest_.hash(); }
  // Events seen so far (timer starts excluded).
  uint64_t event_count() const { return digest_.count(); }
  // Decisions the seeded policy took so far.
  uint64_t decision_count() const { return seeded_.decision_count(); }
  SeededPolicy& seeded_policy() { return seeded_; }

  // Replay hooks (used by traces/). With a decision source, every decision
  // is taken from it instead of the seeded generator (jitter only when the
  // seed is not 0, as when recording). With a clock source, each time the
  // loop would jump to `deadline` it asks the source where the clock goes
  // instead (never backwards).
  using DecisionSource = SeededPolicy::DecisionSource;
  using ClockSource = SimBackend::ClockSource;
  void set_decision_source(DecisionSource source);
  void set_clock_source(ClockSource source) {
    clock_->set_clock_source(std::move(source));
  }
  // With a lateness source, each timer start asks it how much later than the
  // loop time the clock read (the drift an epoll trace recorded); that is
  // added to the deadline, before any jitter. Negative counts as zero.
  using LatenessSource = SeededPolicy::LatenessSource;
  void set_lateness_source(LatenessSource source);
  // With a pass source, the source decides where a long pass of the callback
  // FIFO ends (every 256 callbacks: true ends it) instead of the
  // kBusyPassCallbacks rule, and the clock does not move by itself (an
  // epoll trace records where its loop ended each pass).
  using PassSource = SimBackend::PassSource;
  void set_pass_source(PassSource source) {
    clock_->set_pass_source(std::move(source));
  }
  // With a replay network, sockets get their results from it instead of
  // the simulated network, and the readiness of their descriptors from
  // `source` (SimBackend::set_replay_network). Not owned.
  using IoSource = SimBackend::IoSource;
  void set_replay_network(NetworkBackend* network, IoSource source) {
    clock_->set_replay_network(network, std::move(source));
  }
  // With a foreign source, work from other threads is taken where `due`
  // says, at the top of each loop iteration (HubBackend::ForeignWorkDue:
  // -1 the simulator's own rule, 0 none, n the callback tagged n - 1,
  // waiting for it in real time), as an epoll trace recorded; `missing`
  // hears that it has not come (HubBackend::ForeignWorkMissing: true gives
  // up).
  using ForeignSource = SimBackend::ForeignSource;
  using ForeignMissing = SimBackend::ForeignMissing;
  void set_foreign_source(ForeignSource due, ForeignMissing missing) {
    set_replays_foreign_work(static_cast<bool>(due));
    clock_->set_foreign_source(std::move(due), std::move(missing));
  }

 private:
  SimOptions options_;
  SimBackend* const clock_;  // the hub's backend
  SeededPolicy seeded_;
  EventDigest digest_;  // installed as the hub's event digest
};

}  // namespace sim
}  // namespace gevent

#endif  // GEVENTPP_SIM_SIM_HUB_H_
