#include "sim/seeded_policy.h"

#include <algorithm>

#include "runtime/hub.h"
#include "runtime/nanos.h"

namespace gevent {
namespace sim {

SeededPolicy::SeededPolicy(uint64_t seed, absl::Duration max_jitter)
    : seed_(seed),
      max_jitter_us_(seed == 0 || max_jitter <= absl::ZeroDuration()
                         ? 0
                         : absl::ToInt64Microseconds(max_jitter)),
      rng_(seed) {}

size_t SeededPolicy::Choose(const DecisionPoint& point) {
  const size_t n = point.options;
  if (decision_source_) {
    ++decisions_;
    return decision_source_(point.kind, n);
  }
  if (seed_ == 0 || n < 2) return 0;
  ++decisions_;
  return static_cast<size_t>(rng_.Below(n));
}

int64_t SeededPolicy::TimerLatenessNs(Hub& hub) {
  int64_t extra = 0;
  if (lateness_source_) {
    extra = std::max<int64_t>(0, ToNanos(lateness_source_()));
  }
  if (max_jitter_us_ <= 0) return extra;
  const size_t us =
      hub.Decide(Decision::kTimerJitter, static_cast<size_t>(max_jitter_us_) + 1);
  return AddNanos(extra, static_cast<int64_t>(us) * 1000);
}

}  // namespace sim
}  // namespace gevent
