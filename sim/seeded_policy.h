// SeededPolicy: the simulator's scheduling policy, a pure function of a seed.
//
// Where a real machine leaves the order open (runtime/scheduling_policy.h),
// it decides with a SplitMix64 generator seeded by the seed: which of several
// timers with the same deadline fires first, how late a timer fires (up to
// `max_jitter`, in whole microseconds), the order of ready descriptors and of
// cross-thread wake-ups. Seed 0 perturbs nothing: strict deadline and FIFO
// order. Nothing here reads a real clock, real randomness, pointer values or
// hash-map order.
//
// For replay, a decision source can answer instead of the generator, and a
// lateness source can add a recorded drift to every timer start.
#ifndef GEVENTPP_SIM_SEEDED_POLICY_H_
#define GEVENTPP_SIM_SEEDED_POLICY_H_

#include <cstddef>
#include <cstdint>
#include <functional>

#include "absl/time/time.h"
#include "runtime/scheduling_policy.h"
#include "sim/random.h"

namespace gevent {
namespace sim {

class SeededPolicy final : public SchedulingPolicy {
 public:
  SeededPolicy(uint64_t seed, absl::Duration max_jitter);

  size_t Choose(const DecisionPoint& point) override;
  bool perturbs() const override { return seed_ != 0 || decision_source_ != nullptr; }
  bool delays_timers() const override {
    return lateness_source_ != nullptr || max_jitter_us_ > 0;
  }
  int64_t TimerLatenessNs(Hub& hub) override;

  uint64_t seed() const { return seed_; }
  // Decisions taken so far.
  uint64_t decision_count() const { return decisions_; }

  using DecisionSource = std::function<size_t(Decision d, size_t n)>;
  using LatenessSource = std::function<absl::Duration()>;
  void set_decision_source(DecisionSource source) {
    decision_source_ = std::move(source);
  }
  void set_lateness_source(LatenessSource source) {
    lateness_source_ = std::move(source);
  }

 private:
  const uint64_t seed_;
  const int64_t max_jitter_us_;  // 0 with seed 0
  SplitMix64 rng_;
  uint64_t decisions_ = 0;
  DecisionSource decision_source_;
  LatenessSource lateness_source_;
};

}  // namespace sim
}  // namespace gevent

#endif  // GEVENTPP_SIM_SEEDED_POLICY_H_
