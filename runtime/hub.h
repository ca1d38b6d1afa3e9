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
//    with exactly the same effect; see TryHandOff in hub.cc).
//
// One loop iteration follows gevent/libev: the callback FIFO runs (for at most
// the switch interval, so callbacks cannot starve I/O), then the timers that
// expired, in deadline order, then I/O readiness, then idle watchers if
// nothing else ran. The loop stops when no referenced work is left; a
// greenlet that is still blocked then gets LoopExit in the main greenlet.
//
// Everything that every backend shares lives in this class. A backend (see
// runtime/internal/epoll_hub.h and sim/sim_hub.h) supplies only the clock,
// the way to wait for events, and the points where it chooses an order.
//
// Watchers (Callback, Timer, IoWatcher, IdleWatcher, ForkWatcher) are owned by
// the caller and linked into the hub intrusively, so arming one never
// allocates. A watcher must be stopped (its destructor does it) before it is
// destroyed. All hub methods must be called on the hub's own thread, except
// run_callback_threadsafe() and wakeup().
#ifndef GEVENTPP_RUNTIME_HUB_H_
#define GEVENTPP_RUNTIME_HUB_H_

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

#include "absl/container/node_hash_map.h"
#include "absl/time/time.h"
#include "runtime/internal/context.h"
#include "runtime/internal/intrusive_list.h"
#include "runtime/internal/nanos.h"
#include "runtime/internal/stack_pool.h"
#include "runtime/internal/timer_queue.h"

namespace gevent {

class Hub;
class RawGreenlet;
class Waitable;
namespace internal {
struct ResumeLink;
}  // namespace internal

namespace internal {
// Thrown into the hub greenlet to unwind it when the hub is destroyed. Code
// that runs user callbacks in the hub and catches (...) must rethrow it.
struct HubShutdown {};
}  // namespace internal

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
    return internal::TimeFromNanos(TimerEntry::deadline);
  }
  bool referenced() const { return ref_; }

 private:
  friend class Hub;
  static constexpr uint32_t kNotFiring = ~uint32_t{0};
  Fn fn_;
  Fn discard_;
  Hub* hub_ = nullptr;
  bool ref_ = true;
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
// straight to its greenlet (see TryHandOff in hub.cc).
class ResumeTimer : public Timer {
 public:
  ResumeTimer(Hub* hub, RawGreenlet* g) : Timer(&Fire), owner_(hub), g_(g) {
    touches_ = g;
  }

 private:
  friend class Hub;
  static void Fire(Timer* t);
  Hub* owner_;
  RawGreenlet* g_;
};

// Readiness of one file descriptor. `fn(watcher, revents)` runs in the hub.
class IoWatcher : private internal::ListNode {
 public:
  static constexpr uint32_t kRead = 1;
  static constexpr uint32_t kWrite = 2;
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

// The points where a backend may choose an order the real world leaves open.
enum class Decision : uint8_t {
  kTimerTie,     // which of several timers with the same deadline fires first
  kTimerJitter,  // how late (in whole microseconds) a timer fires
  kIoOrder,      // which of several ready file descriptors is delivered first
  kWakeupOrder,  // which of several cross-thread wake-ups is delivered first
};
const char* DecisionName(Decision d);

// What the hub reports to an observer (the simulator's event hash, traces).
// The numbering is part of the trace format (traces/trace.proto): append
// new kinds, never renumber.
enum class HubEventKind : uint8_t {
  kSpawn = 1,         // a greenlet was created and scheduled (a = parent id)
  kSwitch = 2,        // a greenlet is about to run
  kFinish = 3,        // a greenlet finished (a: 0 value, 1 error, 2 killed)
  kTimerFired = 4,    // a timer fired (a = its start sequence number)
  kCallback = 5,      // a callback ran
  kIo = 6,            // a file descriptor was delivered (a = fd, b = revents)
  kIdle = 7,          // idle watchers ran
  kTimeAdvanced = 8,  // the clock moved (a = by how many ns)
  kDecision = 9,      // a choice: a = options, b = option taken, c = Decision
  kLoopExit = 10,     // the loop ran out of referenced work
  kSleep = 11,        // a greenlet sleeps (a = ns)
  kTimeoutFired = 12, // a Timeout fired into `greenlet`
  kKill = 13,         // a kill is delivered to `greenlet`
  kLinkNotified = 14, // a link was called
  kNote = 15,         // a user note (text)
  kTimerStarted = 16, // a timer was started (greenlet = who, a = its start
                      // sequence number, b = delay in ns); e.time is the
                      // clock reading its deadline counts from
  kLastKind = kTimerStarted,
};

struct HubEvent {
  HubEventKind kind;
  int64_t time_ns;  // the hub's clock (internal/nanos.h); see time()
  uint64_t greenlet = 0;  // id of the greenlet concerned, 0 for none
  int64_t a = 0;
  int64_t b = 0;
  int64_t c = 0;
  const RawGreenlet* who = nullptr;  // for names; valid during the call only
  const char* text = nullptr;        // kNote; valid during the call only
  absl::Time time() const { return internal::TimeFromNanos(time_ns); }
};

// A fast lane an observer may offer the hub for its commonest events, so
// that they cost a few instructions instead of a call (HubObserver::lane()).
// The hub writes an event of kind k into the lane instead of calling
// OnHubEvent when all of these hold:
//   - the observer offered kind k (Offer: its pattern is not 0);
//   - the event's c is 0, and its b is 1 for kSleep (a referenced sleep)
//     and 0 for the other kinds (`who` and `text` are not passed: kinds
//     that need them must not be offered);
//   - its value is below 2^28: for kTimerFired, base - a in zigzag form
//     (protobuf's sint64: how many timers were started after it, when base
//     is the last one's number); for kTimeAdvanced, its time - time_ns,
//     which must be above 0 (time_ns then moves to its time); for the
//     other kinds the greenlet id, and a must be 0. (A fixed rule per kind:
//     Emit is inlined with a constant kind, so the rule costs nothing where
//     it does not apply.)
//   - its time is `time_ns` (but for kTimeAdvanced), and pos < limit.
// It then stores, at `pos`, the 4 bytes of k's pattern with (n - 1) added to
// bytes 0 and 2, followed by the value as a protobuf varint of n bytes (1
// to 4), advances `pos` by 4 + n and adds n - 1 to `extra`: with the
// pattern [len][tag][sub-message length][field tag], that is the record of
// a one-field message for any value, and a lane that took r records holding
// B bytes has r = (B - extra) / 5. Every other event reaches OnHubEvent, in
// order with the lane's: the observer moves `limit`, `time_ns` (and
// `extra`) there. 32 bytes must be writable at any pos < limit. A record
// takes at least 5 bytes, a sleep with its timer start (two records,
// below) at least 9: a lane whose limit allows 4 bytes a record cannot
// pass its count.
// Sleeps of ns > 0 and timer starts go through Take to OnHubEvent; one
// pair of them comes together (Hub::start_sleep): a sleep of ns
// > 0 (kSleep, b = 1) and the start of its timer (kTimerStarted: same
// greenlet and delay, a = base + 1, at a time within 2^28 ns after the
// sleep's), with kTimerStarted offered and values below 2^28, is one
// record of two fields more than kSleep's pattern (TakeSleepStart): the
// greenlet's field, tag 0x10 and ns, tag 0x20 and the time between them
// (trace format 2's Sleep.timer_dt_ns). It counts as two records (extra
// goes up by the bytes beyond 10); base moves to a and time_ns to the
// start's time. The lane takes it only with room for both counts (pos + 4
// < limit).
// Before a wait, the hub calls the observer's BeforeWait only once pos
// reaches `before_wait_pos` or for a wait that may last until
// `before_wait_ns` or later (its deadline on the hub's clock; both 0:
// before every wait): the observer says when it has work for a wait, and
// the loop's other waits touch nothing of it.
// Two cache lines: all that recording a busy loop's commonest events
// touches of the observer.
struct alignas(64) HubEventLane {
  static constexpr size_t kMinRecordBytes = 5;
  uint8_t* pos = nullptr;
  uint8_t* limit = nullptr;
  int64_t time_ns = 0;
  uint64_t extra = 0;
  uint64_t base = 0;
  const uint8_t* before_wait_pos = nullptr;
  int64_t before_wait_ns = 0;

  // The lane takes events of `kind` with this record pattern (the 4 bytes
  // described above, little-endian; kTimerStarted: any value but 0, for
  // TakeSleepStart); 0: it does not. Kinds above kLastKind cannot be offered.
  void Offer(HubEventKind kind, uint32_t record_pattern) {
    const auto k = static_cast<size_t>(kind) - 1;
    if (k < kKinds) pattern_[k] = record_pattern;
  }
  bool offers(HubEventKind kind) const { return PatternOf(kind) != 0; }
  // Whether the hub calls BeforeWait before a wait until `deadline_ns`
  // (see above).
  bool BeforeWaitDue(int64_t deadline_ns) const {
    return pos >= before_wait_pos || deadline_ns >= before_wait_ns;
  }

  // Takes the event if it qualifies (see above). Sleeps of ns > 0 and timer
  // starts come only through TakeSleepStart.
  bool Take(HubEventKind kind, uint64_t greenlet, int64_t a, int64_t b_,
            int64_t c, int64_t t) {
    if (kind == HubEventKind::kTimerStarted) return false;
    const uint64_t w = PatternOf(kind);
    const int64_t want_b = kind == HubEventKind::kSleep ? 1 : 0;
    if (kind == HubEventKind::kTimeAdvanced) {
      return c == 0 && b_ == want_b && TakeTimeAdvanced(w, t);
    }
    uint8_t* const p = pos;
    if (w == 0 || c != 0 || b_ != want_b || t != time_ns || p >= limit) {
      return false;
    }
    uint64_t v = greenlet;
    if (kind == HubEventKind::kTimerFired) {
      const auto d = static_cast<int64_t>(base - static_cast<uint64_t>(a));
      v = (static_cast<uint64_t>(d) << 1) ^ static_cast<uint64_t>(d >> 63);
    } else if (a != 0) {
      return false;
    }
    uint64_t record;
    if (v < 0x80) {
      record = w | v << 32;
      pos = p + 5;
    } else if (v < 0x4000) {
      record = (w + 0x010001) | ((v & 0x7f) | 0x80 | (v >> 7) << 8) << 32;
      pos = p + 6;
      ++extra;
    } else {
      return TakeWide(w, v);
    }
    memcpy(p, &record, 8);
    return true;
  }

  // The clock moved to `t`: the record of the time since time_ns.
  bool TakeTimeAdvanced(uint64_t w, int64_t t) {
    uint8_t* const p = pos;
    if (w == 0 || p >= limit || t <= time_ns) return false;
    const auto dt = static_cast<uint64_t>(t - time_ns);
    if (dt >= (uint64_t{1} << 28)) return false;
    PutOneField(w, dt);
    time_ns = t;
    return true;
  }

  // A sleep of `ns` by `greenlet` at `sleep_t` (ref: b = 1) and its timer's
  // start, number `seq`, at `start_t`: one record (see above), or false.
  __attribute__((always_inline)) bool TakeSleepStart(uint64_t greenlet, int64_t ns,
                                                    int64_t ref, int64_t sleep_t,
                                                    uint64_t seq, int64_t start_t) {
    const uint64_t w = PatternOf(HubEventKind::kSleep);
    constexpr uint64_t kMax = uint64_t{1} << 28;
    const uint64_t dt = start_t > sleep_t ? static_cast<uint64_t>(start_t - sleep_t) : 0;
    if (w == 0 || PatternOf(HubEventKind::kTimerStarted) == 0 || ref != 1 ||
        sleep_t != time_ns ||
        pos + 4 >= limit || greenlet >= kMax || ns <= 0 ||
        static_cast<uint64_t>(ns) >= kMax || dt >= kMax || seq != base + 1) {
      return false;
    }
    uint64_t ng, nn, nd;
    const uint64_t id = Varint28(greenlet, &ng);
    const uint64_t delay = Varint28(static_cast<uint64_t>(ns), &nn);
    const uint64_t gap = Varint28(dt, &nd);
    const uint64_t more = ng + nn + nd + 1;  // bytes beyond the pattern's 5
    const uint64_t head = (w + more * 0x010001) | (id << 32);
    const uint64_t ns_field = 0x10 | delay << 8;
    const uint64_t dt_field = 0x20 | gap << 8;
    uint8_t* const p = pos;
    memcpy(p, &head, 8);
    memcpy(p + 4 + ng, &ns_field, 8);
    memcpy(p + 5 + ng + nn, &dt_field, 8);
    pos = p + 5 + more;
    extra += more - 5;  // two records: 10 bytes (modular: -1 for 9)
    base = seq;
    if (start_t > time_ns) time_ns = start_t;
    return true;
  }

 private:
  static constexpr size_t kKinds = static_cast<size_t>(HubEventKind::kLastKind);
  uint32_t pattern_[kKinds] = {};  // kind k's at k - 1

  uint32_t PatternOf(HubEventKind kind) const {
    const auto k = static_cast<size_t>(kind) - 1;
    return k < kKinds ? pattern_[k] : 0;
  }
  // Values of 3 and 4 varint bytes (out of line: Take stays small, the hub
  // inlines it into every event).
  __attribute__((noinline)) bool TakeWide(uint64_t w, uint64_t value) {
    if (value >= (uint64_t{1} << 28)) return false;
    PutOneField(w, value);
    return true;
  }
  // The record of pattern `w` with `value` (< 2^28) as its field, at pos.
  void PutOneField(uint64_t w, uint64_t value) {
    uint64_t n;
    const uint64_t v = Varint28(value, &n);
    const uint64_t record = (w + (n - 1) * 0x010001) | (v << 32);
    memcpy(pos, &record, 8);
    pos += 4 + n;
    extra += n - 1;
  }
  // `value` (< 2^28) as a varint in the low bytes; its length in `*n`.
  // One case a length, without a loop: 7-bit groups spread to bytes, and
  // the continuation bit on all but the last.
  static uint64_t Varint28(uint64_t value, uint64_t* n) {
    if (value < 0x80) {
      *n = 1;
      return value;
    }
    uint64_t groups = (value & 0x7f) | (value << 1 & 0x7f00);
    if (value < 0x4000) {
      *n = 2;
      return groups | 0x80;
    }
    groups |= value << 2 & 0x7f0000;
    if (value < 0x200000) {
      *n = 3;
      return groups | 0x8080;
    }
    *n = 4;
    return groups | (value << 3 & 0x7f000000) | 0x808080;
  }
};
static_assert(sizeof(HubEventLane) == 128, "HubEventLane: two cache lines");

class HubObserver {
 public:
  virtual ~HubObserver() = default;
  virtual void OnHubEvent(const HubEvent& e) = 0;
  // False if the observer ignores kCallback events (the commonest event,
  // one per callback the loop runs): the hub then does not report them.
  // Asked when the observer is set.
  virtual bool WantsCallbacks() const { return true; }
  // The observer's fast lane (see HubEventLane), or nullptr. Asked when the
  // observer is set; the lane must stay valid while it is.
  virtual HubEventLane* lane() { return nullptr; }
  // True if the observer wants BeforeWait. Asked when the observer is set.
  virtual bool WantsBeforeWait() const { return false; }
  // The loop is about to wait for events until `deadline_ns` (the hub's
  // clock; kNanosFuture: no timer), having nothing to run: time the program
  // does not use, for the observer's own work (a recorder writes its file).
  // Returns when the loop is to come back at the latest: `deadline_ns`, or
  // earlier, after `now_ns`, for more of that work (a wake-up with no
  // events, which the clock's move reports).
  virtual int64_t BeforeWait(int64_t now_ns, int64_t deadline_ns) {
    (void)now_ns;
    return deadline_ns;
  }
};

// Called with the greenlet (nullptr for a hub callback) and the error that
// escaped it. The default prints "<name> failed with <type>: <what>".
using ErrorHandler =
    std::function<void(const RawGreenlet* where, std::exception_ptr error)>;

class Hub {
 public:
  virtual ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // A short name of the backend: "epoll" or "sim".
  virtual const char* backend_name() const = 0;
  // Unique per process, never reused.
  uint64_t id() const { return id_; }

  // ---- Time ----
  // The current time of this hub's clock (monotonic or virtual).
  absl::Time now() { return internal::TimeFromNanos(now_ns_ = ClockNowNs()); }
  // The time cached at the start of the current loop iteration (or by the
  // last now()).
  absl::Time loop_time() const { return internal::TimeFromNanos(now_ns_); }

  // ---- Callbacks ----
  // Appends `cb` to the FIFO. Runs once, in the hub, in FIFO order.
  void run_callback(Callback* cb);
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

  // ---- Timers ----
  // Arms `t` to fire `after` from now (negative means zero). A started timer
  // is restarted.
  void start(Timer* t, absl::Duration after, bool ref = true, int priority = 0);
  // sleep()'s timer: reports the current greenlet's sleep of `after` (> 0)
  // and starts `t` as start(t, after, ref) does, with the same events at
  // the same times; when sleeps_through_lane(), a recorder's lane takes
  // the two as one record. (sleep() calls it when has_event_lane(), and
  // reports the sleep and calls start() itself otherwise.)
  void start_sleep(Timer* t, absl::Duration after, bool ref);
  // An observer's HubEventLane is set.
  bool has_event_lane() const { return lane_ != nullptr; }
  // There is a lane, and the sleep is not the hub's own nor followed by a
  // decision (a timer lateness may ask for one between the two events).
  bool sleeps_through_lane() const {
    return lane_ != nullptr && !timer_lateness_ && !in_hub();
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
  // Extra references that keep the loop running (e.g. work on another thread).
  void ref() { ++extra_refs_; }
  void unref() { --extra_refs_; }
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
    observing_ = observer_ != nullptr || hashing_;
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
    if (hashing_) HashEvent(kind, greenlet, a, b, c, now_ns_);
    if (lane_ != nullptr && lane_->Take(kind, greenlet, a, b, c, now_ns_)) return;
    if (observer_ != nullptr &&
        (kind != HubEventKind::kCallback || observe_callbacks_)) {
      HubEvent e{kind, now_ns_, greenlet, a, b, c, who, text};
      observer_->OnHubEvent(e);
    }
  }

  // ---- Event hash ----
  // Once on, every event is folded into a running 64-bit hash with its time
  // (since `epoch`): equal hashes mean equal schedules. Timer starts (which
  // only restate what the program did) and callback runs (which the switch
  // or wake-up after them restates) are counted but not hashed. The
  // simulator turns it on; it cannot be turned off.
  void enable_event_hash(absl::Time epoch) {
    hashing_ = true;
    observing_ = true;
    hash_epoch_ns_ = internal::ToNanos(epoch);
  }
  uint64_t event_hash() const { return event_hash_; }
  // Events seen since the hash was turned on (timer starts excluded).
  uint64_t event_count() const { return event_count_; }
  // Asks the backend to choose one of `n` options at decision point `d`, and
  // reports the choice. n < 2 is not a decision: returns 0.
  size_t Decide(Decision d, size_t n);

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

  // Kills every greenlet still alive on this hub (throwing GreenletExit into
  // each until it finishes) and stops the loop for good. The hub cannot be
  // used afterwards; destroy_hub() also calls it.
  void destroy();
  bool destroyed() const { return destroyed_; }

  // Runs the loop in the calling greenlet (which must be the hub greenlet)
  // until no referenced work is left.
  void run_loop();

 protected:
  Hub();

  // ---- What a backend supplies ----
  // The clock, in nanoseconds (internal/nanos.h).
  virtual int64_t ClockNowNs() = 0;
  // Waits for I/O or a wake-up, at most until `deadline_ns` (kNanosPast: do
  // not block; kNanosFuture: no limit), and appends ready descriptors.
  struct IoEvent {
    int fd;
    uint32_t revents;
  };
  virtual void WaitForEvents(int64_t deadline_ns,
                             std::vector<IoEvent>* ready) = 0;
  // Called from any thread after run_callback_threadsafe queued work.
  virtual void Wakeup() = 0;
  // The kernel interest in `fd` changed from `old_mask` to `new_mask`.
  virtual void UpdateInterest(int fd, uint32_t old_mask, uint32_t new_mask) = 0;
  // Renew kernel objects in a forked child.
  virtual void ReinitBackend() {}
  // Start (or stop) waking the loop when the hub's own descriptor `fd` (the
  // signalfd) is readable. The hub reads it itself after each wait.
  virtual void WatchInternalFd(int fd, bool watch) {
    (void)fd;
    (void)watch;
  }
  // Chooses one of `n` options (n >= 2) at a decision point. The default,
  // which real backends keep, is 0: deadline and FIFO order.
  virtual size_t Choose(Decision d, size_t n) {
    (void)d;
    (void)n;
    return 0;
  }
  // Checked every 256 callbacks of one pass of the FIFO: true ends the pass
  // so timers and I/O get their turn. The default: the switch interval has
  // passed on the clock.
  virtual bool CallbackPassOver(int64_t pass_start_ns, uint64_t callbacks_run);
  // Extra lateness, in ns, for a timer being started (the simulator's
  // jitter). Asked only when timer_lateness_ is set.
  virtual int64_t TimerLatenessNs() { return 0; }
  bool timer_lateness_ = false;
  // True if the backend wants tie-breaking decisions at all (skips work).
  virtual bool perturbs() const { return false; }

  // Backends that own kernel resources must call this from their
  // destructor before releasing them.
  void ShutdownForDestruction();

 private:
  friend class RawGreenlet;
  friend class Waitable;
  friend struct internal::ResumeLink;
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
  void RunIdle();
  void DrainThreadsafe();
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
  // ---- The hand-off (see TryHandOff in hub.cc) ----
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
  int ContinuePassInPlace(RawGreenlet* g);
  void SwitchDirect(RawGreenlet* from, RawGreenlet* to);
  void HandPassBack();
  void ResumeFromPass(RawGreenlet* g, Waitable* pass);
  void StartAndSwitchInto(RawGreenlet* g, std::exception_ptr error);
  [[noreturn]] static void RethrowResumeError(RawGreenlet* g);
  RawGreenlet* EnsureHubGreenletSlow();
  void ReleaseFinished();
  void ReportDefault(const RawGreenlet* where, std::exception_ptr error);
  void HubLoop();
  void ReleaseQueued();
  std::string LoopExitMessage() const;

  const uint64_t id_;
  int64_t now_ns_ = 0;
  internal::IntrusiveList<Callback> callbacks_;
  internal::TimerQueue timers_;
  // The batch of due timers FireTimers is firing, in order, from
  // firing_next_ on; a timer stopped meanwhile leaves a null behind.
  std::vector<Timer*> firing_;
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
  std::vector<IoEvent> io_ready_;
  internal::IntrusiveList<IdleWatcher> idle_;
  internal::IntrusiveList<IdleWatcher> idle_firing_;
  internal::IntrusiveList<ForkWatcher> fork_;
  internal::IntrusiveList<SignalWatcher> signals_;
  int signal_fd_ = -1;
  void UpdateSignalFd();
  void DispatchSignals();
  int64_t extra_refs_ = 0;

  std::mutex threadsafe_mu_;
  std::vector<std::function<void()>> threadsafe_;
  std::atomic<int64_t> threadsafe_pending_{0};

  absl::Duration switch_interval_ = absl::Milliseconds(5);
  ErrorHandler error_handler_;
  HubObserver* observer_ = nullptr;
  HubEventLane* lane_ = nullptr;  // observer_'s, if it has one
  bool observing_ = false;
  bool hashing_ = false;
  bool observe_callbacks_ = false;
  bool observe_waits_ = false;
  int64_t Arm(Timer* t, int64_t after_ns, bool ref, int priority);
  void StartSleepOneByOne(Timer* t, absl::Duration after, bool ref);
  void HashEvent(HubEventKind kind, uint64_t greenlet, int64_t a, int64_t b,
                 int64_t c, int64_t time_ns) {
    if (kind == HubEventKind::kTimerStarted) return;
    ++event_count_;
    if (kind == HubEventKind::kCallback) return;
    // The fields are folded into one word first (independent multiplies
    // that overlap), then mixed into the running hash with one multiply.
    // It only has to tell schedules apart, not resist an adversary.
    const uint64_t word = (static_cast<uint64_t>(kind) | (greenlet << 8)) ^
                          (static_cast<uint64_t>(time_ns - hash_epoch_ns_) *
                           0xff51afd7ed558ccdULL) ^
                          (static_cast<uint64_t>(a) * 0xc4ceb9fe1a85ec53ULL) ^
                          (static_cast<uint64_t>(b) * 0x94d049bb133111ebULL) ^
                          (static_cast<uint64_t>(c) << 56);
    uint64_t h = ((event_hash_ << 5) | (event_hash_ >> 59)) ^ word;
    event_hash_ = h * 0x9e3779b97f4a7c15ULL;
  }
  uint64_t event_hash_ = 0xcbf29ce484222325ULL;
  uint64_t event_count_ = 0;
  int64_t hash_epoch_ns_ = 0;

  std::shared_ptr<internal::StackPool> stacks_ =
      internal::StackPool::ForThisThread();
  std::shared_ptr<RawGreenlet> main_;
  std::shared_ptr<RawGreenlet> hub_greenlet_;
  RawGreenlet* hub_g_ = nullptr;  // hub_greenlet_.get(), once made
  internal::EhGlobals* const eh_ = internal::ThreadEhGlobals();
  RawGreenlet* current_ = nullptr;
  RawGreenlet* finished_ = nullptr;  // finished greenlet whose stack to free
  internal::IntrusiveList<internal::ListNode> running_;  // started greenlets
  uint64_t greenlet_seq_ = 0;
  bool destroyed_ = false;
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

namespace internal {
// The calling thread's hub (the same as the owner held in hub.cc), read on
// every blocking call: a plain thread_local pointer, no initialisation guard.
inline thread_local Hub* t_hub_ptr = nullptr;
Hub* CreateThreadHub();
}  // namespace internal

// The hub of the calling thread, created on first use. The backend is the
// one selected by set_hub_factory(), else by the environment variable
// GEVENT_HUB ("epoll", the default, or "sim" when the simulator is linked).
inline Hub* get_hub() {
  Hub* h = internal::t_hub_ptr;
  return h != nullptr ? h : internal::CreateThreadHub();
}
// The calling thread's hub if it exists, else nullptr.
inline Hub* get_hub_if_exists() { return internal::t_hub_ptr; }
// Destroys the calling thread's hub (see Hub::destroy). The next get_hub()
// creates a fresh one.
void destroy_hub();
// Makes `hub` the calling thread's hub (destroying the previous one). Used by
// sim::Simulation; returns the previous hub, still alive, to restore later.
std::unique_ptr<Hub> exchange_hub(std::unique_ptr<Hub> hub);

// Functions run on every hub that get_hub() creates on first use (after it is
// installed as the thread's hub). traces/ uses this for GEVENT_TRACE=path.
using HubInitHook = void (*)(Hub* hub);
void register_hub_init_hook(HubInitHook hook);

// A factory for hubs, registered by name (the epoll backend registers "epoll";
// linking //sim registers "sim").
using HubFactory = std::unique_ptr<Hub> (*)();
void register_hub_factory(const char* name, HubFactory factory);
// Creates a hub of the named backend; throws std::invalid_argument naming the
// backend if none is registered under that name.
std::unique_ptr<Hub> make_hub(const std::string& backend);

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

#endif  // GEVENTPP_RUNTIME_HUB_H_
