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
    case Decision::kNetDelay:
      return "net-delay";
    case Decision::kNetSplit:
      return "net-split";
    case Decision::kNetLoss:
      return "net-loss";
    case Decision::kNetDuplicate:
      return "net-duplicate";
    case Decision::kBuggify:
      return "buggify";
  }
  return "?";
}

}  // namespace gevent
