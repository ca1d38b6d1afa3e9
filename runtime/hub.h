// The hub: one event loop per thread that schedules that thread's greenlets.
//
// The greenlet layer talks to the hub and to nothing else. The hub owns:
//  - the current time (a backend's clock: monotonic, or virtual in sim/);
//  - a FIFO of callbacks, run in the order they were added;
//  - timers, ordered by deadline (then priority, then start order), each
//    referenced (keeps the loop alive) or not;
//  - I/O readiness watchers on file descriptors;
//  - idle watchers, run only when nothing else is pending;
//  - a wake-up that any thread may call (run_callback_threadsafe);
//  - fork watchers, run in the child after reinit();
//  - the switch between greenlets: a blocked greenlet waits in the hub, and
//    only the hub resumes greenlets (a blocking greenlet may run the hub's
//    next steps itself and switch straight to the next one, the hand-off,
//    with exactly the same effect; see hand_off.cc).
//
// One loop iteration follows gevent/libev: the callback FIFO runs (for at most
// the switch interval, so callbacks cannot starve I/O), then the timers that
// expired, in deadline order, then I/O readiness, then idle watchers if
// nothing else ran. The loop stops when no referenced work is left; a
// greenlet that is still blocked then gets LoopExit in the main greenlet.
//
// Everything that every backend shares lives in this class. Three seams
// plug into it:
//  - the backend it owns (hub_backend.h): the clock, the wait for events,
//    the wake-up, I/O interest (epoll, or the simulator's virtual clock);
//  - the scheduling policy (scheduling_policy.h): who decides the orders
//    the real world leaves open (the default order, the simulator's seed,
//    an explorer);
//  - an observer (hub_observer.h): who sees every event (traces).
//
// Watchers (watchers.h) are owned by the caller and linked into the hub
// intrusively, so arming one never allocates. All hub methods must be
// called on the hub's own thread, except run_callback_threadsafe() and the
// snapshots documented as readable from any thread. The objects bound to a
// hub (primitives, greenlets, sockets) check it: docs/api.md, "Threads".
#ifndef GEVENTPP_RUNTIME_HUB_H_
#define GEVENTPP_RUNTIME_HUB_H_

#include <signal.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/optimization.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/time/time.h"
#include "runtime/internal/context.h"
#include "runtime/internal/intrusive_list.h"
#include "runtime/nanos.h"
#include "runtime/internal/stack_pool.h"
#include "runtime/internal/timer_queue.h"
#include "runtime/hub_backend.h"
#include "runtime/event_digest.h"
#include "runtime/event_lane.h"
#include "runtime/exceptions.h"
#include "runtime/hub_observer.h"
#include "runtime/scheduling_policy.h"
#include "runtime/watchers.h"

// Emit and its typed forms are inlined wherever they are used: the
// simulator reports (hashes) every event, so a call would be on its every
// switch.
#define GEVENT_ALWAYS_INLINE __attribute__((always_inline)) inline

namespace gevent {

class Hub;
class RawGreenlet;
class Waitable;
namespace internal {
struct ResumeLink;
struct FinishWatch;
}  // namespace internal

namespace internal {
// Thrown into the hub greenlet to unwind it when the hub is destroyed. Code
// that runs user callbacks in the hub and catches (...) must rethrow it.
struct HubShutdown {};
}  // namespace internal

// Called with the greenlet (nullptr for a hub callback) and the error that
// escaped it. The default prints "<name> failed with <type>: <what>".
using ErrorHandler =
    std::function<void(const RawGreenlet* where, std::exception_ptr error)>;

class Hub {
 public:
  // A hub on `backend`, with the default order (no scheduling policy set).
  explicit Hub(std::unique_ptr<HubBackend> backend);
  // Destroys the hub (see destroy()) and then its backend.
  virtual ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // A short name of the backend: "epoll" or "sim".
  const char* backend_name() const { return backend_->name(); }
  HubBackend& backend() const { return *backend_; }
  // Unique per process, never reused.
  uint64_t id() const { return id_; }
  // The Linux thread id (gettid()) of the thread the hub runs on: the one
  // that made it, or last installed it (exchange_hub). For error messages.
  int thread_id() const { return thread_id_; }

  // ---- Time ----
  // The current time of this hub's clock (monotonic or virtual).
  absl::Time now() { return TimeFromNanos(now_ns_ = backend_->NowNs()); }
  // The time cached at the start of the current loop iteration (or by the
  // last now()).
  absl::Time loop_time() const { return TimeFromNanos(now_ns_); }
  // The same, in nanoseconds (runtime/nanos.h).
  int64_t loop_time_ns() const { return now_ns_; }

  // ---- Callbacks ----
  // Appends `cb` to the FIFO. Runs once, in the hub, in FIFO order.
  void run_callback(Callback* cb) {
    if (cb->hub_ != nullptr) return;  // already pending
    cb->hub_ = this;
    callbacks_.push_back(cb);
  }
  void cancel(Callback* cb);
  // Appends a callback that owns `fn`. Returns a handle that can cancel it
  // while it is still pending.
  class CallbackHandle {
   public:
    CallbackHandle() = default;
    bool pending() const;
    void stop();

   private:
    friend class Hub;
    std::weak_ptr<struct OwnedCallbackState> state_;
  };
  CallbackHandle run_callback(std::function<void()> fn);
  // Safe from any thread: queues `fn` for this hub and wakes it. Keeps the
  // loop alive until it has run.
  void run_callback_threadsafe(std::function<void()> fn);
  // The same, for work that left the hub's thread with `tag`, a number
  // next_foreign_tag() gave there (0: none). A trace records each callback
  // taken with its tag, so that a replay takes the same callback at the
  // same point even when the threads finish in another order (ThreadPool
  // tags its tasks' results).
  void run_callback_threadsafe(std::function<void()> fn, uint64_t tag);
  // A new tag (1, 2, ... per hub, in the order asked). Hub's thread only
  // (elsewhere InvalidThreadUseError).
  uint64_t next_foreign_tag();

  // ---- Timers ----
  // Arms `t` to fire `after` from now (negative means zero). A started timer
  // is restarted.
  void start(Timer* t, absl::Duration after, bool ref = true, int priority = 0);
  // sleep()'s timer: reports that the current greenlet sleeps `after` (> 0)
  // and starts `t` as start(t, after, ref) does, with the same events.
  void start_sleep(Timer* t, absl::Duration after, bool ref) {
    if (ABSL_PREDICT_FALSE(lane_ != nullptr)) {
      StartSleepWithLane(t, ToNanos(after), ref);
    } else {
      StartSleep(t, ToNanos(after), ref);
    }
  }
  void stop(Timer* t);

  // ---- I/O ----
  void start(IoWatcher* w, bool ref = true);
  void stop(IoWatcher* w);

  // ---- Idle ----
  void start(IdleWatcher* w);
  void stop(IdleWatcher* w);

  // ---- Signals ----
  // Blocks `signum` in the calling thread and delivers it to `w` through the
  // hub. Throws std::invalid_argument for a signal that cannot be handled
  // (SIGKILL, SIGSTOP, out of range).
  void start(SignalWatcher* w);
  void stop(SignalWatcher* w);

  // ---- Fork ----
  void start(ForkWatcher* w);
  void stop(ForkWatcher* w);
  // To be called in the child after fork(): the backend renews its kernel
  // objects (epoll, eventfd, ...) and the fork watchers run.
  void reinit();

  // ---- Liveness ----
  // References for work on other threads (a ThreadPool task, a thread that
  // will call run_callback_threadsafe() or Event::set()): they keep the loop
  // running. On the simulator they also hold the virtual clock: while any is
  // held, time does not move on; the loop waits for the other thread's
  // callback and runs it at the virtual time the wait began (see
  // docs/simulation.md, "Work on other threads").
  void ref() { ++extra_refs_; }
  void unref() { --extra_refs_; }
  // References held by work inside this loop that the loop itself will
  // complete (a simulated network delivery someone waits for): they keep
  // the loop running, but do not hold a virtual clock.
  void ref_local() { ++local_refs_; }
  void unref_local() { --local_refs_; }
  // True if the loop has referenced work left.
  bool alive() const;

  // ---- Errors ----
  void set_error_handler(ErrorHandler handler);
  // Reports an error that escaped `where` (nullptr: a hub callback).
  void handle_error(const RawGreenlet* where, std::exception_ptr error);

  // ---- Observers ----
  void set_observer(HubObserver* observer) {
    observer_ = observer;
    observe_callbacks_ = observer != nullptr && observer->WantsCallbacks();
    observe_waits_ = observer != nullptr && observer->WantsBeforeWait();
    lane_ = observer != nullptr ? observer->lane() : nullptr;
    observing_ = observer_ != nullptr || digest_ != nullptr;
  }
  HubObserver* observer() const { return observer_; }
  // True if events are being observed (by an observer or the backend).
  bool observing() const { return observing_; }
  // Always inlined: the simulator reports (hashes) every event, so a call
  // here would be on its every switch.
  __attribute__((always_inline)) void Emit(HubEventKind kind, uint64_t greenlet = 0, int64_t a = 0,
            int64_t b = 0, const RawGreenlet* who = nullptr, int64_t c = 0,
            const char* text = nullptr) {
    if (!observing_) return;
    if (digest_ != nullptr) digest_->Fold(kind, greenlet, a, b, c, now_ns_);
    if (lane_ != nullptr && lane_->Take(kind, greenlet, a, b, c, now_ns_)) return;
    if (observer_ != nullptr &&
        (kind != HubEventKind::kCallback || observe_callbacks_)) {
      HubEvent e{kind, now_ns_, greenlet, a, b, c, who, text};
      observer_->OnHubEvent(e);
    }
  }

  // Typed forms of Emit, one per kind that code outside the loop reports.
  GEVENT_ALWAYS_INLINE void EmitSpawn(const RawGreenlet* g, uint64_t g_id, uint64_t parent_id) {
    Emit(HubEventKind::kSpawn, g_id, static_cast<int64_t>(parent_id), 0, g);
  }
  GEVENT_ALWAYS_INLINE void EmitFinish(const RawGreenlet* g, uint64_t g_id, HubEvent::Finish how) {
    Emit(HubEventKind::kFinish, g_id, static_cast<int64_t>(how), 0, g);
  }
  GEVENT_ALWAYS_INLINE void EmitKill(uint64_t g_id) { Emit(HubEventKind::kKill, g_id); }
  GEVENT_ALWAYS_INLINE void EmitTimeoutFired(uint64_t g_id) { Emit(HubEventKind::kTimeoutFired, g_id); }
  GEVENT_ALWAYS_INLINE void EmitNote(const RawGreenlet* g, uint64_t g_id, const char* text) {
    Emit(HubEventKind::kNote, g_id, 0, 0, g, 0, text);
  }

  // ---- Event digest (event_digest.h) ----
  // Folds every event into `digest` (not owned; it must outlive the hub or
  // be removed with nullptr). The simulator installs one.
  void set_event_digest(EventDigest* digest) {
    digest_ = digest;
    observing_ = observer_ != nullptr || digest_ != nullptr;
  }
  const EventDigest* event_digest() const { return digest_; }
  // ---- Scheduling policy (scheduling_policy.h) ----
  // Asks the scheduling policy to choose one of `n` options at decision
  // point `d`, and reports the choice. n < 2 is not a decision: returns 0.
  // `owners`: see DecisionPoint (for kTimerJitter the hub passes the
  // current greenlet itself).
  size_t Decide(Decision d, size_t n, const uint64_t* owners = nullptr) {
    return Decide(DecisionPoint{d, n, owners});
  }
  // The same for a point with more to say (DecisionPoint's hosts).
  size_t Decide(DecisionPoint point);
  // Who decides the orders the real world leaves open from now on; nullptr
  // restores the default order. Not owned: it must outlive its use. Its
  // perturbs() and delays_timers() are read here: set it again after they
  // change.
  void set_scheduling_policy(SchedulingPolicy* policy);
  SchedulingPolicy* scheduling_policy() const { return policy_; }
  // True if the policy is asked at ties (timer ties, I/O and wake-up order).
  bool perturbs() const { return perturbs_; }

  // ---- Blocking detection (see monitor.h) ----
  // Switches made so far; readable from any thread.
  uint64_t switch_count() const {
    return switch_count_.load(std::memory_order_relaxed);
  }
  // The greenlet running now, as seen from another thread (a snapshot).
  const RawGreenlet* running_greenlet() const {
    return running_now_.load(std::memory_order_relaxed);
  }
  // True while the loop waits for events (the hub is idle, not blocked).
  bool polling() const { return polling_.load(std::memory_order_relaxed); }
  // While on, the hub measures (on its own clock) the longest stretch a
  // greenlet ran without switching. Calls nest.
  void track_runs(bool on);
  absl::Duration longest_run() const { return longest_run_; }
  const std::string& longest_runner() const { return longest_runner_; }

  // ---- Greenlets ----
  // The greenlet running now (the main greenlet, the hub, or a spawned one).
  RawGreenlet* current() const { return current_; }
  RawGreenlet* main_greenlet() const { return main_.get(); }
  bool in_hub() const { return current_ == hub_greenlet_.get(); }
  // Blocks the current greenlet until the hub resumes it. `what` names what
  // it waits on (for LoopExit and deadlock reports). Throws what the resumer
  // asked to throw, LoopExit in the main greenlet when nothing can wake it,
  // and BlockingSwitchOutError when called from a hub callback.
  void wait(const char* what, const RawGreenlet* waiting_for = nullptr);
  // From the hub only: switches into `g` now (starting it if it has not run)
  // and returns when it blocks or finishes. With `error`, `g` resumes by
  // throwing it. Does nothing if `g` is dead.
  void resume(RawGreenlet* g);
  void resume(RawGreenlet* g, std::exception_ptr error);
  // sleep(0): puts the current greenlet at the back of the callback FIFO and
  // switches to the hub, so every greenlet that is ready runs first.
  void yield();
  // Every greenlet of this hub that has started running and not finished, in
  // start order, plus the main greenlet if it is blocked.
  std::vector<const RawGreenlet*> blocked_greenlets() const;
  // A one-line-per-greenlet report of what each blocked greenlet waits on.
  std::string deadlock_report() const;

  // Next per-hub greenlet id (deterministic: 1, 2, 3, ...).
  uint64_t next_greenlet_id() { return ++greenlet_seq_; }
  internal::StackPool& stack_pool() { return *stacks_; }
  // Gives the memory of idle pooled stacks back to the kernel, keeping the
  // most recently used ones warm. Returns how many stacks were trimmed.
  size_t trim_stacks() { return stacks_->Trim(); }

  // Hand-offs (see docs/design.md): a blocking greenlet runs the hub's next
  // steps itself when it can and switches straight to the next greenlet.
  // The schedule and every event are the same either way; off, every switch
  // goes through the hub (for tests that check exactly that, and to
  // measure).
  void set_hand_offs(bool on) { hand_offs_ = on; }
  bool hand_offs() const { return hand_offs_; }

  // The longest time the callback FIFO may run before the loop polls I/O.
  absl::Duration switch_interval() const { return switch_interval_; }
  void set_switch_interval(absl::Duration d) { switch_interval_ = d; }

  // Kills every greenlet still alive on this hub and stops the loop for
  // good. The hub cannot be used afterwards; destroy_hub() also calls it.
  //
  // Each greenlet gets GreenletExit, and again each time it catches it and
  // blocks, for up to kDestroyKillRounds rounds, so that its stack unwinds
  // (its destructors run). One still alive after that (it catches
  // GreenletExit for ever) is abandoned, as gevent's hub.destroy() leaves
  // every greenlet: it is marked dead and killed ("abandoned by
  // Hub::destroy"), its stack is not unwound (what the objects on it own
  // is never freed), and the hub drops its references, so the greenlet
  // object is freed with its last handle. A greenlet whose start was still
  // queued ends killed without running.
  void destroy();
  static constexpr int kDestroyKillRounds = 100;
  bool destroyed() const { return destroyed_; }

  // Runs the loop in the calling greenlet (which must be the hub greenlet)
  // until no referenced work is left.
  void run_loop();

 protected:
  // A hub configured further by a subclass (sim::SimHub), which must call
  // ShutdownForDestruction() from its destructor while its own members
  // still exist.
  void ShutdownForDestruction();
  // The backend decides where work from other threads is taken
  // (HubBackend::ForeignWorkDue; a replay). A backend that defers it only.
  void set_replays_foreign_work(bool on) { replays_foreign_ = on && defers_foreign_; }

 private:
  friend class RawGreenlet;
  friend class Waitable;
  friend struct internal::ResumeLink;
  friend struct internal::FinishWatch;
  friend class Callback;
  friend class Timer;
  friend class IoWatcher;
  friend class IdleWatcher;
  friend class ForkWatcher;
  struct FdWatchers {
    internal::IntrusiveList<IoWatcher> watchers;
    uint32_t mask = 0;
  };

  void RunOnce();
  void RunCallbacks();
  bool FireTimers();
  bool DispatchIo();
  bool DispatchIoBatches();
  void DispatchReady(const std::vector<HubBackend::IoEvent>& ready);
  void ShuffleIfPerturbed(std::vector<HubBackend::IoEvent>* ready);
  void RunIdle();
  // Moves the callbacks other threads sent into the FIFO.
  void DrainThreadsafe();
  // A replay took the callback from other threads with `tag` here
  // (HubBackend::ForeignWorkDue): waits for it, then takes it; false when
  // it cannot come (the backend reported it).
  bool TakeReplayedForeignWork(uint64_t tag);
  // Takes the pending callback with `tag`, if one came.
  bool TakeForeignCallback(uint64_t tag);
  // With a backend that defers foreign work, at a point where the clock
  // would move: takes what other threads sent, or else waits for the work
  // the hub is referenced for (ref()).
  void TakeForeignWork();
  uint32_t MaskOf(const FdWatchers& f) const;
  static void HubGreenletMain(void* hub);
  void SwitchToHub();
  static void CheckStackOnSwitchOut(const RawGreenlet* g);
  static void PrefetchCanary(const RawGreenlet* g);
  // `tail`: switching into `g` is the last thing the current step does (see
  // tail_resumed_); `pass`: that step is this notification pass.
  void SwitchInto(RawGreenlet* g, bool tail = false, Waitable* pass = nullptr,
                  bool* pass_alive = nullptr);
  // The callback sleep(0) queues: resumes `g`, and does nothing else.
  struct YieldCallback : Callback {
    YieldCallback(Hub* h, RawGreenlet* w) : Callback(&Fire), hub(h), g(w) {}
    static void Fire(Callback* c);
    Hub* hub;
    RawGreenlet* g;
  };
  // ---- The hand-off (see hand_off.cc) ----
  // The hub frame is in FireTimers' loop (running firing_).
  bool firing_now_ = false;
  bool TryTimerHandOff(RawGreenlet* g);
  friend class ResumeTimer;
  void ResumeFromTimer(RawGreenlet* g);
  // The greenlet that the current step of the callback pass switched into
  // as its last action: by a YieldCallback, or by a ResumeLink of a
  // notification pass (then open_pass_ is that pass's Waitable and
  // open_pass_alive_ turns false if it is destroyed). When that greenlet
  // blocks, whatever the hub would do next up to the next switch can be done
  // in the greenlet itself, ending in a switch straight to the next greenlet.
  RawGreenlet* tail_resumed_ = nullptr;
  Waitable* open_pass_ = nullptr;
  bool* open_pass_alive_ = nullptr;
  // The alive flag of a pass that a greenlet runs in place (the hub frame's
  // own pass keeps its flag in its frame).
  bool in_place_alive_ = false;
  // The pass that Waitable::Run is running in the hub frame, if any.
  bool* running_pass_alive_ = nullptr;
  // Set when a greenlet took over (and finished) the pass the hub frame was
  // running: the frame returns at once when it resumes.
  bool frame_abandoned_ = false;
  bool hand_offs_ = true;
  // Callbacks run in the current pass (hand-offs count as the callbacks they
  // stand for).
  uint64_t pass_count_ = 0;
  // Runs the rest of a notification pass that a greenlet started in place
  // but could not finish (its next link must run in the hub). Not reported
  // as a callback: to observers it is the same callback going on.
  struct PassContinuation : Callback {
    PassContinuation() : Callback(&Fire) {}
    static void Fire(Callback* c);
    Waitable* pass = nullptr;
    bool alive = false;
  };
  PassContinuation continuation_;
  bool TryHandOff(RawGreenlet* g);
  // What ContinuePassInPlace did with the open pass.
  enum class PassStep : uint8_t {
    kEnded,      // the pass ended here
    kSwitched,   // `g` switched to the next waiter (and has been resumed since)
    kGoOnInHub,  // the next link must run in the hub
  };
  PassStep ContinuePassInPlace(RawGreenlet* g);
  // A greenlet takes over the pass the hub frame is running.
  void TakeOverFramePass(Waitable* w);
  // Around each link a pass notifies in the hub frame (Waitable::RunPass):
  // true from LeavePassLink if a greenlet resumed by the link took the pass
  // over (and finished it): the frame must not touch it again.
  void EnterPassLink(bool* pass_alive) { running_pass_alive_ = pass_alive; }
  bool LeavePassLink() {
    running_pass_alive_ = nullptr;
    if (!frame_abandoned_) return false;
    frame_abandoned_ = false;
    return true;
  }
  // The callback `cb` resumes a greenlet yielding in sleep(0).
  static bool IsYield(const Callback* cb) { return cb->fn_ == &YieldCallback::Fire; }
  void SwitchDirect(RawGreenlet* from, RawGreenlet* to);
  void HandPassBack();
  void ResumeFromPass(RawGreenlet* g, Waitable* pass);
  void StartAndSwitchInto(RawGreenlet* g, std::exception_ptr error);
  [[noreturn]] static void RethrowResumeError(RawGreenlet* g);
  RawGreenlet* EnsureHubGreenletSlow();
  void ReleaseFinished();
  void ReportDefault(const RawGreenlet* where, std::exception_ptr error);
  // Calls a watcher's function: an error that escapes it (a std::exception
  // or a gevent BaseException) is reported to the error handler (once) and
  // the loop goes on. Other types pass, as the hub's own shutdown
  // (HubShutdown) must: catching and rethrowing it here would unwind the
  // hub's stack twice, a third of a fresh simulation's cost.
  template <typename F>
  void CallWatcher(F&& call) {
    try {
      call();
    } catch (const std::exception&) {
      handle_error(nullptr, std::current_exception());
    } catch (const BaseException&) {
      handle_error(nullptr, std::current_exception());
    }
  }
  void HubLoop();
  void ReleaseQueued();
  std::string LoopExitMessage() const;

  const uint64_t id_;
  int thread_id_;
  friend std::unique_ptr<Hub> exchange_hub(std::unique_ptr<Hub> hub);
  const std::unique_ptr<HubBackend> backend_;
  SchedulingPolicy* policy_;
  bool perturbs_ = false;
  // The backend's defers_foreign_work(), read once (a virtual clock).
  bool defers_foreign_ = false;
  // set_replays_foreign_work(); and whether the backend said where foreign
  // work is taken at the top of this loop iteration (ForeignWorkDue() >= 0:
  // the clock's own rule takes none).
  bool replays_foreign_ = false;
  bool foreign_by_replay_ = false;
  bool delays_timers_ = false;
  int64_t now_ns_ = 0;
  internal::IntrusiveList<Callback> callbacks_;
  internal::TimerQueue timers_;
  // The batch of due timers FireTimers is firing, in order, from
  // firing_next_ on; a timer stopped meanwhile leaves a null behind.
  std::vector<Timer*> firing_;
  std::vector<uint64_t> tie_owners_;  // a tie decision's options' owners
  size_t firing_next_ = 0;
  Timer* FiringFront();
  Timer* FiringPop();
  void PrefetchFiringAhead();
  void MarkFired(Timer* t);
  size_t ref_timers_ = 0;
  uint64_t timer_seq_ = 0;
  absl::node_hash_map<int, FdWatchers>  // nodes stay put: lists are intrusive
  fds_;
  size_t ref_io_ = 0;
  uint64_t io_round_ = 0;
  std::vector<HubBackend::IoEvent> io_ready_;
  internal::IntrusiveList<IdleWatcher> idle_;
  internal::IntrusiveList<IdleWatcher> idle_firing_;
  internal::IntrusiveList<ForkWatcher> fork_;
  internal::IntrusiveList<SignalWatcher> signals_;
  int signal_fd_ = -1;
  sigset_t blocked_by_hub_ = {};  // signals this hub blocked for its watchers
  bool blocked_any_ = false;      // blocked_by_hub_ is not empty
  void UpdateSignalFd();
  void DispatchSignals();
  int64_t extra_refs_ = 0;
  int64_t local_refs_ = 0;

  std::mutex threadsafe_mu_;
  struct ForeignCallback {
    std::function<void()> fn;
    uint64_t tag = 0;
  };
  std::vector<ForeignCallback> threadsafe_;
  uint64_t foreign_tags_ = 0;  // the last tag given
  // Replays only: tags given whose callback has not been taken.
  absl::flat_hash_set<uint64_t> outstanding_tags_;
  std::atomic<int64_t> threadsafe_pending_{0};

  absl::Duration switch_interval_ = absl::Milliseconds(5);
  ErrorHandler error_handler_;
  HubObserver* observer_ = nullptr;
  HubEventLane* lane_ = nullptr;  // observer_'s, if it has one
  bool observing_ = false;
  EventDigest* digest_ = nullptr;
  bool observe_callbacks_ = false;
  bool observe_waits_ = false;
  // Typed forms of Emit for the loop's own events.
  GEVENT_ALWAYS_INLINE void EmitSwitch(const RawGreenlet* g, uint64_t g_id) {
    Emit(HubEventKind::kSwitch, g_id, 0, 0, g);
  }
  GEVENT_ALWAYS_INLINE void EmitSleep(uint64_t g_id, int64_t ns, bool ref) {
    Emit(HubEventKind::kSleep, g_id, ns, ref ? 1 : 0);
  }
  GEVENT_ALWAYS_INLINE void EmitTimerStarted(uint64_t g_id, uint64_t seq, int64_t delay_ns) {
    Emit(HubEventKind::kTimerStarted, g_id, static_cast<int64_t>(seq), delay_ns);
  }
  GEVENT_ALWAYS_INLINE void EmitTimerFired(uint64_t seq) {
    Emit(HubEventKind::kTimerFired, 0, static_cast<int64_t>(seq));
  }
  GEVENT_ALWAYS_INLINE void EmitTimeAdvanced(int64_t by_ns) { Emit(HubEventKind::kTimeAdvanced, 0, by_ns); }
  GEVENT_ALWAYS_INLINE void EmitIo(int fd, uint32_t revents) { Emit(HubEventKind::kIo, 0, fd, revents); }
  GEVENT_ALWAYS_INLINE void EmitDecision(Decision d, size_t n, size_t pick) {
    Emit(HubEventKind::kDecision, 0, static_cast<int64_t>(n), static_cast<int64_t>(pick),
         nullptr, static_cast<int64_t>(d));
  }
  int64_t Arm(Timer* t, int64_t after_ns, bool ref, int priority);
  void StartSleep(Timer* t, int64_t ns, bool ref);
  void StartSleepWithLane(Timer* t, int64_t ns, bool ref);
  void StartSleepOneByOne(Timer* t, int64_t ns, bool ref);
  // The observer's lane takes a sleep with its timer's start as one record
  // (not a sleep of the hub's own, nor one a timer lateness decision would
  // come between).
  bool sleeps_through_lane() const {
    return lane_ != nullptr && !delays_timers_ && !in_hub();
  }

  std::shared_ptr<internal::StackPool> stacks_ =
      internal::StackPool::ForThisThread();
  std::shared_ptr<RawGreenlet> main_;
  std::shared_ptr<RawGreenlet> hub_greenlet_;
  RawGreenlet* hub_g_ = nullptr;  // hub_greenlet_.get(), once made
  internal::EhGlobals* const eh_ = internal::ThreadEhGlobals();
  RawGreenlet* current_ = nullptr;
  RawGreenlet* finished_ = nullptr;  // finished greenlet whose stack to free
  internal::IntrusiveList<internal::ListNode> running_;  // started greenlets
  // Armed FinishWatches (killall over raw greenlets), woken by the next
  // greenlet that finishes.
  internal::IntrusiveList<internal::FinishWatch> finish_watches_;
  void WakeFinishWatches();
  uint64_t greenlet_seq_ = 0;
  bool destroyed_ = false;
  bool never_wakes_ = false;  // run_loop stops: only never-firing timers left
  bool destroying_ = false;
  std::atomic<uint64_t> switch_count_{0};
  std::atomic<const RawGreenlet*> running_now_{nullptr};
  std::atomic<bool> polling_{false};
  int tracking_runs_ = 0;
  absl::Time run_started_;
  absl::Duration longest_run_;
  std::string longest_runner_;
  void NoteSwitch(RawGreenlet* from, RawGreenlet* to);
};

// Watchers stop themselves when destroyed (inline: a Waiter or a sleep()
// makes and destroys one on every blocking call).
inline Callback::~Callback() {
  if (hub_ != nullptr) hub_->cancel(this);
}
inline Timer::~Timer() {
  if (hub_ != nullptr) hub_->stop(this);
}
inline IoWatcher::~IoWatcher() {
  if (hub_ != nullptr) hub_->stop(this);
}
inline IdleWatcher::~IdleWatcher() {
  if (hub_ != nullptr) hub_->stop(this);
}
inline SignalWatcher::~SignalWatcher() {
  if (hub_ != nullptr) hub_->stop(this);
}
inline ForkWatcher::~ForkWatcher() {
  if (hub_ != nullptr) hub_->stop(this);
}

}  // namespace gevent

// The thread's hub and the backend registry: get_hub() and the rest.
#include "runtime/hub_registry.h"  // IWYU pragma: export

#endif  // GEVENTPP_RUNTIME_HUB_H_

