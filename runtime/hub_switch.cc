// Switching between greenlets: the hub greenlet, wait(), resume(), yield(),
// starting a greenlet. The inline parts every switch shares are in
// internal/hub_inline.h; the hand-off is in hand_off.cc.
#include "runtime/hub.h"

#include <memory>
#include <utility>

#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "runtime/exceptions.h"
#include "runtime/internal/finish_watch.h"
#include "runtime/internal/hub_inline.h"
#include "runtime/raw_greenlet.h"

namespace gevent {

namespace {

class HubGreenlet final : public RawGreenlet {
 public:
  explicit HubGreenlet(Hub* hub) : RawGreenlet(hub, Kind::kHub) {}

 protected:
  void Run() override {}  // the hub greenlet runs Hub::HubLoop instead
};

}  // namespace

// ---- switching

RawGreenlet* Hub::EnsureHubGreenletSlow() {
  if (hub_g_ != nullptr) return hub_g_;
  hub_greenlet_ = std::make_shared<HubGreenlet>(this);
  hub_greenlet_->name_ = "Hub";
  RawGreenlet* h = hub_greenlet_.get();
  h->stack_ = stacks_->Acquire();
  internal::MakeContext(&h->ctx_, h->stack_.base, h->stack_.usable(),
                        &RawGreenlet::Entry, h);
  h->state_ = RawGreenlet::State::kActive;
  hub_g_ = h;
  return h;
}


void Hub::track_runs(bool on) {
  if (on) {
    if (tracking_runs_++ == 0) {
      longest_run_ = absl::ZeroDuration();
      longest_runner_.clear();
      run_started_ = now();
    }
  } else if (tracking_runs_ > 0) {
    --tracking_runs_;
  }
}


void Hub::ReleaseFinished() {
  RawGreenlet* g = finished_;
  if (g == nullptr) return;
  finished_ = nullptr;
  stacks_->Release(g->stack_);
  // Keeps stack_.size: stack_size() still answers.
  g->stack_.base = nullptr;
  g->stack_.guard = nullptr;
  running_.remove(g);
  std::shared_ptr<RawGreenlet> self = std::move(g->self_);
  self.reset();  // may destroy the greenlet
  if (ABSL_PREDICT_FALSE(!finish_watches_.empty())) WakeFinishWatches();
}

void Hub::WakeFinishWatches() {
  while (internal::FinishWatch* w = finish_watches_.pop_front()) {
    if (!w->woken->pending()) run_callback(w->woken);
  }
}

void Hub::resume(RawGreenlet* g) {
  if (ABSL_PREDICT_TRUE(g->state_ == RawGreenlet::State::kActive)) {
    SwitchInto(g);
  } else {
    StartAndSwitchInto(g, nullptr);
  }
}

void Hub::resume(RawGreenlet* g, std::exception_ptr error) {
  if (error == nullptr && g->state_ == RawGreenlet::State::kActive) {
    SwitchInto(g);
    return;
  }
  StartAndSwitchInto(g, std::move(error));
}

void ResumeTimer::Fire(Timer* t) {
  auto* r = static_cast<ResumeTimer*>(t);
  r->owner_->ResumeFromTimer(r->g_);
}

void Hub::ResumeFromTimer(RawGreenlet* g) {
  if (g->waiting_on_ == nullptr) return;
  // The last thing the timer does: a hand-off may go on from `g`.
  if (g->state_ == RawGreenlet::State::kActive) {
    SwitchInto(g, /*tail=*/true);
  } else {
    resume(g);
  }
}

void Hub::YieldCallback::Fire(Callback* c) {
  auto* y = static_cast<YieldCallback*>(c);
  if (y->g->state_ == RawGreenlet::State::kActive) {
    y->hub->SwitchInto(y->g, /*tail=*/true);
  }
}

void Hub::yield() {
  RawGreenlet* g = current_;
  if (observing_) EmitSleep(g->id_, 0, true);
  // Checked by wait() too, but before queueing anything.
  if (ABSL_PREDICT_FALSE(g == hub_g_ || destroyed_)) wait("sleep(0)");
  YieldCallback resume_me(this, g);
  run_callback(&resume_me);
  wait("sleep(0)");
}

void Hub::StartAndSwitchInto(RawGreenlet* g, std::exception_ptr error) {
  if (g->state_ == RawGreenlet::State::kFinished) return;
  if (g->state_ == RawGreenlet::State::kNotRun) {
    if (error != nullptr) {
      // Throwing into a greenlet that never ran ends it without running.
      g->state_ = RawGreenlet::State::kFinished;
      return;
    }
    // stack_.size is 0 unless set_stack_size asked for a size.
    g->stack_ = ABSL_PREDICT_TRUE(g->stack_.size == 0)
                    ? stacks_->Acquire()
                    : stacks_->AcquireSized(g->stack_.size);
    internal::MakeContext(&g->ctx_, g->stack_.base, g->stack_.usable(),
                          &RawGreenlet::Entry, g);
    g->state_ = RawGreenlet::State::kActive;
    g->self_ = g->shared_from_this();
    running_.push_back(g);
  }
  g->resume_error_ = std::move(error);
  SwitchInto(g);
}

}  // namespace gevent
