// HubEventLane: the fast lane an observer may offer the hub (see below).
#ifndef GEVENTPP_RUNTIME_EVENT_LANE_H_
#define GEVENTPP_RUNTIME_EVENT_LANE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "runtime/hub_observer.h"
#include "runtime/varint.h"

namespace gevent {

// A fast lane an observer may offer the hub for its commonest events, so
// that they cost a few instructions instead of a call (HubObserver::lane()).
//
// The lane is memory the observer owns, [pos, limit), where the hub stores
// compact records in the observer's own format: the observer gives, per
// kind, a 4-byte record prefix (Offer), and the hub appends the event's one
// value as a varint (runtime/varint.h). What the bytes mean is the
// observer's business; the hub only follows these rules.
//
// The hub writes an event of kind k into the lane instead of calling
// OnHubEvent when all of these hold:
//   - the observer offered kind k (its prefix is not 0);
//   - the event's c is 0, and its b is 1 for kSleep (a referenced sleep)
//     and 0 for the other kinds (`who` and `text` are not passed: kinds
//     that need them must not be offered);
//   - its value is below 2^28: for kTimerFired, base - a in zigzag form
//     (how many timers were started after it, when base is the last one's
//     number); for kTimeAdvanced, its time - time_ns, which must be above 0
//     (time_ns then moves to its time); for the other kinds the greenlet
//     id, and a must be 0. (A fixed rule per kind: Emit is inlined with a
//     constant kind, so the rule costs nothing where it does not apply.)
//   - its time is `time_ns` (but for kTimeAdvanced), and pos < limit.
// It then stores, at `pos`, k's prefix plus (n - 1) * length_step (the
// observer's length bytes grow with the value), followed by the value's n
// varint bytes (1 to 4); advances `pos` by 4 + n and adds n - 1 to `extra`:
// a lane that took r records holding B bytes has r = (B - extra) / 5.
// Every other event reaches OnHubEvent, in order with the lane's: the
// observer moves `limit`, `time_ns` (and `extra`) there. 32 bytes must be
// writable at any pos < limit. A record takes at least 5 bytes, a sleep
// with its timer start (two records, below) at least 9: a lane whose limit
// allows 4 bytes a record cannot pass its count.
//
// Sleeps of ns > 0 and timer starts go through Take to OnHubEvent; one
// pair of them comes together (Hub::start_sleep): a sleep of ns > 0
// (kSleep, b = 1) and the start of its timer (kTimerStarted: same greenlet
// and delay, a = base + 1, at a time within 2^28 ns after the sleep's),
// with values below 2^28, is one record when the observer offered the pair
// (OfferSleepWithStart): kSleep's prefix and the greenlet id, then the
// delay tag and ns, then the gap tag and the time between the two events,
// each value a varint, with the prefix's lengths grown by the bytes beyond
// 5. It counts as two records (extra goes up by the bytes beyond 10); base
// moves to a and time_ns to the start's time. The lane takes it only with
// room for both counts (pos + 4 < limit).
//
// Before a wait, the hub calls the observer's BeforeWait only once pos
// reaches `before_wait_pos` or for a wait that may last until
// `before_wait_ns` or later (its deadline on the hub's clock; both 0:
// before every wait): the observer says when it has work for a wait, and
// the loop's other waits touch nothing of it.
//
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

  // The lane takes events of `kind` with this record prefix (4 bytes,
  // little-endian); 0: it does not. Sleeps with their timer's start come
  // through OfferSleepWithStart instead of offering kTimerStarted. Kinds
  // after kTimerStarted (rare ones: kForeignWork) cannot be offered.
  void Offer(HubEventKind kind, uint32_t record_prefix) {
    const auto k = static_cast<size_t>(kind) - 1;
    if (k < kKinds && kind != HubEventKind::kTimerStarted) pattern_[k] = record_prefix;
  }
  // What is added to a prefix for each varint byte beyond the first (the
  // observer's length bytes, e.g. 0x00010001 for lengths in bytes 0 and 2).
  void SetLengthStep(uint32_t step) { length_step_ = step; }
  // Takes a sleep with its timer's start as one record (see above), the
  // delay after `delay_tag` and the gap after `gap_tag`; kSleep must be
  // offered too. Tags of 0: it does not.
  void OfferSleepWithStart(uint8_t delay_tag, uint8_t gap_tag) {
    pattern_[static_cast<size_t>(HubEventKind::kTimerStarted) - 1] = delay_tag != 0 ? 1 : 0;
    delay_tag_ = delay_tag;
    gap_tag_ = gap_tag;
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
      v = varint::ZigZag(d);
    } else if (a != 0) {
      return false;
    }
    uint64_t record;
    if (v < 0x80) {
      record = w | v << 32;
      pos = p + 5;
    } else if (v < 0x4000) {
      uint64_t n;
      record = (w + length_step_) | varint::Spread28(v, &n) << 32;
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
    const uint64_t id = varint::Spread28(greenlet, &ng);
    const uint64_t delay = varint::Spread28(static_cast<uint64_t>(ns), &nn);
    const uint64_t gap = varint::Spread28(dt, &nd);
    const uint64_t more = ng + nn + nd + 1;  // bytes beyond the prefix's 5
    const uint64_t head = (w + more * length_step_) | (id << 32);
    const uint64_t ns_field = delay_tag_ | delay << 8;
    const uint64_t dt_field = gap_tag_ | gap << 8;
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
  // The kinds a lane may take (the lane is two cache lines).
  static constexpr size_t kKinds = static_cast<size_t>(HubEventKind::kTimerStarted);
  uint32_t pattern_[kKinds] = {};  // kind k's at k - 1
  uint32_t length_step_ = 0;
  uint8_t delay_tag_ = 0;
  uint8_t gap_tag_ = 0;

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
    const uint64_t v = varint::Spread28(value, &n);
    const uint64_t record = (w + (n - 1) * length_step_) | (v << 32);
    memcpy(pos, &record, 8);
    pos += 4 + n;
    extra += n - 1;
  }
};
static_assert(sizeof(HubEventLane) == 128, "HubEventLane: two cache lines");

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_EVENT_LANE_H_
