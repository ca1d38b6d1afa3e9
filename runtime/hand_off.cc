// Blocking (Hub::wait) and the hand-off: a blocking greenlet runs the hub's
// next steps itself and switches straight to the next greenlet (see the comment below, and
// docs/design.md). Tested in hand_off_test.cc.
#include "runtime/hub.h"

#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "runtime/exceptions.h"

#include "runtime/internal/hub_inline.h"
#include "runtime/internal/waiter.h"
#include "runtime/raw_greenlet.h"
#include "runtime/waitable.h"

namespace gevent {

// ---- blocking: wait() takes the hand-off when it can

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
  if (observing_) EmitSwitch(to, to->id_);
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

// The hub frame's pass goes on here: the frame will find it abandoned
// (LeavePassLink) and leave it alone.
void Hub::TakeOverFramePass(Waitable* w) {
  frame_abandoned_ = true;
  in_place_alive_ = true;
  w->WatchPass(&in_place_alive_);
  open_pass_alive_ = &in_place_alive_;
}

Hub::PassStep Hub::ContinuePassInPlace(RawGreenlet* g) {
  Waitable* w = open_pass_;
  // The hub frame's own pass (not yet taken over) keeps its flag there.
  bool frame_pass = open_pass_alive_ != &in_place_alive_;
  if (!*open_pass_alive_) {  // a link or a greenlet destroyed the object
    open_pass_ = nullptr;
    return PassStep::kEnded;
  }
  auto take_over = [&] {
    if (!frame_pass) return;
    TakeOverFramePass(w);
    frame_pass = false;
  };
  for (;;) {
    if (w->pass_over()) break;
    if (!w->NextLinkResumes()) {
      // The frame goes on with its own pass; a pass taken over goes back.
      if (!frame_pass) HandPassBack();
      return PassStep::kGoOnInHub;
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
    return PassStep::kSwitched;
  }
  // The pass is over.
  take_over();
  open_pass_ = nullptr;
  w->EndPass();  // may destroy `w`
  return PassStep::kEnded;
}

void Hub::HandPassBack() {
  Waitable* w = open_pass_;
  open_pass_ = nullptr;
  if (w == nullptr || open_pass_alive_ != &in_place_alive_) return;
  if (!in_place_alive_) return;  // destroyed: nothing left to notify
  // The rest of the pass runs in the hub, first in line.
  continuation_.pass = w;
  continuation_.alive = true;
  w->WatchPass(&continuation_.alive);
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
  if (next == nullptr || next->kind() != Timer::Kind::kResumeGreenlet) return false;
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
      const PassStep step = ContinuePassInPlace(g);
      if (step != PassStep::kEnded) return step == PassStep::kSwitched;
    }
    // The current callback is finished; the hub would count it, and check
    // its budget on every 256th.
    if (((pass_count_ + 1) & 255) == 0) return false;
    Callback* next = callbacks_.front();
    if (next == nullptr) return false;
    if (IsYield(next)) {
      RawGreenlet* to = static_cast<YieldCallback*>(next)->g;
      if (to->state_ != RawGreenlet::State::kActive) return false;
      callbacks_.pop_front();
      next->hub_ = nullptr;
      ++pass_count_;
      if (observing_) Emit(HubEventKind::kCallback);
      SwitchDirect(g, to);
      return true;
    }
    if (Waitable* w = Waitable::NotifiedBy(next)) {
      if (!w->NextLinkResumes()) return false;
      callbacks_.pop_front();
      next->hub_ = nullptr;
      ++pass_count_;
      if (observing_) Emit(HubEventKind::kCallback);
      w->BeginPass();
      in_place_alive_ = true;
      w->WatchPass(&in_place_alive_);
      open_pass_ = w;
      open_pass_alive_ = &in_place_alive_;
      continue;
    }
    return false;
  }
}

}  // namespace gevent
