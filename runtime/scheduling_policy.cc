#include "runtime/scheduling_policy.h"

namespace gevent {

const char* DecisionName(Decision d) {
  switch (d) {
    case Decision::kTimerTie:
      return "timer-tie";
    case Decision::kTimerJitter:
      return "timer-jitter";
    case Decision::kIoOrder:
      return "io-order";
    case Decision::kWakeupOrder:
      return "wakeup-order";
  }
  return "?";
}

}  // namespace gevent
