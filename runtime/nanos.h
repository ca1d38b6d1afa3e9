// Time as int64 nanoseconds: the hub's clock, its backend seam
// (HubBackend::NowNs) and its events (HubEvent::time_ns), and the
// conversions to and from absl::Time / absl::Duration at the API boundary.
//
// The hub's clock, timer deadlines and the simulator's virtual clock are
// plain int64 nanoseconds (since the Unix epoch of absl::Time, whatever the
// clock's own epoch): comparing and adding them is one instruction, where
// absl::Time arithmetic costs a call into libabsl_time. The infinite values
// saturate to kNanosPast / kNanosFuture.
#ifndef GEVENTPP_RUNTIME_NANOS_H_
#define GEVENTPP_RUNTIME_NANOS_H_

#include <cstdint>
#include <limits>

#include "absl/time/time.h"

namespace gevent {

constexpr int64_t kNanosPast = std::numeric_limits<int64_t>::min();
constexpr int64_t kNanosFuture = std::numeric_limits<int64_t>::max();

// `d` in whole nanoseconds (rounded toward negative infinity), saturating
// at kNanosPast / kNanosFuture (infinite durations included).
inline int64_t ToNanos(absl::Duration d) {
  // absl's representation: whole seconds (hi) and quarter-nanosecond ticks
  // (lo, < 4e9). Read through absl's own accessors, declared in time.h.
  const int64_t hi = absl::time_internal::GetRepHi(d);
  const uint32_t lo = absl::time_internal::GetRepLo(d);
  if (lo == ~uint32_t{0}) return hi < 0 ? kNanosPast : kNanosFuture;  // inf
  constexpr int64_t kMaxSeconds = kNanosFuture / 1000000000 - 1;
  if (hi > kMaxSeconds) return kNanosFuture;
  if (hi < -kMaxSeconds) return kNanosPast;
  return hi * 1000000000 + static_cast<int64_t>(lo / 4);
}

inline int64_t ToNanos(absl::Time t) { return ToNanos(t - absl::UnixEpoch()); }

inline absl::Duration DurationFromNanos(int64_t ns) {
  if (ns == kNanosFuture) return absl::InfiniteDuration();
  if (ns == kNanosPast) return -absl::InfiniteDuration();
  return absl::Nanoseconds(ns);
}

inline absl::Time TimeFromNanos(int64_t ns) {
  if (ns == kNanosFuture) return absl::InfiniteFuture();
  if (ns == kNanosPast) return absl::InfinitePast();
  return absl::FromUnixNanos(ns);
}

// a + b, saturating (b >= 0).
inline int64_t AddNanos(int64_t a, int64_t b) {
  return a > kNanosFuture - b ? kNanosFuture : a + b;
}

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_NANOS_H_
