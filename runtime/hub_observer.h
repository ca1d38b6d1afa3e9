// What a hub reports to an observer: the kinds of events, the event, and the
// observer interface (traces/ records them; the simulator hashes them).
//
// An observer sees events, not bytes: how an event is stored is the
// observer's business. The kinds' numbers are not a file format: traces/
// maps each kind to its own tag.
#ifndef GEVENTPP_RUNTIME_HUB_OBSERVER_H_
#define GEVENTPP_RUNTIME_HUB_OBSERVER_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/time/time.h"
#include "runtime/nanos.h"
#include "runtime/scheduling_policy.h"

namespace gevent {

class RawGreenlet;

// What the hub reports to an observer (the simulator's event hash, traces).
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
  int64_t time_ns;  // the hub's clock (runtime/nanos.h); see time()
  uint64_t greenlet = 0;  // id of the greenlet concerned, 0 for none
  int64_t a = 0;
  int64_t b = 0;
  int64_t c = 0;
  const RawGreenlet* who = nullptr;  // for names; valid during the call only
  const char* text = nullptr;        // kNote; valid during the call only
  absl::Time time() const { return TimeFromNanos(time_ns); }

  // The fields by name, per kind (what a, b and c hold):
  uint64_t parent() const { return static_cast<uint64_t>(a); }  // kSpawn
  // kFinish: how the greenlet ended.
  enum class Finish : int64_t { kValue = 0, kError = 1, kKilled = 2 };
  Finish finish() const { return static_cast<Finish>(a); }
  uint64_t timer_seq() const { return static_cast<uint64_t>(a); }  // kTimerFired, kTimerStarted
  int64_t delay_ns() const { return b; }                           // kTimerStarted
  int fd() const { return static_cast<int>(a); }                   // kIo
  uint32_t revents() const { return static_cast<uint32_t>(b); }    // kIo
  int64_t advanced_ns() const { return a; }                        // kTimeAdvanced
  size_t options() const { return static_cast<size_t>(a); }        // kDecision
  size_t option_taken() const { return static_cast<size_t>(b); }   // kDecision
  Decision decision() const { return static_cast<Decision>(c); }   // kDecision
  int64_t sleep_ns() const { return a; }                           // kSleep
  bool sleep_referenced() const { return b != 0; }                 // kSleep
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
}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_HUB_OBSERVER_H_
