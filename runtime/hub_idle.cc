// The hub's idle watchers and the loop's idle phase.
#include "runtime/hub.h"

namespace gevent {

// ---- idle

void Hub::start(IdleWatcher* w) {
  if (w->hub_ != nullptr) return;
  w->hub_ = this;
  idle_.push_back(w);
}

void Hub::stop(IdleWatcher* w) {
  if (w->hub_ == nullptr) return;
  if (w->linked()) {
    // It is in idle_ or idle_firing_; try the firing list first.
    bool in_firing = false;
    idle_firing_.for_each([&](IdleWatcher* x) { in_firing |= (x == w); });
    (in_firing ? idle_firing_ : idle_).remove(w);
  }
  w->hub_ = nullptr;
}

void Hub::RunIdle() {
  if (idle_.empty()) return;
  int best = idle_.front()->priority_;
  idle_.for_each([&](IdleWatcher* w) {
    if (w->priority_ > best) best = w->priority_;
  });
  idle_.for_each([&](IdleWatcher* w) {
    if (w->priority_ == best) {
      idle_.remove(w);
      idle_firing_.push_back(w);
    }
  });
  if (observing_) Emit(HubEventKind::kIdle);
  while (IdleWatcher* w = idle_firing_.pop_front()) {
    w->hub_ = nullptr;
    CallWatcher([w] { w->fn_(w); });
  }
}

}  // namespace gevent
