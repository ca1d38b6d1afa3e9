// ExplorePolicy: the scheduling policies a schedule explorer drives
// (testing/explore.h), with a log of every decision taken.
//
// Each run of an exploration gets a fresh policy, a pure function of its
// seed and strategy, so a seed and a strategy name reproduce a schedule:
//   - kRandom: every open choice uniform (what SeededPolicy does);
//   - kPct: probabilistic concurrency testing (Burckhardt et al., ASPLOS
//     2010), adapted to a cooperative runtime: each greenlet gets a random
//     priority when it first owns an option; a tie goes to the option whose
//     owner has the highest priority; at depth - 1 change points, drawn
//     among the run's contested decisions, the owner that would win drops
//     below every other. A demoted greenlet's timers also fire as late as
//     the jitter bound allows. Finds a bug that needs d orderings with
//     probability at least 1/(n k^(d-1)) a run (n greenlets, k decisions);
//   - kScripted: the picks of a given list, in order, and the default (0)
//     past its end or where the list's decision kind differs (shrinking).
// Swarm testing (each run its own jitter bound and perturbed kinds) is a
// kRandom policy with a per-run `perturbed` mask and jitter bound.
//
// The hub asks the same decision points as sim::SeededPolicy with the same
// jitter bound (ties, I/O and wake-up order always; jitter at every timer
// start when the bound is not 0), so a trace recorded under any of these
// replays with trace::Replay.
#ifndef GEVENTPP_SIM_EXPLORE_POLICY_H_
#define GEVENTPP_SIM_EXPLORE_POLICY_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "runtime/hub.h"
#include "runtime/scheduling_policy.h"
#include "sim/random.h"

namespace gevent {
namespace sim {

// One decision as it was taken.
struct DecisionRecord {
  Decision kind;
  uint32_t options;
  uint32_t pick;
  int64_t time_ns;          // the hub's loop time
  uint64_t greenlet = 0;    // the running greenlet (0: the hub, main)
  uint64_t owner = 0;       // the picked option's owner, if known
  uint64_t default_owner = 0;  // option 0's owner, if known
  uint32_t from_host = 0;      // the network's decisions: the message's
  uint32_t to_host = 0;        // sender and receiver
};

class ExplorePolicy final : public SchedulingPolicy {
 public:
  enum class Mode { kRandom, kPct, kScripted };
  // Bit i of `perturbed`: Decision i may deviate from the default order.
  static constexpr uint32_t kAllKinds = (1u << kDecisionKinds) - 1;

  struct Config {
    Mode mode = Mode::kRandom;
    uint64_t seed = 1;
    absl::Duration max_jitter = absl::Milliseconds(3);
    uint32_t perturbed = kAllKinds;
    // kPct: the bug depth d (>= 1), and how many contested decisions a run
    // is expected to take (where the d - 1 change points are drawn).
    int depth = 3;
    uint64_t expected_steps = 64;
    // kScripted: the picks, in decision order.
    std::vector<DecisionRecord> script;
  };

  ExplorePolicy(Hub* hub, Config config);

  size_t Choose(const DecisionPoint& point) override;
  bool perturbs() const override { return true; }
  bool delays_timers() const override { return max_jitter_us_ > 0; }
  int64_t TimerLatenessNs(Hub& hub) override;

  const Config& config() const { return config_; }
  // Every decision taken, in order.
  const std::vector<DecisionRecord>& log() const { return log_; }
  // Decisions with at least 2 options that are not jitter (PCT's steps).
  uint64_t contested_steps() const { return steps_; }

 private:
  size_t ChooseRandom(const DecisionPoint& point);
  size_t ChoosePct(const DecisionPoint& point);
  size_t ChooseScripted(const DecisionPoint& point);
  uint64_t PriorityOf(uint64_t owner);

  Hub* const hub_;
  const Config config_;
  const int64_t max_jitter_us_;
  SplitMix64 rng_;
  std::vector<DecisionRecord> log_;
  uint64_t steps_ = 0;
  // kPct: priorities (higher runs first); change points as step numbers.
  absl::flat_hash_map<uint64_t, uint64_t> priority_;
  std::vector<uint64_t> change_points_;
  uint64_t demoted_ = 0;  // how many owners were demoted so far
};

// "timer-tie", ... as in the strategy names of a swarm run's description.
std::string DescribePerturbed(uint32_t perturbed);

}  // namespace sim
}  // namespace gevent

#endif  // GEVENTPP_SIM_EXPLORE_POLICY_H_
