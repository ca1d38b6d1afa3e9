#include "runtime/hub.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "runtime/exceptions.h"
#include "runtime/internal/epoll_hub.h"
#include "runtime/internal/error_text.h"
#include "runtime/internal/overflow_guard.h"
#include "runtime/raw_greenlet.h"
#include "runtime/waitable.h"

namespace gevent {
namespace {

std::atomic<uint64_t> g_next_hub_id{1};

using internal::HubShutdown;

class MainGreenlet final : public RawGreenlet {
 public:
  explicit MainGreenlet(Hub* hub) : RawGreenlet(hub, Kind::kMain) {}

 protected:
  void Run() override {}
};

class HubGreenlet final : public RawGreenlet {
 public:
  explicit HubGreenlet(Hub* hub) : RawGreenlet(hub, Kind::kHub) {}

 protected:
  void Run() override {}  // the hub greenlet runs Hub::HubLoop instead
};

}  // namespace

// ---------------------------------------------------------------- watchers


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

// ---------------------------------------------------------------- hub

Hub::Hub() : id_(g_next_hub_id.fetch_add(1, std::memory_order_relaxed)) {
  main_ = std::make_shared<MainGreenlet>(this);
  main_->name_ = "main";
  main_->state_ = RawGreenlet::State::kActive;
  current_ = main_.get();
  internal::InstallOverflowHandler();
}

Hub::~Hub() {
  // Backends call ShutdownForDestruction() from their destructor, while the
  // backend still exists; here only the queues are released.
  if (!destroyed_) ReleaseQueued();
}

void Hub::ShutdownForDestruction() { destroy(); }

bool Hub::alive() const {
  return !callbacks_.empty() || ref_timers_ > 0 || ref_io_ > 0 ||
         !idle_.empty() || extra_refs_ > 0 ||
         threadsafe_pending_.load(std::memory_order_acquire) > 0;
}



size_t Hub::Decide(Decision d, size_t n) {
  if (n < 2) return 0;
  size_t pick = Choose(d, n);
  if (pick >= n) pick = n - 1;
  Emit(HubEventKind::kDecision, 0, static_cast<int64_t>(n),
       static_cast<int64_t>(pick), nullptr, static_cast<int64_t>(d));
  return pick;
}

// ---- callbacks

void Hub::run_callback(Callback* cb) {
  if (cb->hub_ != nullptr) return;  // already pending
  cb->hub_ = this;
  callbacks_.push_back(cb);
}

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
  if (!fn) {
    throw std::invalid_argument(
        "run_callback_threadsafe: the function is empty");
  }
  threadsafe_pending_.fetch_add(1, std::memory_order_acq_rel);
  {
    std::lock_guard<std::mutex> lock(threadsafe_mu_);
    threadsafe_.push_back(std::move(fn));
  }
  Wakeup();
}

void Hub::DrainThreadsafe() {
  if (threadsafe_pending_.load(std::memory_order_acquire) == 0) return;
  std::vector<std::function<void()>> batch;
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
  for (auto& fn : batch) run_callback(std::move(fn));
  threadsafe_pending_.fetch_sub(static_cast<int64_t>(batch.size()),
                                std::memory_order_acq_rel);
}

void Hub::RunCallbacks() {
  if (callbacks_.empty()) return;
  const int64_t pass_start = now_ns_ = ClockNowNs();
  pass_count_ = 0;
  while (Callback* cb = callbacks_.pop_front()) {
    cb->hub_ = nullptr;
    if (observing_ && cb != &continuation_) Emit(HubEventKind::kCallback);
    cb->fn_(cb);
    if ((++pass_count_ & 255) == 0 && !callbacks_.empty() &&
        CallbackPassOver(pass_start, pass_count_)) {
      break;
    }
  }
}

bool Hub::CallbackPassOver(int64_t pass_start_ns, uint64_t callbacks_run) {
  (void)callbacks_run;
  now_ns_ = ClockNowNs();
  return now_ns_ - pass_start_ns >= internal::ToNanos(switch_interval_);
}

// ---- timers

// Puts `t` in the timer queue, `after_ns` (negative: 0) from the clock's
// reading now; returns the delay it used. (Inlined into both starts.)
__attribute__((always_inline)) inline int64_t Hub::Arm(Timer* t, int64_t after_ns,
                                                      bool ref, int priority) {
  if (t->hub_ != nullptr) stop(t);
  if (after_ns < 0) after_ns = 0;
  now_ns_ = ClockNowNs();
  int64_t deadline = internal::AddNanos(now_ns_, after_ns);
  if (timer_lateness_) {
    int64_t late = TimerLatenessNs();
    if (late > 0) deadline = internal::AddNanos(deadline, late);
  }
  t->TimerEntry::deadline = deadline;
  t->priority = priority;
  t->seq = ++timer_seq_;
  t->ref_ = ref;
  t->hub_ = this;
  if (ref) ++ref_timers_;
  timers_.push(t);
  return after_ns;
}

void Hub::start(Timer* t, absl::Duration after, bool ref, int priority) {
  const int64_t after_ns = Arm(t, internal::ToNanos(after), ref, priority);
  if (observing_) {
    Emit(HubEventKind::kTimerStarted, current_->id(),
         static_cast<int64_t>(t->seq), after_ns);
  }
}

// Out of line: start_sleep's common path keeps its registers.
__attribute__((noinline, cold)) void Hub::StartSleepOneByOne(Timer* t, absl::Duration after,
                                                             bool ref) {
  if (observing_) {
    Emit(HubEventKind::kSleep, current_->id(), internal::ToNanos(after), ref ? 1 : 0);
  }
  start(t, after, ref);
}

// Through the lane, both events once the timer is armed, with the times
// they had (the sleep's is the clock before Arm reads it).
void Hub::start_sleep(Timer* t, absl::Duration after, bool ref) {
  if (!sleeps_through_lane()) {
    StartSleepOneByOne(t, after, ref);
    return;
  }
  const int64_t ns = internal::ToNanos(after);
  const uint64_t g = current_->id();
  const int64_t sleep_ns = now_ns_;
  if (hashing_) HashEvent(HubEventKind::kSleep, g, ns, ref ? 1 : 0, 0, sleep_ns);
  const int64_t after_ns = Arm(t, ns, ref, 0);
  if (lane_->TakeSleepStart(g, ns, ref ? 1 : 0, sleep_ns, t->seq, now_ns_)) return;
  observer_->OnHubEvent(HubEvent{HubEventKind::kSleep, sleep_ns, g, ns, ref ? 1 : 0});
  Emit(HubEventKind::kTimerStarted, g, static_cast<int64_t>(t->seq), after_ns);
}

void Hub::stop(Timer* t) {
  if (t->hub_ == nullptr) return;
  if (t->in_heap()) {
    timers_.remove(t);
  } else if (t->firing_at_ != Timer::kNotFiring) {
    firing_[t->firing_at_] = nullptr;
    t->firing_at_ = Timer::kNotFiring;
  }
  t->hub_ = nullptr;
  if (t->ref_) --ref_timers_;
}

Timer* Hub::FiringFront() {
  while (firing_next_ < firing_.size()) {
    if (Timer* t = firing_[firing_next_]) return t;
    ++firing_next_;
  }
  return nullptr;
}

Timer* Hub::FiringPop() {
  Timer* t = FiringFront();
  if (t != nullptr) {
    ++firing_next_;
    t->firing_at_ = Timer::kNotFiring;
  }
  return t;
}

// A timer about to fire usually lies in the frame of a greenlet that has
// been asleep, out of the cache: its neighbourhood (the frames the greenlet
// returns through) and what it touches (the greenlet) are fetched while the
// timers before it run. Two timers ahead, the neighbourhood; one ahead, what
// it touches (that reads the timer, whose line was fetched one timer ago).
// (Addresses as integers: the neighbourhood lies outside the timer object.
// Always inline: GCC finds a function that only prefetches free of side
// effects and drops the calls to it.)
__attribute__((always_inline)) inline void Hub::PrefetchFiringAhead() {
  const size_t i = firing_next_;
  if (i < firing_.size() && firing_[i] != nullptr &&
      firing_[i]->fn_ == &ResumeTimer::Fire) {
    // The next greenlet to resume (its object fetched one timer ago): the
    // context it saved when it switched out, deeper in its stack than the
    // timer's neighbourhood, is the first thing a switch to it reads.
    const RawGreenlet* g = static_cast<const ResumeTimer*>(firing_[i])->g_;
    const uintptr_t sp = reinterpret_cast<uintptr_t>(g->ctx_.fctx);
    for (uintptr_t a = sp; a != sp + 256; a += 64) {
      __builtin_prefetch(reinterpret_cast<const void*>(a), 0, 3);
    }
  }
  if (i + 1 < firing_.size() && firing_[i + 1] != nullptr) {
    if (const void* touches = firing_[i + 1]->touches_) {
      // 512 bytes: a greenlet object with a small function (the function,
      // at its end, is released when the greenlet returns).
      const uintptr_t q = reinterpret_cast<uintptr_t>(touches);
      for (uintptr_t a = q; a != q + 512; a += 64) {
        __builtin_prefetch(reinterpret_cast<const void*>(a), 1, 3);
      }
    }
  }
  if (i + 2 < firing_.size() && firing_[i + 2] != nullptr) {
    const uintptr_t p = reinterpret_cast<uintptr_t>(firing_[i + 2]);
    for (uintptr_t a = p - 192; a != p + 256; a += 64) {
      __builtin_prefetch(reinterpret_cast<const void*>(a), 1, 3);
    }
  }
}

// A timer of the batch fires (by the hub frame, or by a hand-off): it is
// no longer active, and the event says so.
inline void Hub::MarkFired(Timer* t) {
  t->hub_ = nullptr;
  if (t->ref_) --ref_timers_;
  if (observing_) Emit(HubEventKind::kTimerFired, 0, static_cast<int64_t>(t->seq));
}

bool Hub::FireTimers() {
  const uint64_t limit = timer_seq_;
  const uint64_t limit48 = limit & ((uint64_t{1} << 48) - 1);
  while (!timers_.empty() && timers_.top_deadline() <= now_ns_) {
    // Timers started by the ones firing now wait for the next pass. (Start
    // numbers are compared in their low 48 bits, as the heap keeps them:
    // exact while fewer than 2^48 timers are started between two passes.)
    const uint64_t seq = timers_.top_seq48();
    if (seq > limit48 && seq - limit48 < (uint64_t{1} << 47)) break;
    firing_.push_back(static_cast<Timer*>(timers_.pop_untouched()));
  }
  const size_t n = firing_.size();
  if (n == 0) return false;
  // The timers live in sleeping greenlets' frames, mostly out of the cache:
  // their misses overlap, a few ahead of the writes (a few: a core tracks
  // only about a dozen misses at a time).
  constexpr size_t kAhead = 8;
  for (size_t i = 0; i < n && i < kAhead; ++i) __builtin_prefetch(firing_[i], 1, 3);
  const bool shuffle = perturbs() && n > 1;
  for (size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) __builtin_prefetch(firing_[i + kAhead], 1, 3);
    Timer* t = firing_[i];
    t->slot = internal::TimerEntry::kNoSlot;
    t->firing_at_ = static_cast<uint32_t>(i);
  }
  if (shuffle) {
    // Shuffle each run of equal deadlines; distinct deadlines keep order.
    std::vector<Timer*>& all = firing_;
    for (size_t i = 0; i < all.size();) {
      size_t j = i + 1;
      while (j < all.size() &&
             all[j]->TimerEntry::deadline == all[i]->TimerEntry::deadline) {
        ++j;
      }
      for (size_t k = i; k + 1 < j; ++k) {
        size_t n = j - k;
        size_t pick = k + Decide(Decision::kTimerTie, n);
        std::swap(all[k], all[pick]);
      }
      i = j;
    }
    for (size_t i = 0; i < n; ++i) firing_[i]->firing_at_ = static_cast<uint32_t>(i);
  }
  firing_now_ = true;
  struct Done {
    Hub* hub;
    ~Done() {
      hub->firing_now_ = false;
      hub->firing_.clear();
      hub->firing_next_ = 0;
    }
  } done{this};
  while (Timer* t = FiringPop()) {
    PrefetchFiringAhead();
    MarkFired(t);
    t->fn_(t);
  }
  return true;
}

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
      UpdateInterest(w->fd_, old_mask, f.mask);
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
      UpdateInterest(fd, old_mask, new_mask);
    } catch (...) {
      // Dropping interest in a descriptor that was closed is not an error.
    }
  }
}

bool Hub::DispatchIo() {
  if (io_ready_.empty()) return false;
  std::vector<IoEvent> ready;
  ready.swap(io_ready_);
  if (perturbs() && ready.size() > 1) {
    for (size_t i = 0; i + 1 < ready.size(); ++i) {
      size_t pick = i + Decide(Decision::kIoOrder, ready.size() - i);
      std::swap(ready[i], ready[pick]);
    }
  }
  const uint64_t round = ++io_round_;
  for (const IoEvent& ev : ready) {
    for (;;) {
      auto it = fds_.find(ev.fd);
      if (it == fds_.end()) break;
      IoWatcher* next = nullptr;
      it->second.watchers.for_each([&](IoWatcher* w) {
        if (next == nullptr && w->round_ != round && (w->events_ & ev.revents))
          next = w;
      });
      if (next == nullptr) break;
      next->round_ = round;
      if (observing_) Emit(HubEventKind::kIo, 0, ev.fd, ev.revents);
      next->fn_(next, ev.revents & next->events_);
    }
  }
  io_ready_.swap(ready);
  io_ready_.clear();
  return true;
}

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
    w->fn_(w);
  }
}

// ---- signals

void Hub::start(SignalWatcher* w) {
  if (w->hub_ != nullptr) return;
  const int sig = w->signum_;
  if (sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP) {
    throw std::invalid_argument(absl::StrCat(
        "cannot handle signal ", sig,
        sig == SIGKILL || sig == SIGSTOP ? " (it cannot be caught)"
                                         : " (not a valid signal number)"));
  }
  w->hub_ = this;
  signals_.push_back(w);
  UpdateSignalFd();
}

void Hub::stop(SignalWatcher* w) {
  if (w->hub_ == nullptr) return;
  signals_.remove(w);
  w->hub_ = nullptr;
  UpdateSignalFd();
}

void Hub::UpdateSignalFd() {
  sigset_t mask;
  sigemptyset(&mask);
  signals_.for_each([&](SignalWatcher* w) { sigaddset(&mask, w->signum_); });
  if (signals_.empty()) {
    // Keep the signals blocked (unblocking could deliver a pending one with
    // its default action); just stop listening.
    if (signal_fd_ >= 0) {
      WatchInternalFd(signal_fd_, false);
      close(signal_fd_);
      signal_fd_ = -1;
    }
    return;
  }
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  const bool fresh = signal_fd_ < 0;
  int fd = signalfd(signal_fd_, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) {
    throw std::system_error(errno, std::generic_category(), "signalfd");
  }
  signal_fd_ = fd;
  if (fresh) WatchInternalFd(signal_fd_, true);
}

void Hub::DispatchSignals() {
  if (signal_fd_ < 0) return;
  signalfd_siginfo info[16];
  for (;;) {
    ssize_t n = read(signal_fd_, info, sizeof info);
    if (n <= 0) return;
    for (size_t i = 0; i < static_cast<size_t>(n) / sizeof(info[0]); ++i) {
      const int sig = static_cast<int>(info[i].ssi_signo);
      std::vector<SignalWatcher*> targets;
      signals_.for_each([&](SignalWatcher* w) {
        if (w->signum_ == sig) targets.push_back(w);
      });
      for (SignalWatcher* w : targets) {
        // A handler may stop another watcher: only run the ones still armed.
        bool armed = false;
        signals_.for_each([&](SignalWatcher* x) { armed |= (x == w); });
        if (armed) w->fn_(w);
      }
    }
  }
}

// ---- fork

void Hub::start(ForkWatcher* w) {
  if (w->hub_ != nullptr) return;
  w->hub_ = this;
  fork_.push_back(w);
}

void Hub::stop(ForkWatcher* w) {
  if (w->hub_ == nullptr) return;
  fork_.remove(w);
  w->hub_ = nullptr;
}

void Hub::reinit() {
  ReinitBackend();
  if (signal_fd_ >= 0) {
    // The signalfd itself survives fork (it reads the child's signals);
    // tell the new backend about it.
    WatchInternalFd(signal_fd_, true);
  }
  // Re-register every descriptor with the renewed backend.
  for (auto& [fd, f] : fds_) UpdateInterest(fd, 0, f.mask);
  std::vector<ForkWatcher*> watchers;
  fork_.for_each([&](ForkWatcher* w) { watchers.push_back(w); });
  for (ForkWatcher* w : watchers) {
    if (w->hub_ == this) w->fn_(w);
  }
}

// ---- the loop

void Hub::RunOnce() {
  if (threadsafe_pending_.load(std::memory_order_acquire) != 0) {
    DrainThreadsafe();
  }
  if (!callbacks_.empty()) RunCallbacks();
  // The callbacks may have ended the last referenced work: never block then.
  if (!alive()) return;
  int64_t deadline;
  if (!callbacks_.empty() || !idle_.empty() ||
      threadsafe_pending_.load(std::memory_order_acquire) > 0) {
    deadline = internal::kNanosPast;
  } else if (!timers_.empty()) {
    deadline = timers_.top_deadline();
  } else {
    deadline = internal::kNanosFuture;
  }
  const int64_t before = now_ns_;
  if (observe_waits_ && deadline > now_ns_ &&
      (lane_ == nullptr || lane_->BeforeWaitDue(deadline))) {
    const int64_t back = observer_->BeforeWait(now_ns_, deadline);
    if (back < deadline && back > now_ns_) deadline = back;
  }
  polling_.store(true, std::memory_order_relaxed);
  WaitForEvents(deadline, &io_ready_);
  polling_.store(false, std::memory_order_relaxed);
  now_ns_ = ClockNowNs();
  if (observing_ && now_ns_ != before) {
    Emit(HubEventKind::kTimeAdvanced, 0, now_ns_ - before);
  }
  if (signal_fd_ >= 0) DispatchSignals();
  bool fired = FireTimers();
  bool io = !io_ready_.empty() && DispatchIo();
  if (!fired && !io && callbacks_.empty() &&
      threadsafe_pending_.load(std::memory_order_acquire) == 0) {
    RunIdle();
  }
}

void Hub::run_loop() {
  while (!destroyed_ && alive()) RunOnce();
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
  std::string line = absl::StrCat(where != nullptr ? where->name() : "Hub callback",
                                  " failed with ", t.type);
  if (!t.what.empty()) absl::StrAppend(&line, ": ", t.what);
  line += "\n";
  fwrite(line.data(), 1, line.size(), stderr);
  fflush(stderr);
}

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

inline void Hub::NoteSwitch(RawGreenlet* from, RawGreenlet* to) {
  // A single writer: a plain load + store, no locked instruction.
  switch_count_.store(switch_count_.load(std::memory_order_relaxed) + 1,
                      std::memory_order_relaxed);
  running_now_.store(to, std::memory_order_relaxed);
  if (ABSL_PREDICT_FALSE(tracking_runs_ > 0)) {
    absl::Time t = now();
    absl::Duration ran = t - run_started_;
    if (ran > longest_run_) {
      longest_run_ = ran;
      longest_runner_ = from->name();
    }
    run_started_ = t;
  }
}

// A greenlet on an unguarded (slab) stack is checked for overflow each time
// it switches out: its canary must be intact.
inline void Hub::CheckStackOnSwitchOut(const RawGreenlet* g) {
  if (g->stack_.guard == nullptr && g->stack_.valid() &&
      !internal::StackPool::CanaryIntact(g->stack_)) {
    internal::DieOfStackOverflow(g->name().c_str(), g->stack_.size);
  }
}

// The greenlet `g` switches in; its canary (when it has one) is read when it
// switches out. The line sits on another page (the top of the stack below),
// so it is fetched now, while `g` runs, instead of stalling the switch-out.
__attribute__((always_inline)) inline void Hub::PrefetchCanary(
    const RawGreenlet* g) {
  if (g->stack_.guard == nullptr && g->stack_.valid()) {
    __builtin_prefetch(g->stack_.base - internal::kCanaryBytes, 0, 3);
  }
}

inline void Hub::SwitchToHub() {
  RawGreenlet* hub = hub_g_;
  if (ABSL_PREDICT_FALSE(hub == nullptr)) hub = EnsureHubGreenletSlow();
  RawGreenlet* from = current_;
  CheckStackOnSwitchOut(from);
  current_ = hub;
  NoteSwitch(from, hub);
  internal::Jump(&from->ctx_, &hub->ctx_, eh_);
  current_ = from;
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

inline void Hub::SwitchInto(RawGreenlet* g, bool tail, Waitable* pass,
                            bool* pass_alive) {
  RawGreenlet* hub = current_;
  current_ = g;
  tail_resumed_ = tail ? g : nullptr;
  open_pass_ = pass;
  open_pass_alive_ = pass_alive;
  NoteSwitch(hub, g);
  if (observing_) Emit(HubEventKind::kSwitch, g->id_, 0, 0, g);
  PrefetchCanary(g);
  internal::Jump(&hub->ctx_, &g->ctx_, eh_);
  current_ = hub;
  tail_resumed_ = nullptr;
  open_pass_ = nullptr;
  if (finished_ != nullptr) ReleaseFinished();
  if (ABSL_PREDICT_FALSE(hub->resume_error_ != nullptr)) {
    std::exception_ptr e = std::move(hub->resume_error_);
    hub->resume_error_ = nullptr;
    std::rethrow_exception(e);
  }
}

void Hub::ReleaseFinished() {
  RawGreenlet* g = finished_;
  if (g == nullptr) return;
  finished_ = nullptr;
  stacks_->Release(g->stack_);
  g->stack_ = internal::Stack();
  running_.remove(g);
  std::shared_ptr<RawGreenlet> self = std::move(g->self_);
  self.reset();  // may destroy the greenlet
}

namespace {
// Out of line, so that the hot frames that call them stay small.
[[noreturn]] ABSL_ATTRIBUTE_NOINLINE void ThrowCannotBlock(const char* what,
                                                           bool in_hub) {
  if (in_hub) {
    throw BlockingSwitchOutError(absl::StrCat(
        "cannot block (in ", what,
        ") inside a hub callback: it would block the hub forever; spawn a "
        "greenlet to do it"));
  }
  throw HubError(absl::StrCat("cannot block (in ", what,
                              "): this thread's hub was destroyed"));
}
}  // namespace

[[noreturn]] ABSL_ATTRIBUTE_NOINLINE void Hub::RethrowResumeError(
    RawGreenlet* g) {
  std::exception_ptr e = std::move(g->resume_error_);
  g->resume_error_ = nullptr;
  std::rethrow_exception(e);
}

void Hub::wait(const char* what, const RawGreenlet* waiting_for) {
  RawGreenlet* g = current_;
  if (ABSL_PREDICT_FALSE(g == hub_g_ || destroyed_)) {
    ThrowCannotBlock(what, g == hub_g_);
  }
  g->waiting_on_ = what;
  g->waiting_for_ = waiting_for;
  if (tail_resumed_ != g || !hand_offs_ || !TryHandOff(g)) SwitchToHub();
  g->waiting_on_ = nullptr;
  g->waiting_for_ = nullptr;
  if (ABSL_PREDICT_FALSE(g->resume_error_ != nullptr)) RethrowResumeError(g);
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
  if (observing_) Emit(HubEventKind::kSleep, g->id_, 0, 1);
  // Checked by wait() too, but before queueing anything.
  if (ABSL_PREDICT_FALSE(g == hub_g_ || destroyed_)) wait("sleep(0)");
  YieldCallback resume_me(this, g);
  run_callback(&resume_me);
  wait("sleep(0)");
}

// ---- the hand-off
//
// `g` is blocking, and the hub frame's current step switched into `g` as its
// last action (tail_resumed_ == g): the hub would now finish that step, count
// the callback, check its budget every 256 callbacks, and go on with the next
// callback, until something switches into a greenlet. When every one of
// those steps is one of the few kinds below, `g` does them itself, with the
// same events and counts, and switches straight to the next greenlet: one
// switch instead of two, and no trip through the hub's loop.
//  - the next callback resumes a greenlet yielding in sleep(0);
//  - the next callback is a notification pass (Event.set() and the like)
//    whose links are ResumeLinks (Event.wait() without a timeout): its links
//    fire here, each switching straight to its waiter; when that waiter
//    blocks, the pass goes on from there in the same way.
// While the hub fires a batch of due timers, the one step `g` can take is
// the next timer's, if it is a ResumeTimer (sleep()'s): TryTimerHandOff.
// Anything else (another kind of timer, I/O, another kind of link or
// callback, the budget check) is left to the hub: `g` switches to it as usual. A pass that was
// started here but cannot be finished here is handed back to the hub as a
// PassContinuation at the front of the FIFO, so nothing runs in between.
//
// Counting: pass_count_ counts finished callbacks, except the one the hub
// frame is in, which the frame counts when it resumes. A hand-off chain
// moves that "current" callback along; each step that finishes one counts it.

void Hub::SwitchDirect(RawGreenlet* from, RawGreenlet* to) {
  CheckStackOnSwitchOut(from);
  current_ = to;
  tail_resumed_ = to;
  NoteSwitch(from, to);
  if (observing_) Emit(HubEventKind::kSwitch, to->id_, 0, 0, to);
  PrefetchCanary(to);
  if (to != from) internal::Jump(&from->ctx_, &to->ctx_, eh_);
  current_ = from;
}

void Hub::ResumeFromPass(RawGreenlet* g, Waitable* pass) {
  if (g->state_ != RawGreenlet::State::kActive) {
    resume(g);
    return;
  }
  SwitchInto(g, /*tail=*/true, pass, running_pass_alive_);
}

void Hub::PassContinuation::Fire(Callback* c) {
  auto* k = static_cast<PassContinuation*>(c);
  Waitable* w = k->pass;
  k->pass = nullptr;
  if (!k->alive) return;  // the object was destroyed meanwhile
  bool alive = true;
  Waitable::RunPass(w, &alive);
}

// Returns 1 if `g` switched to another greenlet (and has been resumed since),
// 0 if the open pass ended here, 2 if it must go on in the hub.
int Hub::ContinuePassInPlace(RawGreenlet* g) {
  Waitable* w = open_pass_;
  // The hub frame's own pass (not yet taken over) keeps its flag there.
  bool frame_pass = open_pass_alive_ != &in_place_alive_;
  if (!*open_pass_alive_) {  // a link or a greenlet destroyed the object
    open_pass_ = nullptr;
    return 0;
  }
  auto take_over = [&] {
    if (!frame_pass) return;
    frame_abandoned_ = true;
    in_place_alive_ = true;
    w->alive_during_notify_ = &in_place_alive_;
    open_pass_alive_ = &in_place_alive_;
    frame_pass = false;
  };
  for (;;) {
    if (w->pass_over_) break;
    Link* front = w->links_.front();
    if (front != nullptr && front->fn_ != &internal::ResumeLink::Fire) {
      if (frame_pass) return 2;  // the frame goes on with its own pass
      HandPassBack();
      return 2;
    }
    Link* l = w->NextPassLink();
    if (l == nullptr) break;
    take_over();
    l->source_ = nullptr;
    if (observing_) Emit(HubEventKind::kLinkNotified);
    RawGreenlet* to = static_cast<internal::ResumeLink*>(l)->greenlet;
    if (to->waiting_on_ == nullptr || to->state_ != RawGreenlet::State::kActive) {
      continue;  // the link does nothing: on with the pass
    }
    open_pass_ = w;
    SwitchDirect(g, to);
    return 1;
  }
  // The pass is over.
  take_over();
  open_pass_ = nullptr;
  w->EndPass();  // may destroy `w`
  return 0;
}

void Hub::HandPassBack() {
  Waitable* w = open_pass_;
  open_pass_ = nullptr;
  if (w == nullptr || open_pass_alive_ != &in_place_alive_) return;
  if (!in_place_alive_) return;  // destroyed: nothing left to notify
  // The rest of the pass runs in the hub, first in line.
  continuation_.pass = w;
  continuation_.alive = true;
  w->alive_during_notify_ = &continuation_.alive;
  continuation_.hub_ = this;
  callbacks_.push_front(&continuation_);
  --pass_count_;  // the frame counts the pass when it resumes; so will this
}

// While the hub frame fires timers, the steps `g` can take are the next
// timers of the batch that are ResumeTimers: each fires here (the same
// event, the same counts) and switches straight to its greenlet. The hub
// frame's loop reads firing_ afresh when it resumes, so it just goes on with
// whatever is left.
bool Hub::TryTimerHandOff(RawGreenlet* g) {
  Timer* next = FiringFront();
  if (next == nullptr || next->fn_ != &ResumeTimer::Fire) return false;
  RawGreenlet* to = static_cast<ResumeTimer*>(next)->g_;
  if (to->waiting_on_ == nullptr || to->state_ != RawGreenlet::State::kActive) {
    return false;
  }
  FiringPop();
  PrefetchFiringAhead();
  MarkFired(next);
  SwitchDirect(g, to);
  return true;
}

bool Hub::TryHandOff(RawGreenlet* g) {
  if (firing_now_) return TryTimerHandOff(g);
  for (;;) {
    if (open_pass_ != nullptr) {
      const int r = ContinuePassInPlace(g);
      if (r != 0) return r == 1;
    }
    // The current callback is finished; the hub would count it, and check
    // its budget on every 256th.
    if (((pass_count_ + 1) & 255) == 0) return false;
    Callback* next = callbacks_.front();
    if (next == nullptr) return false;
    if (next->fn_ == &YieldCallback::Fire) {
      RawGreenlet* to = static_cast<YieldCallback*>(next)->g;
      if (to->state_ != RawGreenlet::State::kActive) return false;
      callbacks_.pop_front();
      next->hub_ = nullptr;
      ++pass_count_;
      if (observing_) Emit(HubEventKind::kCallback);
      SwitchDirect(g, to);
      return true;
    }
    if (next->fn_ == &Waitable::Run) {
      Waitable* w = static_cast<Waitable::Notifier*>(next)->owner;
      Link* front = w->links_.front();
      if (front != nullptr && front->fn_ != &internal::ResumeLink::Fire) {
        return false;
      }
      callbacks_.pop_front();
      next->hub_ = nullptr;
      ++pass_count_;
      if (observing_) Emit(HubEventKind::kCallback);
      w->BeginPass();
      in_place_alive_ = true;
      w->alive_during_notify_ = &in_place_alive_;
      open_pass_ = w;
      open_pass_alive_ = &in_place_alive_;
      continue;
    }
    return false;
  }
}

void Hub::StartAndSwitchInto(RawGreenlet* g, std::exception_ptr error) {
  if (g->state_ == RawGreenlet::State::kFinished) return;
  if (g->state_ == RawGreenlet::State::kNotRun) {
    if (error != nullptr) {
      // Throwing into a greenlet that never ran ends it without running.
      g->state_ = RawGreenlet::State::kFinished;
      return;
    }
    g->stack_ = stacks_->Acquire();
    internal::MakeContext(&g->ctx_, g->stack_.base, g->stack_.usable(),
                          &RawGreenlet::Entry, g);
    g->state_ = RawGreenlet::State::kActive;
    g->self_ = g->shared_from_this();
    running_.push_back(g);
  }
  g->resume_error_ = std::move(error);
  SwitchInto(g);
}

void RawGreenlet::Entry(void* arg) {
  auto* g = static_cast<RawGreenlet*>(arg);
  Hub* hub = g->hub_;
  if (g->kind_ == Kind::kSpawned) {
    try {
      g->Run();
    } catch (const GreenletExit&) {
      // A kill: not an error.
    } catch (...) {
      hub->handle_error(g, std::current_exception());
    }
    g->OnRunFinished();
    g->state_ = State::kFinished;
    Hub::CheckStackOnSwitchOut(g);
    // Resumed by a hand-off from a pass that is not over: the hub finishes
    // the pass first.
    if (hub->tail_resumed_ == g) hub->HandPassBack();
    hub->finished_ = g;
    RawGreenlet* to = hub->hub_g_;
    hub->current_ = to;
    internal::FinalJump(&g->ctx_, &to->ctx_);
  }
  // The hub greenlet.
  try {
    hub->HubLoop();
  } catch (const HubShutdown&) {
  }
  g->state_ = State::kFinished;
  RawGreenlet* to = hub->main_.get();
  hub->current_ = to;
  internal::FinalJump(&g->ctx_, &to->ctx_);
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
  std::string out;
  for (const RawGreenlet* g : blocked_greenlets()) {
    if (!out.empty()) out += "\n";
    absl::StrAppend(&out, "  ", g->name(), " is blocked in ", g->waiting_on());
    if (g->waiting_for() != nullptr) {
      absl::StrAppend(&out, " (waiting for ", g->waiting_for()->name(), ")");
    }
  }
  return out;
}

void Hub::destroy() {
  if (destroyed_ || destroying_) return;
  destroying_ = true;
  RawGreenlet* main = main_.get();
  if (current_ == main) {
    // Kill every greenlet still running: GreenletExit into each, a few times
    // for the ones that catch it and block again.
    for (int attempt = 0; attempt < 3 && !running_.empty(); ++attempt) {
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
  if (signal_fd_ >= 0) {
    close(signal_fd_);
    signal_fd_ = -1;
  }
  if (hub_greenlet_ != nullptr) {
    stacks_->Release(hub_greenlet_->stack_);
    hub_greenlet_->stack_ = internal::Stack();
  }
  stacks_->Trim();
  // Greenlets that could not be killed keep their stacks until the pool goes.
  running_.for_each([&](internal::ListNode* n) {
    auto* g = static_cast<RawGreenlet*>(n);
    running_.remove(g);
    g->self_.reset();
  });
}

// ---------------------------------------------------------------- registry

namespace {

struct FactoryEntry {
  std::string name;
  HubFactory factory;
};

std::mutex& FactoryMutex() {
  static std::mutex mu;
  return mu;
}

std::vector<FactoryEntry>& Factories() {
  static std::vector<FactoryEntry> factories{
      {"epoll", &internal::MakeEpollHub}};
  return factories;
}

thread_local std::unique_ptr<Hub> t_hub;

}  // namespace

void register_hub_factory(const char* name, HubFactory factory) {
  std::lock_guard<std::mutex> lock(FactoryMutex());
  for (auto& e : Factories()) {
    if (e.name == name) {
      e.factory = factory;
      return;
    }
  }
  Factories().push_back({name, factory});
}

std::unique_ptr<Hub> make_hub(const std::string& backend) {
  HubFactory factory = nullptr;
  std::string known;
  {
    std::lock_guard<std::mutex> lock(FactoryMutex());
    for (auto& e : Factories()) {
      if (e.name == backend) factory = e.factory;
      absl::StrAppend(&known, known.empty() ? "" : ", ", e.name);
    }
  }
  if (factory == nullptr) {
    throw std::invalid_argument(absl::StrCat(
        "unknown hub backend \"", backend, "\" (GEVENT_HUB); known: ", known,
        backend == "sim" ? " (link //sim to get the simulated hub)" : ""));
  }
  return factory();
}


namespace {
std::vector<HubInitHook>& InitHooks() {
  static std::vector<HubInitHook> hooks;
  return hooks;
}
}  // namespace

void register_hub_init_hook(HubInitHook hook) {
  std::lock_guard<std::mutex> lock(FactoryMutex());
  InitHooks().push_back(hook);
}

Hub* internal::CreateThreadHub() {
  if (t_hub == nullptr) {
    const char* env = getenv("GEVENT_HUB");
    t_hub = make_hub(env != nullptr && *env != '\0' ? env : "epoll");
    internal::t_hub_ptr = t_hub.get();
    std::vector<HubInitHook> hooks;
    {
      std::lock_guard<std::mutex> lock(FactoryMutex());
      hooks = InitHooks();
    }
    for (HubInitHook hook : hooks) hook(t_hub.get());
  }
  return t_hub.get();
}

void destroy_hub() {
  if (t_hub == nullptr) return;
  t_hub->destroy();
  t_hub.reset();
  internal::t_hub_ptr = nullptr;
}

std::unique_ptr<Hub> exchange_hub(std::unique_ptr<Hub> hub) {
  std::unique_ptr<Hub> old = std::move(t_hub);
  t_hub = std::move(hub);
  internal::t_hub_ptr = t_hub.get();
  return old;
}

// ---------------------------------------------------------------- greenlets

namespace {
thread_local long t_live_greenlets = 0;
}  // namespace

long RawGreenlet::live_count() { return t_live_greenlets; }

RawGreenlet::RawGreenlet(Hub* hub, Kind kind) : hub_(hub), kind_(kind) {
  if (kind == Kind::kSpawned) {
    ++t_live_greenlets;
    id_ = hub->next_greenlet_id();
  }
}

void RawGreenlet::MakeDefaultName() const {
  name_ = absl::StrCat("Greenlet-", id_);
}

std::string RawGreenlet::name_snapshot() const {
  if (!name_.empty() || kind_ != Kind::kSpawned) return name_;
  return absl::StrCat("Greenlet-", id_);
}

RawGreenlet::~RawGreenlet() {
  if (kind_ == Kind::kSpawned) --t_live_greenlets;
}

RawGreenlet* getcurrent() { return get_hub()->current(); }

namespace internal {
bool CurrentGreenletGuard(const void* addr, char* name, size_t name_size,
                          size_t* size) {
  Hub* hub = get_hub_if_exists();
  if (hub == nullptr) return false;
  const RawGreenlet* g = hub->current();
  const Stack& s = g->stack_;
  if (s.guard == nullptr) return false;
  // A large frame can jump past the guard page; accept a little below it.
  const char* a = static_cast<const char*>(addr);
  if (a < s.guard - 64 * 1024 || a >= s.base) return false;
  // No allocation here (a signal handler): copy the name, or format the
  // default one that was never made.
  if (!g->name_.empty() || g->kind_ != RawGreenlet::Kind::kSpawned) {
    snprintf(name, name_size, "%s", g->name_.c_str());
  } else {
    snprintf(name, name_size, "Greenlet-%llu",
             static_cast<unsigned long long>(g->id_));
  }
  *size = s.size;
  return true;
}
}  // namespace internal

namespace {

class FunctionGreenlet final : public RawGreenlet {
 public:
  FunctionGreenlet(Hub* hub, std::function<void()> fn)
      : RawGreenlet(hub, Kind::kSpawned), fn_(std::move(fn)) {
    start_.owner = this;
  }
  void Schedule() {
    pending_ = shared_from_this();
    hub()->run_callback(&start_);
  }

 protected:
  void Run() override {
    std::function<void()> fn = std::move(fn_);
    fn();
  }

 private:
  struct StartCallback : Callback {
    StartCallback() : Callback(&Start, &Discard) {}
    FunctionGreenlet* owner = nullptr;
  };
  static void Start(Callback* cb) {
    FunctionGreenlet* g = static_cast<StartCallback*>(cb)->owner;
    std::shared_ptr<RawGreenlet> keep = std::move(g->pending_);
    g->hub()->resume(g);
  }
  static void Discard(Callback* cb) {
    static_cast<StartCallback*>(cb)->owner->pending_.reset();
  }

  StartCallback start_;
  std::shared_ptr<RawGreenlet> pending_;
  std::function<void()> fn_;
};

}  // namespace

std::shared_ptr<RawGreenlet> spawn_raw(std::function<void()> fn) {
  if (!fn) throw std::invalid_argument("spawn_raw: the function is empty");
  Hub* hub = get_hub();
  auto g = std::make_shared<FunctionGreenlet>(hub, std::move(fn));
  g->Schedule();
  hub->Emit(HubEventKind::kSpawn, g->id(),
            static_cast<int64_t>(hub->current()->id()), 0, g.get());
  return g;
}

void internal::RunInNewGreenlet(Hub* hub, std::function<void()> fn) {
  auto g = std::make_shared<FunctionGreenlet>(hub, std::move(fn));
  hub->Emit(HubEventKind::kSpawn, g->id(),
            static_cast<int64_t>(hub->current()->id()), 0, g.get());
  hub->resume(g.get());
}

}  // namespace gevent
