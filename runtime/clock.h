// now(): the time as the current greenlet's machine sees it.
//
// On the epoll hub it is the hub's clock (Hub::now()). On the simulator each
// simulated host (sim/network.h) may have a clock skew
// (Network::set_clock_skew): now() on that host reads the virtual clock
// plus its skew, as a machine whose clock is off would. Timers and sleeps
// are not skewed: a duration is the same on every host.
#ifndef GEVENTPP_RUNTIME_CLOCK_H_
#define GEVENTPP_RUNTIME_CLOCK_H_

#include "absl/time/time.h"
#include "runtime/hub.h"
#include "runtime/hub_backend.h"
#include "runtime/nanos.h"
#include "runtime/raw_greenlet.h"

namespace gevent {

inline absl::Time now() {
  Hub* hub = get_hub();
  const absl::Time t = hub->now();
  const int64_t skew = hub->backend().ClockSkewNs(hub->current()->host());
  return skew == 0 ? t : t + absl::Nanoseconds(skew);
}

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_CLOCK_H_
