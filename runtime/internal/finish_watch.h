// FinishWatch: "wake me when any greenlet of this hub finishes". Raw
// greenlets have no links, so this is how killall() waits for the raw
// greenlets it killed. The hub unlinks every armed watch when a greenlet
// finishes and queues each one's callback (safe from wherever the finish is
// noticed); the waiter checks its greenlets again and re-arms.
#ifndef GEVENTPP_RUNTIME_INTERNAL_FINISH_WATCH_H_
#define GEVENTPP_RUNTIME_INTERNAL_FINISH_WATCH_H_

#include "runtime/hub.h"
#include "runtime/internal/intrusive_list.h"

namespace gevent {
namespace internal {

struct FinishWatch : ListNode {
  FinishWatch(Hub* h, Callback* on_finish) : hub(h), woken(on_finish) {}
  ~FinishWatch() { Disarm(); }
  FinishWatch(const FinishWatch&) = delete;
  FinishWatch& operator=(const FinishWatch&) = delete;
  void Arm() {
    if (!linked()) hub->finish_watches_.push_back(this);
  }
  void Disarm() {
    if (linked()) hub->finish_watches_.remove(this);
  }
  Hub* hub;
  Callback* woken;
};

}  // namespace internal
}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_INTERNAL_FINISH_WATCH_H_
