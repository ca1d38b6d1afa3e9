// The scheduling policy: who decides the orders that the real world leaves
// open.
//
// A hub asks its policy at a few decision points (Decision below): which of
// several timers with the same deadline fires first, how late a timer
// fires, which of several ready descriptors or cross-thread wake-ups is
// delivered first. Orders that gevent promises (the callback FIFO, spawn
// order, sleep(0) round-robin, link order, FIFO wake-up of waiters) are
// never decision points.
//
// Every hub starts with the default order: deadline and FIFO order, no
// lateness, never asked. The simulator installs a seeded policy
// (sim/seeded_policy.h); a schedule explorer installs its own with
// Hub::set_scheduling_policy. Every decision taken is reported to the hub's
// observer (HubEventKind::kDecision), so traces record it and replay
// reproduces it.
#ifndef GEVENTPP_RUNTIME_SCHEDULING_POLICY_H_
#define GEVENTPP_RUNTIME_SCHEDULING_POLICY_H_

#include <cstddef>
#include <cstdint>

namespace gevent {

class Hub;

// The points where a policy may choose an order the real world leaves open.
enum class Decision : uint8_t {
  kTimerTie,     // which of several timers with the same deadline fires first
  kTimerJitter,  // how late (in whole microseconds) a timer fires
  kIoOrder,      // which of several ready file descriptors is delivered first
  kWakeupOrder,  // which of several cross-thread wake-ups is delivered first
  // The simulated network (sim/network.h) and buggify() (buggify.h):
  kNetDelay,     // how much later than its link's base latency a message lands (us)
  kNetSplit,     // into how many deliveries a stream send is cut (option + 1)
  kNetLoss,      // whether a datagram is lost (of 1000 options, the top
                 // `loss rate` per mille lose it; 0 delivers)
  kNetDuplicate, // whether a datagram arrives twice (as kNetLoss)
  kBuggify,      // whether a buggify() point is on (of 4 options, 3 is on)
};
// The number of Decision kinds.
inline constexpr int kDecisionKinds = 9;
// "timer-tie", "timer-jitter", "io-order", "wakeup-order", "net-delay",
// "net-split", "net-loss", "net-duplicate", "buggify".
const char* DecisionName(Decision d);

// One choice to make.
struct DecisionPoint {
  Decision kind;
  size_t options;  // n >= 2; option 0 is the default order
  // Per option, the id of the greenlet it belongs to (for a timer: the one
  // that started it; 0: none or unknown), or nullptr when the options have
  // no owners (I/O order, wake-up order). For kTimerJitter, owners[0] is
  // the greenlet starting the timer.
  const uint64_t* owners = nullptr;
  // For the network's decisions (kNet*): the sending and the receiving
  // host (sim/network.h host ids; 0 is the default host).
  uint32_t from_host = 0;
  uint32_t to_host = 0;
};

class SchedulingPolicy {
 public:
  virtual ~SchedulingPolicy() = default;
  // Chooses one of the point's options. 0 is the default order; a result
  // of `options` or more counts as the last option.
  virtual size_t Choose(const DecisionPoint& point) = 0;
  // True if the hub should ask at ties at all (timer ties, I/O order,
  // wake-up order); false skips that work. Read when the policy is set.
  virtual bool perturbs() const { return false; }
  // True if timers may fire late: TimerLatenessNs is then asked at every
  // timer start. Read when the policy is set.
  virtual bool delays_timers() const { return false; }
  // Extra lateness, in ns, for a timer being started on `hub` (by
  // hub.current()). A policy that decides it calls
  // hub.Decide(Decision::kTimerJitter, n), which asks Choose and reports the
  // decision.
  virtual int64_t TimerLatenessNs(Hub& hub) {
    (void)hub;
    return 0;
  }
};

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_SCHEDULING_POLICY_H_
