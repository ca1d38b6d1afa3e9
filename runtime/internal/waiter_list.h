// WaiterList: the greenlets waiting on a primitive (Semaphore, Queue), safe
// against the primitive being destroyed while they wait.
//
// A waiter (a node on the waiting greenlet's stack) is in `waiting` until
// the primitive serves it (hands it a permit or an item), then in `served`
// until its greenlet runs again and leaves. When the primitive is destroyed
// with waiters in either list, they are detached: the greenlets' own
// clean-up (killed, timed out, or woken by a pending hand-over) touches
// nothing of the primitive, and a waiter that was never served gets a
// clear error instead of a wrong result.
#ifndef GEVENTPP_RUNTIME_INTERNAL_WAITER_LIST_H_
#define GEVENTPP_RUNTIME_INTERNAL_WAITER_LIST_H_

#include <cstddef>
#include <stdexcept>
#include <string>

#include "runtime/internal/intrusive_list.h"
#include "runtime/raw_greenlet.h"

namespace gevent {
namespace internal {

// What a waiter node carries for its list (W derives from it).
struct ListedWaiter : ListNode {
  bool served = false;    // in `served`, or was
  bool detached = false;  // its primitive is gone
};

template <typename W>
class WaiterList {
 public:
  WaiterList() = default;
  WaiterList(const WaiterList&) = delete;
  WaiterList& operator=(const WaiterList&) = delete;
  ~WaiterList() { DetachAll(); }

  bool empty() const { return waiting_.empty(); }
  size_t size() const { return waiting_.size(); }
  void Wait(W* w) { waiting_.push_back(w); }
  // The longest waiter, now served (or nullptr).
  W* Serve() {
    W* w = waiting_.pop_front();
    if (w != nullptr) {
      w->served = true;
      served_.push_back(w);
    }
    return w;
  }
  // The waiter's greenlet stops waiting (however it ends).
  void Leave(W* w) {
    if (w->detached || !w->linked()) return;
    (w->served ? served_ : waiting_).remove(w);
  }
  void DetachAll() {
    DetachAll([](W*) {});
  }
  // Also calls `each(w)` for every waiter detached.
  template <typename F>
  void DetachAll(F each) {
    while (W* w = waiting_.pop_front()) {
      w->detached = true;
      each(w);
    }
    while (W* w = served_.pop_front()) {
      w->detached = true;
      each(w);
    }
  }

 private:
  IntrusiveList<W> waiting_;
  IntrusiveList<W> served_;
};

// The error a waiter gets when its primitive was destroyed while it waited
// and it resumes unserved (a timeout).
[[noreturn]] inline void ThrowDestroyedWhileWaiting(const char* what) {
  throw std::logic_error(std::string(what) +
                         ": the object was destroyed while greenlet '" + getcurrent()->name() +
                         "' waited on it");
}

}  // namespace internal
}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_INTERNAL_WAITER_LIST_H_
