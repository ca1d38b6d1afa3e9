// FileSink: where a recorder's bytes go.
//
// Records are encoded into a chunk of memory. A full chunk, or one with
// 32 KiB pending at a checkpoint or time advance (or kFlushIntervalNs, 50 ms,
// of real time after the last hand-off), is handed to the process's trace
// writer thread, which computes the checkpoints' CRC-32C and writes the
// chunk with write(2); the recording thread goes on in a fresh chunk. So
// neither the system call nor the checksum is paid by the recorded
// program's thread. Chunks reach the file in the order they were handed
// off; Close() waits for all of them.
//
// Except on a loop that waits now and then (an epoll loop: WriteInWaits):
// about to wait (Recorder::BeforeWait), it writes what is pending itself,
// once 32 KiB are pending or kWaitWriteIntervalNs (200 ms) passed since the
// last write (see DueInWait), unless the writer thread still has chunks of
// this sink's; its busy path hands off only a full chunk or bytes 400 ms
// old (a loop that stops waiting). Each write(2) has a fixed cost (the
// system call and the file system's inode update, more after a sleep),
// which the long interval keeps to a small share of a timer loop's CPU; a
// flush through a sleeping writer thread costs several times the CPU of one
// written here (waking the thread). trace_bench's BM_EpollTimers and
// BM_QuietFlush measure both (figures: docs/trace-format.md, "Overhead").
// The loop pays a write once per 32 KiB or 200 ms, before a wait, so a
// timer due meanwhile may fire late by the write's cost.

// A fatal signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT: crashes,
// abort(), an uncaught exception) waits for the writer thread to finish
// what it was given (up to 2 s), then seals every recorder's current chunk
// with a checkpoint (SetSeal) and writes it itself, so a crash loses
// nothing. SIGTERM, SIGINT, SIGHUP and SIGQUIT do the same where their
// disposition is the default, then end the process by the signal as it
// would have. Only a process killed outright (SIGKILL) can lose its last
// 50 ms (200 ms in a loop writing in its waits, 400 ms in one that has
// stopped waiting; at most a chunk and what the writer had queued) of
// records.
//
// After fork(), the child's copy of a sink is not its own: the file and the
// bytes pending at the fork are the parent's (the parent writes them). It
// writes nothing, neither through the writer thread, nor in waits, nor
// from a crash; what the child records into it is dropped, and Close()
// only closes the child's descriptor. (A child that wants a trace starts
// its own recorder, into another file.)
//
// (A memory mapping of the file would survive SIGKILL too, but the first
// write to each fresh page costs microseconds on virtual machines, many
// times the cost a byte of write(2); docs/trace-format.md.)
#ifndef GEVENTPP_TRACES_INTERNAL_SINK_H_
#define GEVENTPP_TRACES_INTERNAL_SINK_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

namespace gevent {
namespace trace {
namespace internal {

struct Chunk;  // sink.cc

// One cache line, in the exclusive state (x86's PREFETCHW; a NOP on
// processors without it).
inline void PrefetchLineForWrite(const void* p) {
#if defined(__x86_64__)
  asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 1, 3);
#endif
}

class FileSink {
 public:
  static constexpr size_t kChunkBytes = 64 * 1024;
  static constexpr size_t kFlushBytes = 32 * 1024;
  static constexpr int64_t kFlushIntervalNs = 50000000;
  // The same for a loop that writes in its waits.
  static constexpr int64_t kWaitWriteIntervalNs = 200000000;

  FileSink() = default;
  ~FileSink();
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  // Creates or truncates `path`, unless it is a trace this process is
  // reading (internal/files.h) or another sink, here or in another process,
  // writes it (an exclusive flock(2) on it, held until Close): then returns
  // false with `*error` set, and `*in_use` in the second case.
  bool Open(const std::string& path, std::string* error, bool* in_use = nullptr);
  bool is_open() const { return fd_ >= 0; }

  // Room for at least `n` contiguous bytes at the write position.
  uint8_t* Reserve(size_t n) {
    if (static_cast<size_t>(end_ - *pos_) < n) Grow(n);
    return *pos_;
  }
  // The bytes up to `p` (from Reserve) are written.
  void Commit(uint8_t* p) { *pos_ = p; }
  // Bytes that can be written at the write position without a Reserve.
  size_t room() const { return static_cast<size_t>(end_ - *pos_); }
  // Keeps the write position in `*cursor` from now on, where someone else
  // (a hub's HubEventLane) may advance it within room(); `*cursor` must
  // outlive the sink.
  void UseCursor(uint8_t** cursor) {
    *cursor = *pos_;
    pos_ = cursor;
  }

  // Checksums: the bytes since the previous CrcBreak (or Open) up to
  // `covered_end` get a CRC-32C, stored at `patch` (4 bytes, little-endian;
  // nullptr: dropped); the next checksum starts at `resume`. All three are
  // written positions of the current chunk, covered_end <= resume. The
  // writer thread computes it, before it writes the bytes.
  void CrcBreak(uint8_t* covered_end, uint8_t* patch, uint8_t* resume);

  // From now on the program writes in its waits (FlushInWait); the busy
  // path (MaybeFlush) leaves them the bytes below a chunk and 400 ms.
  void WriteInWaits() { write_in_waits_ = true; }
  // Hands the pending bytes to the writer if FlushDue(now_ns).
  void MaybeFlush(int64_t now_ns = -1) {
    if (FlushDue(now_ns)) HandOff();
  }
  // Whether 32 KiB are pending or 50 ms passed since the last flush (with
  // WriteInWaits: 400 ms, and the size is left to the waits). `now_ns`: a
  // CLOCK_MONOTONIC reading the caller has; -1: none, the sink reads the
  // clock every 32nd call.
  bool FlushDue(int64_t now_ns = -1);
  // Whether a program about to wait from `now_ns` until `deadline_ns`
  // (CLOCK_MONOTONIC readings; the largest int64: no end) writes its
  // pending bytes now: 32 KiB are pending, or some, and a write is due (200
  // ms since the last) now or during a short wait (200 ms at most). For a
  // longer wait that a write falls due in, `*back_ns` is set to that time
  // instead: the program comes back then to write (so a program that waits
  // for good, hung perhaps, has its whole trace on disk 200 ms after its
  // last write at most, and one that idles between requests writes at most
  // once per 200 ms). Without WriteInWaits (a virtual clock, whose waits
  // are no waits but for one with no end): only before a wait with no end.
  bool DueInWait(int64_t now_ns, int64_t deadline_ns, int64_t* back_ns) const {
    const size_t n = pending();
    if (n == 0) return false;
    if (!write_in_waits_) return deadline_ns == kNoEnd;
    const int64_t due = due_ns();
    if (n >= kFlushBytes || now_ns >= due) return true;
    if (deadline_ns < due) return false;
    if (deadline_ns - now_ns <= kWaitWriteIntervalNs) return true;
    *back_ns = due;
    return false;
  }
  // DueInWait is false, and leaves `*back_ns` alone, while the write
  // position is below due_pos() and the wait's end below due_ns().
  const uint8_t* due_pos() const {
    return write_in_waits_ ? base_ + kFlushBytes
                           : reinterpret_cast<const uint8_t*>(~uintptr_t{0});
  }
  int64_t due_ns() const {
    return write_in_waits_ ? last_flush_ns_ + kWaitWriteIntervalNs : kNoEnd;
  }
  // A wait's deadline when it has none.
  static constexpr int64_t kNoEnd = std::numeric_limits<int64_t>::max();
  // Writes the pending bytes on this thread (the program is about to
  // wait: it has time), unless the writer thread still has some of this
  // sink's (they must reach the file first: then they go to it).
  void FlushInWait();
  // Bytes written since the last flush.
  size_t pending() const { return static_cast<size_t>(*pos_ - base_); }
  // Asks the processor for the chunk's lines from `ahead` to `ahead` + 2
  // KiB past the write position, for writing. A chunk comes back from the
  // writer thread, whose core (or, on a virtual machine, another core
  // complex) may still hold its lines: without this, each new line the
  // recording thread writes waits for them (docs/trace-format.md, "The
  // lane").
  void PrefetchForWrite(size_t ahead) const {
    const size_t left = room();
    if (ahead >= left) return;
    const uint8_t* const to = *pos_ + std::min(left, ahead + kPrefetchBytes);
    for (const uint8_t* p = *pos_ + ahead; p < to; p += 64) PrefetchLineForWrite(p);
  }
  static constexpr size_t kPrefetchBytes = 2048;
  // Hands the pending bytes to the writer now.
  void Flush();
  // Times the bytes were written on the caller's thread (FlushInWait).
  uint64_t written_here() const { return written_here_; }
  // Bytes recorded so far (pending ones included).
  uint64_t size() const { return handed_ + static_cast<uint64_t>(*pos_ - base_); }
  // Writes what is pending, waits until it is written, and closes. Returns
  // false with `*error` set if any write failed.
  bool Close(std::string* error);
  // Whether a write failed, and the first failure ("" if none): "writing
  // trace file 'path' failed: <strerror>; ...". It is reported once, on
  // stderr, when it happens; nothing more is written after it.
  bool failed() const { return errno_.load(std::memory_order_relaxed) != 0; }
  std::string error() const;

  // From a signal handler: waits for the writer thread, then writes the
  // current chunk (write(2) only), after `seal(seal_arg)` (SetSeal) has
  // added what the records since the last checksum need to be read back.
  void FlushFromSignal();
  void SetSeal(void (*seal)(void*), void* seal_arg) {
    seal_ = seal;
    seal_arg_ = seal_arg;
  }

 private:
  friend class Writer;
  void Grow(size_t n);
  void NewChunk(size_t capacity);
  void HandOff();
  void WriteHere();
  // True in a process forked after Open(): the file is an ancestor's.
  bool Inherited() const;
  void DropPending();
  void Failed(int err);  // 0: no failure

  uint8_t** pos_ = &own_pos_;  // the write position: hot, first
  uint8_t* end_ = nullptr;
  uint8_t* base_ = nullptr;
  uint8_t* own_pos_ = nullptr;
  Chunk* chunk_ = nullptr;  // being filled; its data is base_
  int fd_ = -1;
  uint64_t handed_ = 0;     // bytes handed to the writer
  uint64_t ticket_ = 0;     // the writer's number of our last hand-off
  uint64_t written_here_ = 0;
  int64_t last_flush_ns_ = 0;
  uint32_t clock_checks_ = 0;
  bool write_in_waits_ = false;
  int slot_ = -1;  // in the crash registry
  void (*seal_)(void*) = nullptr;
  void* seal_arg_ = nullptr;
  uint64_t generation_ = 0;  // the process's fork generation at Open()
  // The writer thread's: the checksum running across chunks.
  uint32_t crc_ = 0;
  std::atomic<int> errno_{0};  // of the first failed write
  std::string path_;
};

// The first failure of any recorder of this process to create or write its
// trace ("" if none), and for GEVENT_TRACE's own failures to start one.
std::string RecordingError();
void NoteRecordingError(const std::string& message);

}  // namespace internal
}  // namespace trace
}  // namespace gevent

#endif  // GEVENTPP_TRACES_INTERNAL_SINK_H_
