// The hub's watchers: what a caller arms to be called back by the loop.
//
// Callback (the FIFO), Timer (and ResumeTimer, sleep()'s), IoWatcher,
// IdleWatcher, SignalWatcher and ForkWatcher are owned by the caller and
// linked into the hub intrusively, so arming one never allocates. A watcher
// must be stopped (its destructor does it) before it is destroyed; each is
// armed with Hub::start (or Hub::run_callback) and stopped with Hub::stop
// (Hub::cancel), on the hub's own thread. Include runtime/hub.h to use them.
#ifndef GEVENTPP_RUNTIME_WATCHERS_H_
#define GEVENTPP_RUNTIME_WATCHERS_H_

#include <cstdint>

#include "absl/time/time.h"
#include "runtime/internal/intrusive_list.h"
#include "runtime/nanos.h"
#include "runtime/internal/timer_queue.h"

namespace gevent {

class Hub;
class RawGreenlet;

// A callback in the hub's FIFO. `fn` runs in the hub greenlet.
class Callback : private internal::ListNode {
 public:
  using Fn = void (*)(Callback*);
  // `discard`, if given, runs instead of `fn` when the hub is destroyed with
  // the callback still pending (to release what the callback would have).
  explicit Callback(Fn fn, Fn discard = nullptr) : fn_(fn), discard_(discard) {}
  ~Callback();
  Callback(const Callback&) = delete;
  Callback& operator=(const Callback&) = delete;
  bool pending() const { return hub_ != nullptr; }

 private:
  friend class Hub;
  friend class Waitable;  // knows its own notifier (Waitable::NotifiedBy)
  friend class internal::IntrusiveList<Callback>;
  Fn fn_;
  Fn discard_;
  Hub* hub_ = nullptr;
};

// A one-shot timer. `fn` runs in the hub greenlet when the deadline passes.
class Timer : private internal::TimerEntry {
 public:
  using Fn = void (*)(Timer*);
  explicit Timer(Fn fn, Fn discard = nullptr) : fn_(fn), discard_(discard) {}
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  // True from start until it fires or is stopped.
  bool active() const { return hub_ != nullptr; }
  absl::Time deadline() const {
    return TimeFromNanos(TimerEntry::deadline);
  }
  bool referenced() const { return ref_; }
  // An exact timer fires at its deadline: the scheduling policy adds no
  // lateness to it (for a simulated network, which decides its own delays).
  void set_exact(bool exact) { exact_ = exact; }
  // What it does when it fires: resume a sleeping greenlet (ResumeTimer,
  // which a greenlet may fire in place: the hand-off), or anything else.
  enum class Kind : uint8_t { kResumeGreenlet, kOther };
  Kind kind() const;  // inline, below

 private:
  friend class Hub;
  static constexpr uint32_t kNotFiring = ~uint32_t{0};
  Fn fn_;
  Fn discard_;
  Hub* hub_ = nullptr;
  bool ref_ = true;
  bool exact_ = false;
  // Its index in the hub's batch of due timers, while it is in it.
  uint32_t firing_at_ = kNotFiring;

 protected:
  // Memory the timer's function will use when it fires (a greenlet to
  // resume), prefetched while the timer before it runs; or nullptr.
  const void* touches_ = nullptr;
};

// A timer that, when it fires, resumes `g` if `g` is still waiting (what
// sleep() uses). The hub knows this kind: a greenlet that blocks while the
// hub is firing timers can fire the next one of these itself and switch
// straight to its greenlet (see hand_off.cc).
class ResumeTimer : public Timer {
 public:
  ResumeTimer(Hub* hub, RawGreenlet* g) : Timer(&Fire), owner_(hub), g_(g) {
    touches_ = g;
  }

 private:
  friend class Hub;
  friend class Timer;  // Timer::kind()
  static void Fire(Timer* t);
  Hub* owner_;
  RawGreenlet* g_;
};

inline Timer::Kind Timer::kind() const {
  return fn_ == &ResumeTimer::Fire ? Kind::kResumeGreenlet : Kind::kOther;
}

// Readiness of one file descriptor. `fn(watcher, revents)` runs in the hub.
class IoWatcher : private internal::ListNode {
 public:
  static constexpr uint32_t kRead = 1;
  static constexpr uint32_t kWrite = 2;
  // Edge-triggered: the watcher stays registered and fires when the
  // descriptor becomes ready again, not while it stays ready (the owner
  // keeps its own readiness bits: sockets).
  static constexpr uint32_t kEdge = 4;
  // In revents, for a watcher that asks for it: the peer hung up or the
  // descriptor has an error (EPOLLRDHUP, EPOLLHUP, EPOLLERR).
  static constexpr uint32_t kHangup = 8;
  using Fn = void (*)(IoWatcher*, uint32_t revents);
  IoWatcher(int fd, uint32_t events, Fn fn) : fd_(fd), events_(events), fn_(fn) {}
  ~IoWatcher();
  IoWatcher(const IoWatcher&) = delete;
  IoWatcher& operator=(const IoWatcher&) = delete;
  int fd() const { return fd_; }
  uint32_t events() const { return events_; }
  bool active() const { return hub_ != nullptr; }

 private:
  friend class Hub;
  friend class internal::IntrusiveList<IoWatcher>;
  int fd_;
  uint32_t events_;
  Fn fn_;
  Hub* hub_ = nullptr;
  bool ref_ = true;
  uint64_t round_ = 0;
};

// Runs when the loop has nothing else to do. Higher priority runs first; only
// the highest priority that has watchers runs in one iteration.
class IdleWatcher : private internal::ListNode {
 public:
  using Fn = void (*)(IdleWatcher*);
  explicit IdleWatcher(Fn fn, int priority = 0) : fn_(fn), priority_(priority) {}
  ~IdleWatcher();
  IdleWatcher(const IdleWatcher&) = delete;
  IdleWatcher& operator=(const IdleWatcher&) = delete;
  bool active() const { return hub_ != nullptr; }
  int priority() const { return priority_; }

 private:
  friend class Hub;
  friend class internal::IntrusiveList<IdleWatcher>;
  Fn fn_;
  int priority_;
  Hub* hub_ = nullptr;
};

// Runs when the process receives `signum` (delivered through a signalfd, so
// it runs in the hub like any watcher, never in a signal handler). Never
// keeps the loop alive.
class SignalWatcher : private internal::ListNode {
 public:
  using Fn = void (*)(SignalWatcher*);
  SignalWatcher(int signum, Fn fn) : signum_(signum), fn_(fn) {}
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;
  int signum() const { return signum_; }
  bool active() const { return hub_ != nullptr; }

 private:
  friend class Hub;
  friend class internal::IntrusiveList<SignalWatcher>;
  int signum_;
  Fn fn_;
  Hub* hub_ = nullptr;
};

// Runs in the child process after fork() + Hub::reinit(). Never keeps the
// loop alive.
class ForkWatcher : private internal::ListNode {
 public:
  using Fn = void (*)(ForkWatcher*);
  explicit ForkWatcher(Fn fn) : fn_(fn) {}
  ~ForkWatcher();
  ForkWatcher(const ForkWatcher&) = delete;
  ForkWatcher& operator=(const ForkWatcher&) = delete;
  bool active() const { return hub_ != nullptr; }

 private:
  friend class Hub;
  friend class internal::IntrusiveList<ForkWatcher>;
  Fn fn_;
  Hub* hub_ = nullptr;
};

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_WATCHERS_H_
