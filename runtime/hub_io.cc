// The hub's I/O readiness watchers and the loop's I/O phase.
#include "runtime/hub.h"

#include <stdexcept>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"

namespace gevent {

// ---- I/O

uint32_t Hub::MaskOf(const FdWatchers& f) const {
  uint32_t mask = 0;
  f.watchers.for_each([&](IoWatcher* w) { mask |= w->events_; });
  return mask;
}

void Hub::start(IoWatcher* w, bool ref) {
  if (w->hub_ != nullptr) stop(w);
  if (w->fd_ < 0) {
    throw std::invalid_argument(
        absl::StrCat("cannot watch file descriptor ", w->fd_));
  }
  FdWatchers& f = fds_[w->fd_];
  uint32_t old_mask = f.mask;
  f.watchers.push_back(w);
  f.mask = old_mask | w->events_;
  w->hub_ = this;
  w->ref_ = ref;
  // Not eligible for an event that is being dispatched right now: readiness
  // seen before the watcher existed may be stale.
  w->round_ = io_round_;
  if (ref) ++ref_io_;
  if (f.mask != old_mask) {
    try {
      backend_->UpdateInterest(w->fd_, old_mask, f.mask);
    } catch (...) {
      f.watchers.remove(w);
      f.mask = old_mask;
      w->hub_ = nullptr;
      if (ref) --ref_io_;
      if (f.watchers.empty()) fds_.erase(w->fd_);
      throw;
    }
  }
}

void Hub::stop(IoWatcher* w) {
  if (w->hub_ == nullptr) return;
  auto it = fds_.find(w->fd_);
  FdWatchers& f = it->second;
  f.watchers.remove(w);
  w->hub_ = nullptr;
  if (w->ref_) --ref_io_;
  const uint32_t old_mask = f.mask;
  const uint32_t new_mask = MaskOf(f);
  const int fd = w->fd_;
  f.mask = new_mask;
  if (f.watchers.empty()) fds_.erase(it);
  if (new_mask != old_mask) {
    try {
      backend_->UpdateInterest(fd, old_mask, new_mask);
    } catch (...) {
      // Dropping interest in a descriptor that was closed is not an error.
    }
  }
}

// Several descriptors ready at once: the scheduling policy orders them.
inline void Hub::ShuffleIfPerturbed(std::vector<HubBackend::IoEvent>* ready) {
  if (perturbs() && ready->size() > 1) {
    for (size_t i = 0; i + 1 < ready->size(); ++i) {
      size_t pick = i + Decide(Decision::kIoOrder, ready->size() - i);
      std::swap((*ready)[i], (*ready)[pick]);
    }
  }
}

// Runs each ready descriptor's watchers once for this round (a watcher
// that is stopped or added while the round runs is seen as it is then).
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void Hub::DispatchReady(
    const std::vector<HubBackend::IoEvent>& ready) {
  const uint64_t round = ++io_round_;
  for (const HubBackend::IoEvent& ev : ready) {
    for (;;) {
      auto it = fds_.find(ev.fd);
      if (it == fds_.end()) break;
      IoWatcher* next = nullptr;
      it->second.watchers.for_each([&](IoWatcher* w) {
        if (next == nullptr && w->round_ != round && (w->events_ & ev.revents)) next = w;
      });
      if (next == nullptr) break;
      next->round_ = round;
      if (observing_) EmitIo(ev.fd, ev.revents & (IoWatcher::kRead | IoWatcher::kWrite));
      const uint32_t revents = ev.revents & next->events_;
      CallWatcher([next, revents] { next->fn_(next, revents); });
    }
  }
}

bool Hub::DispatchIo() {
  if (ABSL_PREDICT_FALSE(backend_->extends_io_batches())) return DispatchIoBatches();
  if (io_ready_.empty()) return false;
  std::vector<HubBackend::IoEvent> ready;
  ready.swap(io_ready_);
  ShuffleIfPerturbed(&ready);
  DispatchReady(ready);
  // The vector's memory goes back for the next wait.
  io_ready_.swap(ready);
  io_ready_.clear();
  return true;
}

// A replay's backend hands out the recorded batch one descriptor at a time
// (HubBackend::MoreIoEvents), so that a replayed batch is the recorded one
// however the greenlets it wakes behave.
bool Hub::DispatchIoBatches() {
  std::vector<HubBackend::IoEvent> ready;
  ready.swap(io_ready_);
  if (ready.empty() && !backend_->MoreIoEvents(&ready)) {
    io_ready_.swap(ready);
    return false;
  }
  ShuffleIfPerturbed(&ready);
  do {
    DispatchReady(ready);
    ready.clear();
  } while (backend_->MoreIoEvents(&ready));
  io_ready_.swap(ready);
  io_ready_.clear();
  return true;
}

}  // namespace gevent
