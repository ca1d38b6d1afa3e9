// Inline parts of the hub that several of its files share (switching, the
// timer batch). Private to runtime/: included only by the hub's own .cc files.
#ifndef GEVENTPP_RUNTIME_INTERNAL_HUB_INLINE_H_
#define GEVENTPP_RUNTIME_INTERNAL_HUB_INLINE_H_

#include <cstdint>

#include "absl/base/optimization.h"
#include "runtime/hub.h"
#include "runtime/internal/overflow_guard.h"
#include "runtime/raw_greenlet.h"

namespace gevent {

inline Timer* Hub::FiringFront() {
  while (firing_next_ < firing_.size()) {
    if (Timer* t = firing_[firing_next_]) return t;
    ++firing_next_;
  }
  return nullptr;
}

inline Timer* Hub::FiringPop() {
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
      firing_[i]->kind() == Timer::Kind::kResumeGreenlet) {
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
  if (observing_) EmitTimerFired(t->seq);
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


inline void Hub::SwitchInto(RawGreenlet* g, bool tail, Waitable* pass,
                            bool* pass_alive) {
  RawGreenlet* hub = current_;
  current_ = g;
  tail_resumed_ = tail ? g : nullptr;
  open_pass_ = pass;
  open_pass_alive_ = pass_alive;
  NoteSwitch(hub, g);
  if (observing_) EmitSwitch(g, g->id_);
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

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_INTERNAL_HUB_INLINE_H_
