#include "sim/explore_policy.h"

#include <algorithm>
#include <utility>

#include "runtime/nanos.h"
#include "runtime/raw_greenlet.h"

namespace gevent {
namespace sim {

ExplorePolicy::ExplorePolicy(Hub* hub, Config config)
    : hub_(hub),
      config_(std::move(config)),
      max_jitter_us_(config_.max_jitter <= absl::ZeroDuration() ||
                             (config_.perturbed &
                              (1u << static_cast<unsigned>(Decision::kTimerJitter))) == 0
                         ? 0
                         : absl::ToInt64Microseconds(config_.max_jitter)),
      rng_(config_.seed) {
  if (config_.mode == Mode::kPct) {
    // d - 1 distinct change points among steps 1..k.
    const uint64_t k = std::max<uint64_t>(config_.expected_steps, 1);
    const auto wanted = static_cast<uint64_t>(std::max(config_.depth - 1, 0));
    while (change_points_.size() < std::min(wanted, k)) {
      const uint64_t step = 1 + rng_.Below(k);
      if (std::find(change_points_.begin(), change_points_.end(), step) ==
          change_points_.end()) {
        change_points_.push_back(step);
      }
    }
  }
}

int64_t ExplorePolicy::TimerLatenessNs(Hub& hub) {
  if (max_jitter_us_ <= 0) return 0;
  const size_t us = hub.Decide(Decision::kTimerJitter, static_cast<size_t>(max_jitter_us_) + 1);
  return static_cast<int64_t>(us) * 1000;
}

size_t ExplorePolicy::Choose(const DecisionPoint& point) {
  const bool jitter = point.kind == Decision::kTimerJitter;
  if (!jitter) ++steps_;
  size_t pick = 0;
  if ((config_.perturbed & (1u << static_cast<unsigned>(point.kind))) != 0 ||
      config_.mode == Mode::kScripted) {
    switch (config_.mode) {
      case Mode::kRandom:
        pick = ChooseRandom(point);
        break;
      case Mode::kPct:
        pick = ChoosePct(point);
        break;
      case Mode::kScripted:
        pick = ChooseScripted(point);
        break;
    }
  }
  if (pick >= point.options) pick = point.options - 1;
  DecisionRecord r{point.kind, static_cast<uint32_t>(point.options),
                   static_cast<uint32_t>(pick), ToNanos(hub_->loop_time())};
  r.greenlet = hub_->current()->id();
  r.from_host = point.from_host;
  r.to_host = point.to_host;
  if (point.owners != nullptr) {
    r.owner = point.owners[jitter ? 0 : pick];
    r.default_owner = point.owners[0];
  }
  log_.push_back(r);
  return pick;
}

size_t ExplorePolicy::ChooseRandom(const DecisionPoint& point) {
  return static_cast<size_t>(rng_.Below(point.options));
}

uint64_t ExplorePolicy::PriorityOf(uint64_t owner) {
  auto it = priority_.find(owner);
  if (it != priority_.end()) return it->second;
  // Above every demoted priority (1 .. depth - 1); distinct with high
  // probability.
  const uint64_t p = static_cast<uint64_t>(config_.depth) + 1 + rng_.Below(uint64_t{1} << 40);
  priority_.emplace(owner, p);
  return p;
}

size_t ExplorePolicy::ChoosePct(const DecisionPoint& point) {
  if (point.kind == Decision::kTimerJitter) {
    // A demoted greenlet's timers come as late as allowed.
    const uint64_t owner = point.owners != nullptr ? point.owners[0] : 0;
    return PriorityOf(owner) <= static_cast<uint64_t>(config_.depth) ? point.options - 1 : 0;
  }
  if (point.owners == nullptr) return ChooseRandom(point);
  auto best = [&] {
    size_t b = 0;
    uint64_t bp = PriorityOf(point.owners[0]);
    for (size_t i = 1; i < point.options; ++i) {
      const uint64_t p = PriorityOf(point.owners[i]);
      if (p > bp) {
        bp = p;
        b = i;
      }
    }
    return b;
  };
  size_t pick = best();
  if (std::find(change_points_.begin(), change_points_.end(), steps_) != change_points_.end()) {
    priority_[point.owners[pick]] = ++demoted_;
    pick = best();
  }
  return pick;
}

size_t ExplorePolicy::ChooseScripted(const DecisionPoint& point) {
  const size_t i = log_.size();
  if (i >= config_.script.size()) return 0;
  const DecisionRecord& want = config_.script[i];
  if (want.kind != point.kind || want.options != point.options) return 0;
  return want.pick;
}

std::string DescribePerturbed(uint32_t perturbed) {
  std::string out;
  for (unsigned k = 0; k < static_cast<unsigned>(kDecisionKinds); ++k) {
    if ((perturbed & (1u << k)) == 0) continue;
    if (!out.empty()) out += ",";
    out += DecisionName(static_cast<Decision>(k));
  }
  return out.empty() ? "none" : out;
}

}  // namespace sim
}  // namespace gevent
