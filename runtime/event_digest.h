// EventDigest: a running 64-bit hash of a hub's event stream, for telling
// schedules apart (equal digests mean equal schedules). The simulator owns
// one per SimHub and installs it with Hub::set_event_digest(); the explorer
// uses it to count distinct interleavings and to check that a seed's run is
// deterministic. The epoll hub has none.
//
// The hub calls Fold() inline on every event, with no virtual call: it is on
// every simulated switch. Every event is folded with its time (since the
// epoch), except timer starts (which only restate what the program did) and
// callback runs (which the switch or wake-up after them restates); those
// are counted but not hashed.
#ifndef GEVENTPP_RUNTIME_EVENT_DIGEST_H_
#define GEVENTPP_RUNTIME_EVENT_DIGEST_H_

#include <cstdint>

#include "absl/time/time.h"
#include "runtime/hub_observer.h"
#include "runtime/nanos.h"

namespace gevent {

class EventDigest {
 public:
  explicit EventDigest(absl::Time epoch) : epoch_ns_(ToNanos(epoch)) {}

  // The digest of every event folded so far.
  uint64_t hash() const { return hash_; }
  // Events seen (timer starts excluded).
  uint64_t count() const { return count_; }

  void Fold(HubEventKind kind, uint64_t greenlet, int64_t a, int64_t b, int64_t c,
            int64_t time_ns) {
    if (kind == HubEventKind::kTimerStarted) return;
    ++count_;
    if (kind == HubEventKind::kCallback) return;
    // The fields are folded into one word first (independent multiplies
    // that overlap), then mixed into the running hash with one multiply.
    // It only has to tell schedules apart, not resist an adversary.
    const uint64_t word = (static_cast<uint64_t>(kind) | (greenlet << 8)) ^
                          (static_cast<uint64_t>(time_ns - epoch_ns_) * 0xff51afd7ed558ccdULL) ^
                          (static_cast<uint64_t>(a) * 0xc4ceb9fe1a85ec53ULL) ^
                          (static_cast<uint64_t>(b) * 0x94d049bb133111ebULL) ^
                          (static_cast<uint64_t>(c) << 56);
    const uint64_t h = ((hash_ << 5) | (hash_ >> 59)) ^ word;
    hash_ = h * 0x9e3779b97f4a7c15ULL;
  }

 private:
  uint64_t hash_ = 0xcbf29ce484222325ULL;
  uint64_t count_ = 0;
  const int64_t epoch_ns_;
};

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_EVENT_DIGEST_H_
