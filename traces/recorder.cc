#include "traces/recorder.h"

#include <elf.h>
#include <errno.h>
#include <link.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "runtime/hub_backend.h"
#include "runtime/raw_greenlet.h"
#include "runtime/socket_transport.h"
#include "sim/sim_hub.h"
#include "traces/internal/crc32c.h"
#include "traces/internal/wire.h"
#include "traces/trace.pb.h"

namespace gevent {
namespace trace {

using internal::kBytes;
using internal::kVarint;
using internal::PutBytesField;
using internal::PutField;
using internal::PutFixed32Field;
using internal::PutTag;
using internal::PutVarint;
using internal::VarintSize;
using internal::ZigZag;

namespace {

// The Record oneof field (trace.proto) of each hub event kind: the trace's
// own numbering, fixed by the file format whatever the hub numbers its kinds.
constexpr uint32_t kNoField = 0;
constexpr uint32_t RecordFieldOf(HubEventKind kind) {
  switch (kind) {
    case HubEventKind::kSpawn: return 1;
    case HubEventKind::kSwitch: return 2;
    case HubEventKind::kFinish: return 3;
    case HubEventKind::kTimerFired: return 4;
    case HubEventKind::kCallback: return 5;
    case HubEventKind::kIo: return 6;
    case HubEventKind::kIdle: return 7;
    case HubEventKind::kTimeAdvanced: return 8;
    case HubEventKind::kDecision: return 9;
    case HubEventKind::kLoopExit: return 10;
    case HubEventKind::kSleep: return 11;
    case HubEventKind::kTimeoutFired: return 12;
    case HubEventKind::kKill: return 13;
    case HubEventKind::kLinkNotified: return 14;
    case HubEventKind::kNote: return 15;
    case HubEventKind::kTimerStarted: return 16;
    case HubEventKind::kForeignWork: return 19;
  }
  return kNoField;
}
// By kind number, for the hot path: one load.
struct RecordFields {
  uint8_t field[256] = {};
  constexpr RecordFields() {
    for (uint32_t k = 0; k <= static_cast<uint32_t>(HubEventKind::kLastKind); ++k) {
      field[k] = static_cast<uint8_t>(RecordFieldOf(static_cast<HubEventKind>(k)));
    }
  }
};
constexpr RecordFields kRecordFields;
inline uint32_t RecordField(HubEventKind kind) {
  return kRecordFields.field[static_cast<uint8_t>(kind)];
}

constexpr uint32_t kFieldDt = 17;
constexpr uint32_t kFieldSleepNs = 2;        // Sleep.ns
constexpr uint32_t kFieldSleepTimerDt = 4;  // Sleep.timer_dt_ns
constexpr uint32_t kFieldNetCall = 18;
constexpr uint32_t kFieldCheckpoint = 30;
constexpr uint32_t kFieldEnd = 31;

// absl::ToUnixNanos without the function call (it is not inline in this
// Abseil): seconds and quarter nanoseconds since the Unix epoch. Times here
// are finite and far from overflow (monotonic or simulated clocks).
inline int64_t UnixNanos(absl::Time t) {
  const absl::Duration d = absl::time_internal::ToUnixDuration(t);
  const int64_t hi = absl::time_internal::GetRepHi(d);
  if (hi < 0 || hi > (int64_t{1} << 33)) return absl::ToUnixNanos(t);
  return hi * 1000000000 + absl::time_internal::GetRepLo(d) / 4;
}

int BuildIdCallback(dl_phdr_info* info, size_t, void* out) {
  // The first object is the main program.
  auto* id = static_cast<std::string*>(out);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
    const char* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const auto* nh = reinterpret_cast<const ElfW(Nhdr)*>(p);
      const char* name = p + sizeof(ElfW(Nhdr));
      const char* desc = name + ((nh->n_namesz + 3) & ~3u);
      if (desc + nh->n_descsz > end) break;
      if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
          memcmp(name, "GNU", 4) == 0) {
        static const char kHex[] = "0123456789abcdef";
        for (size_t k = 0; k < nh->n_descsz; ++k) {
          const auto b = static_cast<unsigned char>(desc[k]);
          id->push_back(kHex[b >> 4]);
          id->push_back(kHex[b & 15]);
        }
        return 1;
      }
      p = desc + ((nh->n_descsz + 3) & ~3u);
    }
  }
  return 1;  // only the main program
}

}  // namespace

std::string ProgramName() { return program_invocation_short_name; }

std::string BuildId() {
  static const std::string id = [] {
    std::string s;
    dl_iterate_phdr(&BuildIdCallback, &s);
    return s;
  }();
  return id;
}

Recorder::Recorder(Hub* hub, const std::string& path, RecorderOptions options)
    : next_(hub->observer()), hub_(hub), options_(options), path_(path) {
  std::string error;
  bool in_use = false;
  if (!sink_.Open(path, &error, &in_use)) {
    if (in_use) throw TraceFileInUse(error);
    throw TraceError(error);
  }
  // A hub that has not run yet has no loop time: read the clock.
  // The epoll hub's clock is CLOCK_MONOTONIC, as the sink's.
  real_clock_ = strcmp(hub->backend_name(), "epoll") == 0;
  // Its loop waits now and then, and writes the file itself (BeforeWait).
  if (real_clock_) sink_.WriteInWaits();
  // Every kind but the text ones, and callbacks only if asked for.
  for (uint32_t k = 1; k <= static_cast<uint32_t>(HubEventKind::kLastKind); ++k) {
    encoded_kinds_ |= uint64_t{1} << RecordField(static_cast<HubEventKind>(k));
  }
  for (HubEventKind k : {HubEventKind::kSpawn, HubEventKind::kFinish, HubEventKind::kNote}) {
    encoded_kinds_ &= ~(uint64_t{1} << RecordField(k));
  }
  if (!options_.callbacks) {
    encoded_kinds_ &= ~(uint64_t{1} << RecordField(HubEventKind::kCallback));
  }
  encoded_kinds_ &= ~uint64_t{1};  // kNoField
  start_ = hub->now();
  last_ns_ = UnixNanos(start_);
  WriteHeader();
  sink_.UseCursor(&lane_.pos);
  sink_.SetSeal(&Recorder::SealFromSignal, this);
  SetUpLane();
  hub_->set_observer(this);
  attached_ = true;
  if (real_clock_) {
    NetworkBackend* net = hub_->backend().network();
    if (net != nullptr && net->observer() == nullptr) {
      observes_network_ = net->set_observer(this);
    }
  }
}

Recorder::~Recorder() { Stop(); }

void Recorder::WriteHeader() {
  proto::Header h;
  h.set_format_version(kFormatVersion);
  h.set_program(ProgramName());
  h.set_build_id(BuildId());
  h.set_backend(hub_->backend_name());
  h.set_start_unix_ns(absl::ToUnixNanos(absl::Now()));
  h.set_callbacks(options_.callbacks);
  if (auto* sim = dynamic_cast<sim::SimHub*>(hub_)) {
    h.set_seed(sim->seed());
    h.set_max_jitter_ns(absl::ToInt64Nanoseconds(sim->options().max_jitter));
    h.set_start_clock_ns(absl::ToInt64Nanoseconds(start_ - sim->options().epoch));
  } else {
    h.set_start_clock_ns(absl::ToInt64Nanoseconds(start_ - absl::UnixEpoch()));
  }
  const std::string bytes = h.SerializeAsString();
  uint8_t* p = sink_.Reserve(bytes.size() + 32);
  memcpy(p, "gevtrace", 8);
  p += 8;
  p = PutVarint(p, bytes.size());
  memcpy(p, bytes.data(), bytes.size());
  p += bytes.size();
  sink_.Commit(p);
  // The header's CRC covers the header message only; the checkpoints'
  // run from the magic on, without it (with it, they would not depend on
  // the header: a message followed by its CRC has a constant CRC).
  const uint32_t crc = internal::Crc32c(0, bytes.data(), bytes.size());
  uint8_t* const crc_at = sink_.Reserve(4);
  p = crc_at;
  for (int i = 0; i < 4; ++i) *p++ = static_cast<uint8_t>(crc >> (8 * i));
  sink_.Commit(p);
  sink_.CrcBreak(crc_at, nullptr, p);
  sink_.Flush();
}

void Recorder::WriteRecord(uint32_t field, const uint8_t* sub, size_t n,
                           uint64_t dt) {
  const size_t tag = field < 16 ? 1 : 2;
  const size_t body =
      tag + VarintSize(n) + n + (dt != 0 ? 2 + VarintSize(dt) : 0);
  uint8_t* p = sink_.Reserve(body + 10);
  p = PutVarint(p, body);
  p = PutTag(p, field, kBytes);
  p = PutVarint(p, n);
  memcpy(p, sub, n);
  p += n;
  if (dt != 0) {
    p = PutTag(p, kFieldDt, kVarint);
    p = PutVarint(p, dt);
  }
  sink_.Commit(p);
  ++records_;
  if (++pending_ == kCheckpointEvery) Checkpoint();
}

// A checkpoint record for the `records` since the last one, at `p` (room
// for kCheckpointBytes); returns its end. Its checksum, the last field,
// is filled in by the sink's writer thread (FileSink::CrcBreak): it covers
// every byte of the file before it (but earlier checksums).
uint8_t* Recorder::EncodeCheckpoint(uint8_t* p, uint32_t records) {
  uint8_t sub[16];
  uint8_t* s = PutField(sub, 2, records);
  s = PutFixed32Field(s, 1, 0);  // the CRC: its 4 bytes follow the tag
  const size_t n = static_cast<size_t>(s - sub);
  p = PutVarint(p, 2 + VarintSize(n) + n);
  p = PutTag(p, kFieldCheckpoint, kBytes);
  p = PutVarint(p, n);
  memcpy(p, sub, n);
  p += n;
  sink_.Commit(p);
  sink_.CrcBreak(p - 4, p - 4, p);
  return p;
}

void Recorder::WriteCheckpoint() {
  EncodeCheckpoint(sink_.Reserve(kCheckpointBytes), pending_);
  pending_ = 0;
}

void Recorder::Checkpoint() {
  WriteCheckpoint();
  sink_.MaybeFlush();
  // The records up to the next checkpoints take 1.3-2 KiB: their lines
  // start coming now.
  sink_.PrefetchForWrite(internal::FileSink::kPrefetchBytes);
}

namespace {

// Little-endian bytes as one word, for HubEventLane patterns.
constexpr uint64_t Bytes(std::initializer_list<uint8_t> bytes) {
  uint64_t w = 0;
  int i = 0;
  for (uint8_t b : bytes) w |= static_cast<uint64_t>(b) << (8 * i++);
  return w;
}

}  // namespace

void Recorder::SetUpLane() {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  lane_on_ = next_ == nullptr;
#endif
  if (lane_on_) {
    // The encodings EncodeRecord writes for these events, at an unchanged
    // time: [length][oneof tag][sub-message length][field 1 tag][varint],
    // lengths as for a 1-byte varint (HubEventLane adjusts them).
    auto offer = [this](HubEventKind kind) {
      const auto tag = static_cast<uint8_t>((RecordField(kind) << 3) | kBytes);
      lane_.Offer(kind, static_cast<uint32_t>(Bytes({4, tag, 2, 0x08})));
    };
    lane_.SetLengthStep(static_cast<uint32_t>(Bytes({1, 0, 1, 0})));  // both lengths
    offer(HubEventKind::kSwitch);
    offer(HubEventKind::kSleep);  // sleep(0), ref
    // A timer fired: its age, last_seq_ - seq, from the lane's base.
    offer(HubEventKind::kTimerFired);
    // The clock moved: the time since the last record.
    offer(HubEventKind::kTimeAdvanced);
    // A sleep and its timer's start come as one record of the sleep's
    // prefix (Hub::start_sleep, HubEventLane::TakeSleepStart): Sleep.ns and
    // Sleep.timer_dt_ns follow the greenlet.
    lane_.OfferSleepWithStart((kFieldSleepNs << 3) | kVarint,
                              (kFieldSleepTimerDt << 3) | kVarint);
  }
  RefillLane();
}

void Recorder::RefillLane() {
  if (!lane_on_ || closed_) {
    lane_start_ = lane_.limit = lane_.pos;  // closed
    lane_.extra = 0;
    return;
  }
  if (sink_.room() < kLaneRoom) sink_.Reserve(kLaneRoom);
  OpenLane();
}

void Recorder::OnHubEvent(const HubEvent& e) {
  if (closed_) {  // the file is ended (CloseFile): nothing more to count
    if (next_ != nullptr) next_->OnHubEvent(e);
    return;
  }
  // A sleep record can take only the very next event (its timer's start).
  // (A sleep the lane took came with its timer's start, folded.)
  uint8_t* const fold_end = fold_end_;
  fold_end_ = nullptr;
  SettleLane();
  const uint32_t field = RecordField(e.kind);
  if (((encoded_kinds_ >> field) & 1) == 0) {
    OnHubEventSlow(e);
    RefillLane();
    return;
  }
  // Room for this record, a checkpoint after it, and the lane's records up
  // to the next checkpoint (so that the lane needs no check of its own).
  constexpr size_t kSmall = 64;  // > 1 + 2 + 1 + 3 * 11 + 2 + 10
  uint8_t* const p = sink_.Reserve(kSmall + kCheckpointBytes + kLaneRoom);
  uint64_t dt = 0;
  if (e.time_ns > last_ns_) {  // clocks here never go back; be safe
    dt = static_cast<uint64_t>(e.time_ns - last_ns_);
    last_ns_ = e.time_ns;
  }
  uint8_t* s;
  if (e.kind == HubEventKind::kTimerStarted && p == fold_end &&
      e.greenlet == fold_greenlet_ && e.b == fold_ns_ &&
      static_cast<uint64_t>(e.a) == last_seq_ + 1 && !hub_->in_hub()) {
    // The sleeper's timer start right after its sleep record becomes the
    // sleep's timer_dt_ns field: 2 to 4 bytes instead of a record of 10 to
    // 14. The folded record counts as two, as the reader counts it
    // (trace.proto, Sleep).
    s = PutTag(p, kFieldSleepTimerDt, kVarint);
    s = PutVarint(s, dt);
    const auto added = static_cast<uint8_t>(s - p);
    fold_record_[0] = static_cast<uint8_t>(fold_record_[0] + added);  // the record's length
    fold_record_[2] = static_cast<uint8_t>(fold_record_[2] + added);  // the Sleep message's
    last_seq_ = static_cast<uint64_t>(e.a);
  } else {
    s = EncodeRecord(e, p, field, dt);
  }
  sink_.Commit(s);
  ++records_;
  if (++pending_ == kCheckpointEvery) {
    Checkpoint();
  } else if (e.kind == HubEventKind::kTimeAdvanced &&
             sink_.FlushDue(real_clock_ ? e.time_ns : -1)) {
    // The loop waited: a good time to write. On a real clock the event's
    // time tells how long since the last write. What goes to the file
    // ends with a checkpoint, so that a reader can verify all of it.
    WriteCheckpoint();
    sink_.Flush();
  }
  if (next_ != nullptr) next_->OnHubEvent(e);
  // Reopen the lane (the room is reserved above, unless a flush moved to a
  // new chunk, which is larger than that).
  if (lane_on_) {
    OpenLane();
  } else {
    lane_start_ = lane_.pos;
  }
}

// Every record but the text ones (spawn, finish, note), at `p` (room for 64
// bytes); returns its end. Layout: [length][oneof tag, 1 or 2 bytes]
// [sub-message length][fields][dt_ns field]; every length fits in one byte
// (< 128). A sleep record without dt_ns is remembered for the fold above.
__attribute__((always_inline)) inline uint8_t* Recorder::EncodeRecord(const HubEvent& e, uint8_t* p,
                                       uint32_t field, uint64_t dt) {
  uint8_t* const sub = p + (field < 16 ? 3 : 4);
  uint8_t* s = sub;
  switch (e.kind) {
    case HubEventKind::kSwitch:  // the id even when 0: as the lane writes it
      *s++ = 0x08;
      s = PutVarint(s, e.greenlet);
      break;
    case HubEventKind::kSleep:  // the id even when 0, likewise
      *s++ = 0x08;
      s = PutVarint(s, e.greenlet);
      s = PutField(s, 2, static_cast<uint64_t>(e.a));
      if (e.b == 0) s = PutField(s, 3, 1);
      break;
    case HubEventKind::kTimerFired:
      // Its start number, as the distance back from the last one started;
      // written even when 0, as the lane writes it.
      *s++ = 0x08;
      s = PutVarint(s, ZigZag(static_cast<int64_t>(last_seq_ - static_cast<uint64_t>(e.a))));
      break;
    case HubEventKind::kTimerStarted: {
      const auto seq = static_cast<uint64_t>(e.a);
      s = PutField(s, 1, e.greenlet);
      s = PutField(s, 2, seq - (last_seq_ + 1));
      s = PutField(s, 3, static_cast<uint64_t>(e.b));
      if (hub_->in_hub()) s = PutField(s, 4, 1);
      last_seq_ = seq;
      break;
    }
    case HubEventKind::kTimeAdvanced:
      s = PutField(s, 1, dt);
      dt = 0;
      break;
    case HubEventKind::kTimeoutFired:
    case HubEventKind::kKill:
      s = PutField(s, 1, e.greenlet);
      break;
    case HubEventKind::kIo:
      s = PutField(s, 1, static_cast<uint64_t>(e.a));
      s = PutField(s, 2, static_cast<uint32_t>(e.b));
      break;
    case HubEventKind::kForeignWork:
      s = PutField(s, 1, static_cast<uint64_t>(e.a));
      break;
    case HubEventKind::kDecision:
      s = PutField(s, 1, static_cast<uint64_t>(e.c));
      s = PutField(s, 2, static_cast<uint64_t>(e.a));
      s = PutField(s, 3, static_cast<uint64_t>(e.b));
      break;
    default:  // Callback, Idle, LoopExit, LinkNotified: no fields
      break;
  }
  sub[-1] = static_cast<uint8_t>(s - sub);
  if (field < 16) {
    p[1] = static_cast<uint8_t>((field << 3) | kBytes);
  } else {
    p[1] = static_cast<uint8_t>(((field << 3) | kBytes) | 0x80);
    p[2] = static_cast<uint8_t>(field >> 4);
  }
  if (dt != 0) {
    s = PutTag(s, kFieldDt, kVarint);
    s = PutVarint(s, dt);
  }
  p[0] = static_cast<uint8_t>(s - (p + 1));
  if (e.kind == HubEventKind::kSleep && dt == 0) {  // its timer's start may follow
    fold_record_ = p;
    fold_end_ = s;
    fold_greenlet_ = e.greenlet;
    fold_ns_ = e.a;
  }
  return s;
}

static_assert(internal::FileSink::kNoEnd == gevent::kNanosFuture,
              "the hub's wait with no end is the sink's");

// From a signal that ends the process, before the sink writes its current
// chunk: a checkpoint after the records since the last one (the lane's
// included), so that a reader verifies and delivers them.
void Recorder::SealFromSignal(void* self) {
  auto* r = static_cast<Recorder*>(self);
  if (r->closed_) return;
  const uint32_t n = r->pending_ + r->LaneRecords();
  if (n == 0 || r->sink_.room() < kCheckpointBytes) return;
  r->EncodeCheckpoint(r->sink_.Reserve(kCheckpointBytes), n);
}

int64_t Recorder::BeforeWait(int64_t now_ns, int64_t deadline_ns) {
  // Before short waits too: writing here costs the loop less than waking
  // the writer thread costs the process (internal/sink.h, DueInWait).
  int64_t back = deadline_ns;
  if (!closed_ && sink_.DueInWait(now_ns, deadline_ns, &back)) {
    SettleLane();
    if (pending_ > 0) WriteCheckpoint();  // all of it verifiable
    sink_.FlushInWait();
    RefillLane();
  }
  if (next_ != nullptr && next_->WantsBeforeWait()) {
    back = std::min(back, next_->BeforeWait(now_ns, deadline_ns));
  }
  return back;
}

// Text records (spawn, finish, note), callbacks not recorded, kinds this
// version does not know (skipped), and everything after CloseFile().
void Recorder::OnHubEventSlow(const HubEvent& e) {
  if (!closed_ && (e.kind == HubEventKind::kSpawn || e.kind == HubEventKind::kFinish ||
                   e.kind == HubEventKind::kNote)) {
    uint64_t dt = 0;
    if (e.time_ns != last_ns_) dt = Advance(e.time_ns);
    WriteSlow(e, dt);
  }
  if (next_ != nullptr) next_->OnHubEvent(e);
}

uint64_t Recorder::Advance(int64_t ns) {
  if (ns <= last_ns_) return 0;  // clocks here never go back; be safe
  const auto dt = static_cast<uint64_t>(ns - last_ns_);
  last_ns_ = ns;
  return dt;
}

void Recorder::WriteSlow(const HubEvent& e, uint64_t dt) {
  const bool by_hub = hub_->in_hub();
  // The common spawn and finish: default name, no error. No strings built.
  if ((e.kind == HubEventKind::kSpawn ||
       (e.kind == HubEventKind::kFinish && e.a != 1)) &&
      (e.who == nullptr || e.who->unnamed() || IsDefaultName(e.who->name(), e.greenlet))) {
    uint8_t sub[40];
    uint8_t* s = PutField(sub, 1, e.greenlet);
    s = PutField(s, 2, static_cast<uint64_t>(e.a));
    if (e.kind == HubEventKind::kSpawn) s = PutField(s, 4, by_hub ? 1 : 0);
    WriteRecord(RecordField(e.kind), sub, static_cast<size_t>(s - sub), dt);
    return;
  }
  Event ev = EventFromHub(e, start_, by_hub);
  scratch_.resize(64 + ev.text.size() + ev.text2.size() + ev.name.size());
  auto* sub = reinterpret_cast<uint8_t*>(&scratch_[0]);
  uint8_t* s = sub;
  switch (e.kind) {
    case HubEventKind::kSpawn:
      s = PutField(s, 1, e.greenlet);
      s = PutField(s, 2, static_cast<uint64_t>(e.a));
      if (!IsDefaultName(ev.name, e.greenlet)) {
        s = PutBytesField(s, 3, ev.name.data(), ev.name.size());
      }
      s = PutField(s, 4, by_hub ? 1 : 0);
      break;
    case HubEventKind::kFinish:
      s = PutField(s, 1, e.greenlet);
      s = PutField(s, 2, static_cast<uint64_t>(e.a));
      s = PutBytesField(s, 3, ev.text.data(), ev.text.size());
      s = PutBytesField(s, 4, ev.text2.data(), ev.text2.size());
      s = PutBytesField(s, 5, ev.name.data(), ev.name.size());
      break;
    case HubEventKind::kNote:
      s = PutField(s, 1, e.greenlet);
      s = PutBytesField(s, 2, ev.text.data(), ev.text.size());
      s = PutField(s, 3, by_hub ? 1 : 0);
      break;
    default:
      return;
  }
  WriteRecord(RecordField(e.kind), sub, static_cast<size_t>(s - sub),
              dt);
}

bool Recorder::CloseFile() {
  if (closed_) return true;
  SettleLane();
  closed_ = true;
  RefillLane();  // closes it
  if (pending_ > 0) Checkpoint();
  // The end record: the count, the trailer, and last the checksum over
  // everything before it (docs/trace-format.md, "Integrity").
  uint8_t sub[32];
  uint8_t* s = PutField(sub, 1, records_);
  *s++ = internal::kEndTrailerTag;
  memcpy(s, internal::kEndTrailerBytes, 8);
  s += 8;
  s = PutFixed32Field(s, 2, 0);
  const size_t n = static_cast<size_t>(s - sub);
  const size_t body = 2 + VarintSize(n) + n;
  uint8_t* p = sink_.Reserve(body + 10);
  p = PutVarint(p, body);
  p = PutTag(p, kFieldEnd, kBytes);
  p = PutVarint(p, n);
  memcpy(p, sub, n);
  p += n;
  sink_.Commit(p);
  sink_.CrcBreak(p - 4, p - 4, p);
  std::string error;
  const bool ok = sink_.Close(&error);
  // The sink has let go of its memory (the lane's position is null now):
  // a hub still holding the lane must find it closed.
  lane_.limit = nullptr;
  return ok;
}

bool Recorder::Stop() {
  if (observes_network_) {
    observes_network_ = false;
    NetworkBackend* net = hub_->backend().network();
    if (net->observer() == this) net->set_observer(nullptr);
  }
  if (attached_) {
    attached_ = false;
    if (hub_->observer() == this) hub_->set_observer(next_);
  }
  return CloseFile();
}

// NetCall's fields 8 (the host), 10 (each address) and 11 (the error) of a
// resolve (trace.proto).
std::string Recorder::ResolveFields(const NetCall& c) {
  std::string out;
  auto put = [&out](uint32_t field, const void* data, size_t size) {
    uint8_t head[16];
    uint8_t* h = PutTag(head, field, kBytes);
    h = PutVarint(h, size);
    out.append(reinterpret_cast<const char*>(head), static_cast<size_t>(h - head));
    out.append(static_cast<const char*>(data), size);
  };
  if (c.size > 0) put(8, c.data, std::min(c.size, kMaxPayloadPerRecord));
  if (c.resolved == nullptr) return out;
  for (size_t i = 0; i < c.resolved->count && i < 1024; ++i) {
    const Address& a = c.resolved->addresses[i];
    if (a.length() > 0 && a.length() <= sizeof(sockaddr_storage)) {
      put(10, a.sockaddr(), a.length());
    }
  }
  if (c.resolved->message != nullptr) {
    put(11, c.resolved->message, std::min<size_t>(strlen(c.resolved->message), 4096));
  }
  return out;
}

void Recorder::OnNetCall(const NetCall& c) {
  if (closed_) return;
  fold_end_ = nullptr;  // a sleep record takes only its timer's start
  SettleLane();
  const uint64_t dt = Advance(hub_->loop_time_ns());
  // What the policy keeps of the bytes.
  const uint64_t cap = options_.payload_bytes_per_connection;
  const bool private_bytes = c.bytes_private || cap == 0;
  size_t keep = 0;
  if ((c.op == NetOp::kRecv || c.op == NetOp::kPeek || c.op == NetOp::kRecvFrom) &&
      c.size > 0) {
    keep = private_bytes ? 0 : std::min(c.size, kMaxPayloadPerRecord);
    if (keep > 0 && cap != UINT64_MAX) {
      uint64_t& kept = kept_per_fd_[c.fd];
      keep = static_cast<size_t>(std::min<uint64_t>(keep, cap > kept ? cap - kept : 0));
      if (c.op != NetOp::kPeek) kept += keep;
    }
    payload_kept_ += keep;
    payload_dropped_ += c.size - keep;
  }
  if (cap != UINT64_MAX) {
    if (c.op == NetOp::kOpen && c.result >= 0) kept_per_fd_[c.fd] = 0;
    if (c.op == NetOp::kAccept && c.result >= 0) kept_per_fd_[c.new_fd] = 0;
    if (c.op == NetOp::kClose) kept_per_fd_.erase(c.fd);
  }
  // The fields but the payload, on the stack; the payload goes straight
  // into the sink, last (protobuf takes fields in any order).
  const size_t address_size = c.address != nullptr ? c.address->length() : 0;
  uint8_t head[64 + sizeof(sockaddr_storage)];
  uint8_t* s = PutField(head, 1, static_cast<uint64_t>(c.op));
  s = PutField(s, 2, static_cast<uint64_t>(static_cast<int64_t>(c.fd)));
  s = PutField(s, 3, ZigZag(c.result));
  s = PutField(s, 4, ZigZag(c.arg));
  s = PutField(s, 5, ZigZag(c.arg2));
  if (address_size > 0 && address_size <= sizeof(sockaddr_storage)) {
    s = PutBytesField(s, 6, reinterpret_cast<const char*>(c.address->sockaddr()),
                      address_size);
  }
  if (c.op == NetOp::kAccept) s = PutField(s, 7, static_cast<uint64_t>(int64_t{c.new_fd}));
  if ((c.op == NetOp::kSend || c.op == NetOp::kSendTo) && !private_bytes && c.size > 0) {
    s = PutFixed32Field(s, 9, internal::Crc32c(0, c.data, c.size));
  }
  const size_t head_size = static_cast<size_t>(s - head);
  // A resolve's fields (rare: built apart): the host, as payload (a replay
  // matches on it, whatever the payload policy), the addresses, the error.
  size_t resolve_size = 0;
  if (ABSL_PREDICT_FALSE(c.op == NetOp::kResolve)) {
    resolve_fields_ = ResolveFields(c);
    resolve_size = resolve_fields_.size();
  }
  const size_t sub =
      head_size + (keep > 0 ? 1 + VarintSize(keep) + keep : 0) + resolve_size;
  const size_t body = 2 + VarintSize(sub) + sub + (dt != 0 ? 2 + VarintSize(dt) : 0);
  // Room for the record, a checkpoint after it and the lane's records up
  // to the next one (as OnHubEvent).
  uint8_t* p = sink_.Reserve(body + 10 + kCheckpointBytes + kLaneRoom);
  p = PutVarint(p, body);
  p = PutTag(p, kFieldNetCall, kBytes);
  p = PutVarint(p, sub);
  memcpy(p, head, head_size);
  p += head_size;
  if (keep > 0) p = PutBytesField(p, 8, static_cast<const char*>(c.data), keep);
  if (ABSL_PREDICT_FALSE(resolve_size > 0)) {
    memcpy(p, resolve_fields_.data(), resolve_size);
    p += resolve_size;
  }
  if (dt != 0) {
    p = PutTag(p, kFieldDt, kVarint);
    p = PutVarint(p, dt);
  }
  sink_.Commit(p);
  ++records_;
  if (++pending_ == kCheckpointEvery) {
    Checkpoint();
  } else if (keep > 0 && (net_bytes_ += keep) >= (4u << 20)) {
    // Readers take at most 16 MiB between checkpoints.
    net_bytes_ = 0;
    Checkpoint();
  }
  if (lane_on_) {
    OpenLane();
  } else {
    lane_start_ = lane_.pos;
  }
}

std::string RecordingError() { return internal::RecordingError(); }

void note(std::string_view text) {
  Hub* hub = get_hub();
  if (!hub->observing()) return;
  const std::string s(text);
  RawGreenlet* g = hub->current();
  hub->EmitNote(g, g->id(), s.c_str());
}

}  // namespace trace
}  // namespace gevent
