// The hub's loop and lifecycle: construction, one iteration as a list of
// phases (RunOnce), errors, the deadlock report, destroy. Each phase's
// watchers live in their own file: hub_callbacks.cc, hub_timers.cc,
// hub_io.cc, hub_idle.cc, hub_signals.cc; switching in hub_switch.cc, the
// hand-off in hand_off.cc, the thread's hub in hub_registry.cc.
#include "runtime/hub.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/exceptions.h"
#include "runtime/internal/error_text.h"
#include "runtime/internal/hub_inline.h"
#include "runtime/internal/overflow_guard.h"
#include "runtime/raw_greenlet.h"

namespace gevent {

namespace {

std::atomic<uint64_t> g_next_hub_id{1};

using internal::HubShutdown;

// The order every hub starts with: deadline and FIFO order, never asked.
class DefaultOrder final : public SchedulingPolicy {
 public:
  size_t Choose(const DecisionPoint& point) override {
    (void)point;
    return 0;
  }
};

SchedulingPolicy* DefaultOrderPolicy() {
  static DefaultOrder policy;
  return &policy;
}

class MainGreenlet final : public RawGreenlet {
 public:
  explicit MainGreenlet(Hub* hub) : RawGreenlet(hub, Kind::kMain) {}

 protected:
  void Run() override {}
};

}  // namespace

Hub::Hub(std::unique_ptr<HubBackend> backend)
    : id_(g_next_hub_id.fetch_add(1, std::memory_order_relaxed)),
      thread_id_(static_cast<int>(gettid())),
      backend_(std::move(backend)),
      policy_(DefaultOrderPolicy()) {
  if (backend_ == nullptr) throw std::invalid_argument("Hub: no backend");
  defers_foreign_ = backend_->defers_foreign_work();
  sigemptyset(&blocked_by_hub_);
  main_ = std::make_shared<MainGreenlet>(this);
  main_->name_ = "main";
  main_->state_ = RawGreenlet::State::kActive;
  current_ = main_.get();
  internal::InstallOverflowHandler();
  backend_->Attach(this);
}

Hub::~Hub() {
  // A subclass has called ShutdownForDestruction() already; a plain hub is
  // destroyed here, while its backend still exists.
  if (!destroyed_) destroy();
  if (!destroyed_) ReleaseQueued();
}

void Hub::ShutdownForDestruction() { destroy(); }

bool Hub::alive() const {
  return !callbacks_.empty() || ref_timers_ > 0 || ref_io_ > 0 ||
         !idle_.empty() || extra_refs_ > 0 || local_refs_ > 0 ||
         threadsafe_pending_.load(std::memory_order_acquire) > 0;
}



size_t Hub::Decide(DecisionPoint point) {
  const size_t n = point.options;
  if (n < 2) return 0;
  uint64_t starter;
  if (point.kind == Decision::kTimerJitter && point.owners == nullptr) {
    starter = current_->id();
    point.owners = &starter;
  }
  size_t pick = policy_->Choose(point);
  if (pick >= n) pick = n - 1;
  EmitDecision(point.kind, n, pick);
  return pick;
}

// ---- the loop

void Hub::set_scheduling_policy(SchedulingPolicy* policy) {
  policy_ = policy != nullptr ? policy : DefaultOrderPolicy();
  perturbs_ = policy_->perturbs();
  delays_timers_ = policy_->delays_timers();
}

// ---- the loop

// One iteration: the phases in order (see hub.h).
void Hub::RunOnce() {
  const bool defer_foreign = defers_foreign_;
  if (threadsafe_pending_.load(std::memory_order_acquire) != 0 && !defer_foreign) {
    DrainThreadsafe();
  } else if (ABSL_PREDICT_FALSE(replays_foreign_)) {
    // Where the recorded loop took work from other threads (the top of an
    // iteration, as above), and only there: one callback per record.
    for (;;) {
      const int64_t due = backend_->ForeignWorkDue();
      foreign_by_replay_ = due >= 0;
      if (due <= 0 || !TakeReplayedForeignWork(static_cast<uint64_t>(due - 1))) break;
    }
  }
  if (!callbacks_.empty()) RunCallbacks();
  // The callbacks may have ended the last referenced work: never block then.
  if (!alive()) return;
  int64_t deadline;
  if (!callbacks_.empty() || !idle_.empty() ||
      (!defer_foreign && threadsafe_pending_.load(std::memory_order_acquire) > 0)) {
    deadline = kNanosPast;
  } else if (!timers_.empty()) {
    deadline = timers_.top_deadline();
  } else {
    deadline = kNanosFuture;
  }
  // A virtual clock takes work from other threads only here, with nothing
  // left to run at the current time, and waits for it rather than move on.
  if (ABSL_PREDICT_FALSE(defer_foreign) && deadline > now_ns_ &&
      (extra_refs_ > 0 || threadsafe_pending_.load(std::memory_order_acquire) > 0) &&
      !foreign_by_replay_) {
    TakeForeignWork();
    return;
  }
  if (deadline == kNanosFuture && !timers_.empty() && ref_io_ == 0 && extra_refs_ == 0 &&
      local_refs_ == 0) {
    // Only timers that can never fire keep the loop alive (a saturated
    // deadline: sleep(absl::InfiniteDuration())), and nothing else could
    // wake it: it would wait for ever. It stops, as when no work is left.
    never_wakes_ = true;
    return;
  }
  const int64_t before = now_ns_;
  if (observe_waits_ && deadline > now_ns_ &&
      (lane_ == nullptr || lane_->BeforeWaitDue(deadline))) {
    const int64_t back = observer_->BeforeWait(now_ns_, deadline);
    if (back < deadline && back > now_ns_) deadline = back;
  }
  polling_.store(true, std::memory_order_relaxed);
  backend_->WaitForEvents(deadline, &io_ready_);
  polling_.store(false, std::memory_order_relaxed);
  now_ns_ = backend_->NowNs();
  if (observing_ && now_ns_ != before) {
    EmitTimeAdvanced(now_ns_ - before);
  }
  if (signal_fd_ >= 0) DispatchSignals();
  bool fired = FireTimers();
  // (A replay's backend hands out its events in the I/O phase itself.)
  bool io = (!io_ready_.empty() || ABSL_PREDICT_FALSE(backend_->extends_io_batches())) &&
            DispatchIo();
  if (!fired && !io && callbacks_.empty()) {
    // Idle watchers run when nothing else came, work from other threads
    // included.
    bool foreign;
    if (ABSL_PREDICT_FALSE(foreign_by_replay_)) {
      // A replay: when the trace takes none next (the threads' real
      // timing may differ from the recorded run's).
      foreign = backend_->ForeignWorkDue() > 0;
    } else if (ABSL_PREDICT_FALSE(defer_foreign) && !idle_.empty() &&
               (extra_refs_ > 0 || threadsafe_pending_.load(std::memory_order_acquire) > 0)) {
      // A virtual clock: the loop is idle at this time, so it takes the
      // work here, as where it would move the clock (waiting for the work
      // it is referenced for); idle watchers run once it is in. Else an
      // idle() loop would keep the loop busy and starve it for ever.
      TakeForeignWork();
      foreign = true;
    } else {
      foreign = threadsafe_pending_.load(std::memory_order_acquire) != 0;
    }
    if (!foreign) RunIdle();
  }
}

void Hub::TakeForeignWork() {
  if (threadsafe_pending_.load(std::memory_order_acquire) > 0) {
    DrainThreadsafe();
  } else if (extra_refs_ > 0) {
    // Referenced work on another thread has not come back: time stands
    // still until it does (the next iteration takes it). A real wait with
    // no end in sight: a recorder writes its trace first.
    if (observe_waits_ && (lane_ == nullptr || lane_->BeforeWaitDue(kNanosFuture))) {
      observer_->BeforeWait(now_ns_, kNanosFuture);
    }
    polling_.store(true, std::memory_order_relaxed);
    backend_->AwaitForeignWork();
    polling_.store(false, std::memory_order_relaxed);
  }
}

bool Hub::TakeReplayedForeignWork(uint64_t tag) {
  // A tagged callback comes from work that left this thread with the tag
  // and has not come back: anything else cannot come (no more work leaves
  // while the loop waits here).
  if (tag != 0 && outstanding_tags_.count(tag) == 0) {
    backend_->ForeignWorkMissing(tag, INT64_MAX);
    foreign_by_replay_ = false;
    return false;
  }
  // Real time: the threads do their work again. An untagged callback, while
  // nothing the hub is referenced for is out, is waited for as long as the
  // backend says.
  int64_t waited_ns = 0;
  bool fruitless = false;
  for (;;) {
    if (TakeForeignCallback(tag)) return true;
    if (fruitless && tag == 0 && extra_refs_ == 0 &&
        backend_->ForeignWorkMissing(tag, waited_ns)) {
      foreign_by_replay_ = false;
      return false;
    }
    if (observe_waits_ && (lane_ == nullptr || lane_->BeforeWaitDue(kNanosFuture))) {
      observer_->BeforeWait(now_ns_, kNanosFuture);
    }
    constexpr int64_t kSliceNs = 50000000;  // 50 ms
    polling_.store(true, std::memory_order_relaxed);
    fruitless = !backend_->AwaitForeignWorkFor(kSliceNs);
    if (fruitless) waited_ns += kSliceNs;
    polling_.store(false, std::memory_order_relaxed);
  }
}

void Hub::run_loop() {
  never_wakes_ = false;
  while (!destroyed_ && alive() && !never_wakes_) RunOnce();
}

// ---- errors

void Hub::set_error_handler(ErrorHandler handler) {
  error_handler_ = std::move(handler);
}

void Hub::handle_error(const RawGreenlet* where, std::exception_ptr error) {
  if (error_handler_) {
    try {
      error_handler_(where, error);
    } catch (...) {
      ReportDefault(nullptr, std::current_exception());
    }
    return;
  }
  ReportDefault(where, error);
}

void Hub::ReportDefault(const RawGreenlet* where, std::exception_ptr error) {
  internal::ErrorText t = internal::DescribeError(error);
  std::string line = absl::StrCat(where != nullptr ? where->describe() : "Hub callback",
                                  " failed with ", t.type);
  if (!t.what.empty()) absl::StrAppend(&line, ": ", t.what);
  line += "\n";
  fwrite(line.data(), 1, line.size(), stderr);
  fflush(stderr);
}

void Hub::HubLoop() {
  for (;;) {
    run_loop();
    Emit(HubEventKind::kLoopExit);
    resume(main_.get(), std::make_exception_ptr(LoopExit(LoopExitMessage())));
  }
}

std::string Hub::LoopExitMessage() const {
  std::string msg = "This operation would block forever";
  std::string report = deadlock_report();
  if (!report.empty()) absl::StrAppend(&msg, "\n", report);
  return msg;
}

std::vector<const RawGreenlet*> Hub::blocked_greenlets() const {
  std::vector<const RawGreenlet*> out;
  if (main_->waiting_on_ != nullptr) out.push_back(main_.get());
  running_.for_each([&](internal::ListNode* n) {
    auto* g = static_cast<RawGreenlet*>(n);
    if (g->waiting_on_ != nullptr) out.push_back(g);
  });
  return out;
}

std::string Hub::deadlock_report() const {
  const std::vector<const RawGreenlet*> blocked = blocked_greenlets();
  // A lock's holder, if it is a greenlet of this hub that still exists (the
  // lock only remembers a pointer: it is checked, never trusted).
  auto holder_of = [&](const RawGreenlet* g) -> const RawGreenlet* {
    const BlockingObject* on = g->blocked_on();
    const RawGreenlet* h = on != nullptr ? on->holder() : nullptr;
    if (h == nullptr) return nullptr;
    if (h == main_.get()) return h;
    bool found = false;
    running_.for_each([&](internal::ListNode* n) { found |= static_cast<RawGreenlet*>(n) == h; });
    return found ? h : nullptr;
  };
  std::string out;
  for (const RawGreenlet* g : blocked) {
    if (!out.empty()) out += "\n";
    if (const BlockingObject* on = g->blocked_on()) {
      absl::StrAppend(&out, "  ", g->describe(), " waits for ", on->describe());
      if (const RawGreenlet* h = holder_of(g)) absl::StrAppend(&out, " held by ", h->name());
      absl::StrAppend(&out, " (in ", g->waiting_on(), ")");
    } else {
      absl::StrAppend(&out, "  ", g->describe(), " is blocked in ", g->waiting_on());
    }
    if (g->waiting_for() != nullptr) {
      absl::StrAppend(&out, " (waiting for ", g->waiting_for()->name(), ")");
    }
  }
  // Wait cycles: each blocked greenlet waits for one other (a lock's holder,
  // or the greenlet it joins); a walk that comes back is a cycle.
  auto next_of = [&](const RawGreenlet* g) -> const RawGreenlet* {
    if (g->waiting_on() == nullptr) return nullptr;
    if (const RawGreenlet* h = holder_of(g)) return h;
    return g->waiting_for();
  };
  std::vector<const RawGreenlet*> reported;
  for (const RawGreenlet* start : blocked) {
    std::vector<const RawGreenlet*> path;
    const RawGreenlet* g = start;
    while (g != nullptr && std::find(path.begin(), path.end(), g) == path.end() &&
           path.size() <= blocked.size()) {
      path.push_back(g);
      g = next_of(g);
    }
    if (g != start) continue;  // no cycle through `start`
    bool seen = false;
    for (const RawGreenlet* x : path) {
      seen |= std::find(reported.begin(), reported.end(), x) != reported.end();
    }
    if (seen) continue;
    reported.insert(reported.end(), path.begin(), path.end());
    std::string cycle;
    for (const RawGreenlet* x : path) absl::StrAppend(&cycle, x->name(), " -> ");
    absl::StrAppend(&out, "\n  a wait cycle: ", cycle, start->name());
  }
  return out;
}

void Hub::destroy() {
  if (destroyed_ || destroying_) return;
  destroying_ = true;
  RawGreenlet* main = main_.get();
  if (current_ == main) {
    // Kill every greenlet still running: GreenletExit into each, again each
    // time one catches it and blocks, for up to kDestroyKillRounds rounds.
    for (int round = 0; round < kDestroyKillRounds && !running_.empty(); ++round) {
      std::vector<std::shared_ptr<RawGreenlet>> victims;
      running_.for_each([&](internal::ListNode* n) {
        victims.push_back(static_cast<RawGreenlet*>(n)->shared_from_this());
      });
      for (auto& v : victims) {
        run_callback([this, v] {
          resume(v.get(), std::make_exception_ptr(GreenletExit()));
        });
      }
      run_callback([this, main] { resume(main); });
      try {
        wait("Hub::destroy");
      } catch (const LoopExit&) {
      }
    }
    // Unwind the hub greenlet itself.
    if (hub_greenlet_ != nullptr &&
        hub_greenlet_->state_ == RawGreenlet::State::kActive) {
      hub_greenlet_->resume_error_ = std::make_exception_ptr(HubShutdown());
      RawGreenlet* h = hub_greenlet_.get();
      current_ = h;
      internal::Jump(&main->ctx_, &h->ctx_);
      current_ = main;
    }
  }
  backend_->OnHubDestroyed();
  ReleaseQueued();
}

void Hub::ReleaseQueued() {
  destroyed_ = true;
  // Release what is still queued.
  while (Callback* cb = callbacks_.pop_front()) {
    cb->hub_ = nullptr;
    if (cb->discard_ != nullptr) cb->discard_(cb);
  }
  while (internal::TimerEntry* t = timers_.pop()) {
    Timer* timer = static_cast<Timer*>(t);
    timer->hub_ = nullptr;
    if (timer->ref_) --ref_timers_;
    if (timer->discard_ != nullptr) timer->discard_(timer);
  }
  {
    std::lock_guard<std::mutex> lock(threadsafe_mu_);
    threadsafe_.clear();
  }
  for (auto& [fd, f] : fds_) {
    while (IoWatcher* w = f.watchers.pop_front()) w->hub_ = nullptr;
  }
  fds_.clear();
  ref_io_ = 0;
  while (IdleWatcher* w = idle_.pop_front()) w->hub_ = nullptr;
  while (ForkWatcher* w = fork_.pop_front()) w->hub_ = nullptr;
  while (SignalWatcher* w = signals_.pop_front()) w->hub_ = nullptr;
  // No watcher left: closes the signalfd, unblocks what the hub blocked.
  if (signal_fd_ >= 0 || blocked_any_) UpdateSignalFd();
  if (hub_greenlet_ != nullptr) {
    stacks_->Release(hub_greenlet_->stack_);
    hub_greenlet_->stack_ = internal::Stack();
  }
  stacks_->Trim();
  // Greenlets that could not be killed are abandoned: marked finished, with
  // their stacks not unwound (kept until the thread's stack pool goes), and
  // the hub's references dropped, so that their objects are freed with
  // their last handles.
  running_.for_each([&](internal::ListNode* n) {
    auto* g = static_cast<RawGreenlet*>(n);
    running_.remove(g);
    std::shared_ptr<RawGreenlet> self = std::move(g->self_);
    g->state_ = RawGreenlet::State::kFinished;
    g->OnAbandoned();
    self.reset();  // may destroy the greenlet
  });
}

}  // namespace gevent
