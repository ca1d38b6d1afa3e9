// The hub's timers: start, sleep()'s start, stop, and the loop's timer
// phase (FireTimers: the due batch, tie decisions, prefetching ahead).
#include "runtime/hub.h"

#include "absl/base/optimization.h"

#include <utility>
#include <vector>

#include "runtime/internal/hub_inline.h"
#include "runtime/raw_greenlet.h"

namespace gevent {

// ---- timers

// Puts `t` in the timer queue, `after_ns` (negative: 0) from the clock's
// reading now; returns the delay it used. (Inlined into both starts.)
__attribute__((always_inline)) inline int64_t Hub::Arm(Timer* t, int64_t after_ns,
                                                      bool ref, int priority) {
  if (t->hub_ != nullptr) stop(t);
  if (after_ns < 0) after_ns = 0;
  now_ns_ = backend_->NowNs();
  int64_t deadline = AddNanos(now_ns_, after_ns);
  if (delays_timers_ && !t->exact_) {
    int64_t late = policy_->TimerLatenessNs(*this);
    if (late > 0) deadline = AddNanos(deadline, late);
  }
  t->TimerEntry::deadline = deadline;
  t->priority = priority;
  t->seq = ++timer_seq_;
  t->owner = static_cast<uint32_t>(current_->id_);
  t->ref_ = ref;
  t->hub_ = this;
  if (ref) ++ref_timers_;
  timers_.push(t);
  return after_ns;
}

void Hub::start(Timer* t, absl::Duration after, bool ref, int priority) {
  const int64_t after_ns = Arm(t, ToNanos(after), ref, priority);
  if (observing_) {
    EmitTimerStarted(current_->id(), t->seq, after_ns);
  }
}

void Hub::StartSleep(Timer* t, int64_t ns, bool ref) {
  if (observing_) EmitSleep(current_->id(), ns, ref);
  const int64_t after_ns = Arm(t, ns, ref, 0);
  if (observing_) EmitTimerStarted(current_->id(), t->seq, after_ns);
}

// Out of line: the lane's common path keeps its registers.
__attribute__((noinline, cold)) void Hub::StartSleepOneByOne(Timer* t, int64_t ns,
                                                             bool ref) {
  EmitSleep(current_->id(), ns, ref);
  const int64_t after_ns = Arm(t, ns, ref, 0);
  EmitTimerStarted(current_->id(), t->seq, after_ns);
}

// Through the lane, both events once the timer is armed, with the times
// they had (the sleep's is the clock before Arm reads it).
void Hub::StartSleepWithLane(Timer* t, int64_t ns, bool ref) {
  if (!sleeps_through_lane()) {
    StartSleepOneByOne(t, ns, ref);
    return;
  }
  const uint64_t g = current_->id();
  const int64_t sleep_ns = now_ns_;
  if (digest_ != nullptr) digest_->Fold(HubEventKind::kSleep, g, ns, ref ? 1 : 0, 0, sleep_ns);
  const int64_t after_ns = Arm(t, ns, ref, 0);
  if (lane_->TakeSleepStart(g, ns, ref ? 1 : 0, sleep_ns, t->seq, now_ns_)) return;
  observer_->OnHubEvent(HubEvent{HubEventKind::kSleep, sleep_ns, g, ns, ref ? 1 : 0});
  EmitTimerStarted(g, t->seq, after_ns);
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
        tie_owners_.clear();
        for (size_t o = k; o < j; ++o) tie_owners_.push_back(all[o]->owner);
        size_t pick = k + Decide(Decision::kTimerTie, n, tie_owners_.data());
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
    CallWatcher([t] { t->fn_(t); });
  }
  return true;
}

}  // namespace gevent
