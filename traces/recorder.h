// Recording a hub's events into a trace file.
//
// example-prelude: void RunGreenlets();
//   {
//     gevent::trace::Recording rec("/tmp/run.gtrace");  // the current hub
//     RunGreenlets();
//   }  // the trace is complete (end record written, file closed)
//
// or `gevent::trace::Recorder rec(hub, path)` for a given hub, or, without
// changing the program, GEVENT_TRACE=path in the environment of a binary
// that links //traces: every hub that get_hub() creates is recorded (the
// first into `path`, later ones into `path.2`, `path.3`, ...; "%p" in it is
// the process id), until its thread exits.
//
// Works on both backends. Records are encoded into memory as events happen
// and reach the file once 32 KiB are pending or after an interval: an epoll
// loop writes them itself in its waits, at least every 200 ms
// (FileSink::kWaitWriteIntervalNs); on the simulator the writer thread
// writes them, at least every 50 ms of real time (FileSink::kFlushIntervalNs).
// A crash (fatal signal, abort, uncaught exception) and SIGTERM, SIGINT,
// SIGHUP and SIGQUIT (where the program left them to their default) write
// what is pending before the process dies (see internal/sink.h). In a
// child forked while it records, a Recorder writes nothing more (the file
// is the parent's); start another one there to trace the child. Greenlet
// ids are RawGreenlet::id() (per-hub sequence numbers), never addresses.
// The format is traces/trace.proto, described in docs/trace-format.md.
#ifndef GEVENTPP_TRACES_RECORDER_H_
#define GEVENTPP_TRACES_RECORDER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "absl/container/flat_hash_map.h"
#include "runtime/hub.h"
#include "runtime/network_observer.h"
#include "traces/event.h"
#include "traces/internal/sink.h"

namespace gevent {
namespace trace {

struct RecorderOptions {
  // Also record each callback the hub runs (HubEventKind::kCallback). They
  // follow from the other events, and are a third of the records of a
  // sleep(0) loop; useful to see a callback-heavy loop in detail.
  // GEVENT_TRACE_CALLBACKS=1 turns them on for GEVENT_TRACE.
  bool callbacks = false;
  // Socket calls (epoll hubs: the network's calls and their results, so
  // that the run replays on the simulator; docs/network.md, "Recording and
  // replaying network I/O"). Received bytes are kept, as payload, up to
  // this many per connection; after that only their lengths. The default
  // keeps everything; 0 keeps lengths only (and no checksum of what is
  // sent). A connection marked with Socket::set_bytes_private keeps nothing
  // of its bytes, whatever this says. Recorded bytes can hold secrets
  // (passwords, keys, personal data): a trace is as sensitive as the
  // traffic it kept. GEVENT_TRACE_PAYLOAD=all|lengths|<bytes> sets it for
  // GEVENT_TRACE.
  uint64_t payload_bytes_per_connection = UINT64_MAX;
};

class alignas(64) Recorder final : public HubObserver, public NetworkObserver {
 public:
  // Event records between two checkpoints at most. A write in a wait, a
  // hand-off at a time advance and the last write before a signal ends the
  // process end with one too, so that a reader can verify (and deliver)
  // what they wrote (docs/trace-format.md, "Integrity").
  static constexpr uint32_t kCheckpointEvery = 256;

  // Starts recording `hub` into `path` (created or truncated). An observer
  // already set on the hub keeps receiving every event (observers chain:
  // stop them in the reverse order of their creation). Throws TraceError
  // if the file cannot be created, or is a trace this process is reading
  // (a replay's: compared by file, not by name); TraceFileInUse if another
  // recorder, here or in another process, writes it (each holds an
  // exclusive flock(2) on its file while it records). The hub must outlive
  // the Recorder.
  Recorder(Hub* hub, const std::string& path, RecorderOptions options = {});
  ~Recorder() override;
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Stops recording: detaches from the hub, writes the end record and
  // closes the file. Idempotent. Returns false if writing failed.
  bool Stop();

  // Writing the file failed (ENOSPC, EIO, ...): the first failure, "" if
  // none. It is also printed on stderr once, when it happens, with the path
  // and the error. Recording never stops the program: the trace ends where
  // the failure was (a reader says it is truncated), and the recorder goes
  // on taking events, writing nothing.
  bool ok() const { return !sink_.failed(); }
  std::string error() const { return sink_.error(); }

  const std::string& path() const { return path_; }
  // The hub's clock when recording started: record times count from it.
  absl::Time start() const { return start_; }
  // Event records written so far, and bytes (header included).
  uint64_t records() const { return records_ + (closed_ ? 0 : LaneRecords()); }
  uint64_t bytes() const { return sink_.size(); }
  // Times the recording thread wrote the file itself (an epoll loop about
  // to wait); the other writes were the writer thread's.
  uint64_t writes_in_waits() const { return sink_.written_here(); }

  void OnHubEvent(const HubEvent& e) override;
  bool WantsCallbacks() const override {
    return options_.callbacks || (next_ != nullptr && next_->WantsCallbacks());
  }
  // Switches, sleep(0)s and timer firings at an unchanged time, the clock's
  // moves, and sleeps with their timer's start are written by the hub
  // itself, already encoded (HubEventLane). Not when another observer is
  // chained after this one (it must see every event).
  HubEventLane* lane() override { return lane_on_ ? &lane_ : nullptr; }
  // On a real clock, a loop about to wait writes what is due to the file
  // itself (internal/sink.h): cheaper than waking the writer thread. On
  // either clock, a loop about to wait with no end in sight (for another
  // thread; or hung) writes everything first.
  bool WantsBeforeWait() const override { return true; }
  int64_t BeforeWait(int64_t now_ns, int64_t deadline_ns) override;

  // Ends the file without touching the hub (which may be gone); later
  // events are ignored. Used for GEVENT_TRACE at thread exit.
  bool CloseFile();

  // A socket call (NetworkObserver): a NetCall record. On an epoll hub the
  // recorder observes the network from its start (sockets opened before it
  // are not recorded), unless another observer already does.
  void OnNetCall(const NetCall& call) override;
  // The most payload one record keeps (the rest of a larger recv keeps its
  // length only).
  static constexpr size_t kMaxPayloadPerRecord = 512 * 1024;
  // Received bytes kept, and received bytes dropped by the policy, so far.
  uint64_t payload_kept() const { return payload_kept_; }
  uint64_t payload_dropped() const { return payload_dropped_; }

 private:
  uint8_t* EncodeRecord(const HubEvent& e, uint8_t* p, uint32_t field, uint64_t dt);
  // Room a checkpoint record needs (Checkpoint()).
  static constexpr size_t kCheckpointBytes = 32;
  __attribute__((noinline)) void OnHubEventSlow(const HubEvent& e);
  void SetUpLane();
  // The records the hub wrote into the lane since it was last opened.
  uint32_t LaneRecords() const {
    return static_cast<uint32_t>(
        (static_cast<uint64_t>(lane_.pos - lane_start_) - lane_.extra) /
        HubEventLane::kMinRecordBytes);
  }
  // Counts them (and takes the time and timer number a fold moved).
  void SettleLane() {
    if (lane_.pos == lane_start_) return;
    const uint32_t taken = LaneRecords();
    records_ += taken;
    pending_ += taken;
    lane_start_ = lane_.pos;
    lane_.extra = 0;
    last_ns_ = lane_.time_ns;
    last_seq_ = lane_.base;
    if (pending_ == kCheckpointEvery) Checkpoint();
  }
  // Opens the lane for the records up to the next checkpoint (or closes it).
  void RefillLane();
  // The lane's limit, in bytes a record: a sleep and its folded timer start
  // take 9 bytes for two records, every other record at least 5.
  static constexpr size_t kLaneBytesPerRecord = 4;
  // Room the lane needs: 32 writable bytes at each position below its limit.
  static constexpr size_t kLaneRoom = kCheckpointEvery * kLaneBytesPerRecord + 32;
  // At most the records left before the next checkpoint (fewer when ids
  // take more than a byte: the lane then closes early, and the event after
  // it reopens it for the rest).
  void OpenLane() {
    lane_start_ = lane_.pos;
    lane_.extra = 0;
    lane_.limit = lane_.pos + (kCheckpointEvery - pending_) * kLaneBytesPerRecord;
    lane_.time_ns = last_ns_;
    lane_.base = last_seq_;
    // Before a wait, the hub asks BeforeWait only when it may have work.
    lane_.before_wait_pos = sink_.due_pos();
    lane_.before_wait_ns = sink_.due_ns();
  }
  void WriteHeader();
  void WriteRecord(uint32_t field, const uint8_t* sub, size_t n, uint64_t dt);
  void WriteSlow(const HubEvent& e, uint64_t dt);
  uint64_t Advance(int64_t ns);
  void Checkpoint();
  static std::string ResolveFields(const NetCall& c);
  std::string resolve_fields_;  // the last resolve's (OnNetCall)
  void WriteCheckpoint();
  uint8_t* EncodeCheckpoint(uint8_t* p, uint32_t records);
  static void SealFromSignal(void* self);

  // Touched by every record the hub writes: the lane's two cache lines (it
  // holds the sink's write position). The rest only by the other records.
  HubEventLane lane_;
  uint8_t* lane_start_ = nullptr;  // lane_.pos when last opened (or settled)
  bool lane_on_ = false;
  int64_t last_ns_ = 0;  // the time of the last record, in Unix ns
  uint64_t last_seq_ = 0;
  // The last record, if it is a sleep that its timer's start may fold into
  // (see OnHubEvent): where it starts and ends, its greenlet and delay.
  // Every other event clears fold_end_.
  uint8_t* fold_record_ = nullptr;
  uint8_t* fold_end_ = nullptr;
  uint64_t fold_greenlet_ = 0;
  int64_t fold_ns_ = 0;
  HubObserver* next_;
  Hub* hub_;
  uint32_t pending_ = 0;  // records since the last checkpoint
  uint64_t encoded_kinds_ = 0;  // bit k: kind k is encoded in OnHubEvent
  bool closed_ = false;
  RecorderOptions options_;
  uint64_t records_ = 0;
  internal::FileSink sink_;  // its write position comes first
  // The rest.
  bool attached_ = false;
  bool real_clock_ = false;  // the hub's times are CLOCK_MONOTONIC readings
  absl::Time start_;
  std::string path_;
  std::string scratch_;
  // Socket calls.
  bool observes_network_ = false;
  uint64_t net_bytes_ = 0;  // payload bytes written since the last forced checkpoint
  uint64_t payload_kept_ = 0;
  uint64_t payload_dropped_ = 0;
  absl::flat_hash_map<int, uint64_t> kept_per_fd_;  // with a finite cap
};

// Records the calling thread's hub (get_hub()) while in scope.
class Recording {
 public:
  explicit Recording(const std::string& path, RecorderOptions options = {})
      : rec_(get_hub(), path, options) {}
  Recorder& recorder() { return rec_; }
  bool Stop() { return rec_.Stop(); }

 private:
  Recorder rec_;
};

// The first failure of this process to record a trace ("" if none): a
// recorder's failed write (Recorder::error()), or GEVENT_TRACE's failure to
// start a recording. For a program run with GEVENT_TRACE, which has no
// Recorder of its own to ask.
std::string RecordingError();

// Adds a note to the trace of the current hub (HubEventKind::kNote), if it
// is recorded; free otherwise. Text after an embedded NUL is dropped.
void note(std::string_view text);

// The program's short name and its ELF build id (hex; empty if none), as
// trace headers carry them.
std::string ProgramName();
std::string BuildId();

}  // namespace trace
}  // namespace gevent

#endif  // GEVENTPP_TRACES_RECORDER_H_
