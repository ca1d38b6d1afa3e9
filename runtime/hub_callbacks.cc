// The hub's callback FIFO: run_callback, cancel, owned callbacks, the
// thread-safe queue, and the loop's callback phase.
#include "runtime/hub.h"

#include <algorithm>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

#include "runtime/internal/hub_check.h"
#include "runtime/internal/hub_inline.h"

namespace gevent {

using internal::HubShutdown;

void Hub::cancel(Callback* cb) {
  if (cb->hub_ == nullptr) return;
  callbacks_.remove(cb);
  cb->hub_ = nullptr;
}

struct OwnedCallbackState : Callback {
  OwnedCallbackState() : Callback(&Run, &Discard) {}
  static void Run(Callback* cb) {
    auto* s = static_cast<OwnedCallbackState*>(cb);
    std::shared_ptr<OwnedCallbackState> keep = std::move(s->self);
    std::function<void()> fn = std::move(s->fn);
    try {
      fn();
    } catch (const HubShutdown&) {
      throw;
    } catch (...) {
      s->hub->handle_error(nullptr, std::current_exception());
    }
  }
  static void Discard(Callback* cb) {
    static_cast<OwnedCallbackState*>(cb)->self.reset();
  }
  Hub* hub = nullptr;
  std::function<void()> fn;
  std::shared_ptr<OwnedCallbackState> self;
};

bool Hub::CallbackHandle::pending() const {
  auto s = state_.lock();
  return s != nullptr && s->pending();
}

void Hub::CallbackHandle::stop() {
  if (auto s = state_.lock()) {
    if (s->pending()) {
      s->hub->cancel(s.get());
      s->self.reset();
    }
  }
}

Hub::CallbackHandle Hub::run_callback(std::function<void()> fn) {
  if (!fn) throw std::invalid_argument("run_callback: the function is empty");
  auto s = std::make_shared<OwnedCallbackState>();
  s->hub = this;
  s->fn = std::move(fn);
  s->self = s;
  run_callback(s.get());
  CallbackHandle h;
  h.state_ = s;
  return h;
}

void Hub::run_callback_threadsafe(std::function<void()> fn) {
  run_callback_threadsafe(std::move(fn), 0);
}

void Hub::run_callback_threadsafe(std::function<void()> fn, uint64_t tag) {
  if (!fn) {
    throw std::invalid_argument(
        "run_callback_threadsafe: the function is empty");
  }
  threadsafe_pending_.fetch_add(1, std::memory_order_acq_rel);
  {
    std::lock_guard<std::mutex> lock(threadsafe_mu_);
    threadsafe_.push_back({std::move(fn), tag});
  }
  backend_->Wakeup();
}

uint64_t Hub::next_foreign_tag() {
  internal::CheckOwnHub(this, "Hub", "next_foreign_tag");
  const uint64_t tag = ++foreign_tags_;
  if (ABSL_PREDICT_FALSE(replays_foreign_)) outstanding_tags_.insert(tag);
  return tag;
}

void Hub::DrainThreadsafe() {
  if (threadsafe_pending_.load(std::memory_order_acquire) == 0) return;
  std::vector<ForeignCallback> batch;
  {
    std::lock_guard<std::mutex> lock(threadsafe_mu_);
    batch.swap(threadsafe_);
  }
  if (perturbs() && batch.size() > 1) {
    for (size_t i = 0; i + 1 < batch.size(); ++i) {
      size_t pick = i + Decide(Decision::kWakeupOrder, batch.size() - i);
      std::swap(batch[i], batch[pick]);
    }
  }
  for (auto& cb : batch) {
    Emit(HubEventKind::kForeignWork, 0, static_cast<int64_t>(cb.tag));
    run_callback(std::move(cb.fn));
  }
  threadsafe_pending_.fetch_sub(static_cast<int64_t>(batch.size()),
                                std::memory_order_acq_rel);
}

bool Hub::TakeForeignCallback(uint64_t tag) {
  ForeignCallback taken;
  {
    std::lock_guard<std::mutex> lock(threadsafe_mu_);
    auto it = std::find_if(threadsafe_.begin(), threadsafe_.end(),
                           [tag](const ForeignCallback& c) { return c.tag == tag; });
    if (it == threadsafe_.end()) return false;
    taken = std::move(*it);
    threadsafe_.erase(it);
  }
  outstanding_tags_.erase(tag);
  Emit(HubEventKind::kForeignWork, 0, static_cast<int64_t>(tag));
  run_callback(std::move(taken.fn));
  threadsafe_pending_.fetch_sub(1, std::memory_order_acq_rel);
  return true;
}

void Hub::RunCallbacks() {
  if (callbacks_.empty()) return;
  const int64_t pass_start = now_ns_ = backend_->NowNs();
  pass_count_ = 0;
  while (Callback* cb = callbacks_.pop_front()) {
    cb->hub_ = nullptr;
    if (observing_ && cb != &continuation_) Emit(HubEventKind::kCallback);
    CallWatcher([cb] { cb->fn_(cb); });
    if ((++pass_count_ & 255) == 0 && !callbacks_.empty() &&
        backend_->CallbackPassOver(pass_start, pass_count_,
                                   ToNanos(switch_interval_), &now_ns_)) {
      // A busy loop moves a virtual clock too: work from other threads is
      // taken (or waited for) at that point, or it would never come in.
      if (ABSL_PREDICT_FALSE(defers_foreign_) && !foreign_by_replay_) TakeForeignWork();
      break;
    }
  }
}

}  // namespace gevent
