// FileSink: where a recorder's bytes go.
//
// Records are encoded into a buffer in memory and written to the file with
// write(2) when 32 KiB are pending, or at a checkpoint or time advance once
// 50 ms of real time passed since the last write, and when the recorder
// stops. A fatal signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT: crashes,
// abort(), an uncaught exception) writes every recorder's pending bytes
// before the process dies, so a crash loses nothing; only a process killed
// outright (SIGKILL) can lose its last 50 ms (at most 32 KiB) of records.
// (A write every few milliseconds costs more than the recording itself in a
// quiet program: a system call is ~5 us on the virtual machines measured.)
//
// (A memory mapping of the file would survive SIGKILL too, but the first
// write to each fresh page costs microseconds on virtual machines: 2.5 ns a
// byte measured here, against 0.2 ns through write(2).)
#ifndef GEVENTPP_TRACES_INTERNAL_SINK_H_
#define GEVENTPP_TRACES_INTERNAL_SINK_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace gevent {
namespace trace {
namespace internal {

class FileSink {
 public:
  static constexpr size_t kFlushBytes = 32 * 1024;
  static constexpr int64_t kFlushIntervalNs = 50000000;

  FileSink() = default;
  ~FileSink();
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  // Creates (truncates) `path`. Returns false with `*error` set.
  bool Open(const std::string& path, std::string* error);
  bool is_open() const { return fd_ >= 0; }

  // Room for at least `n` contiguous bytes at the write position.
  uint8_t* Reserve(size_t n) {
    if (static_cast<size_t>(end_ - pos_) < n) Grow(n);
    return pos_;
  }
  // The bytes up to `p` (from Reserve) are written.
  void Commit(uint8_t* p) { pos_ = p; }

  // CRC-32C of everything written since the last TakeCrc() (or Open).
  uint32_t TakeCrc();
  // Writes the pending bytes if 32 KiB are pending or 50 ms passed since
  // the last write.
  void MaybeFlush();
  // Writes the pending bytes now.
  void Flush();
  // Bytes written so far (pending ones included).
  uint64_t size() const { return written_ + static_cast<uint64_t>(pos_ - base_); }
  // Writes what is pending and closes. Returns false with `*error` set if
  // any write failed.
  bool Close(std::string* error);

  // From a signal handler: writes the pending bytes (write(2) only).
  void FlushFromSignal();

 private:
  void Grow(size_t n);
  void FoldCrc();

  uint8_t* pos_ = nullptr;  // hot: first
  uint8_t* end_ = nullptr;
  uint8_t* base_ = nullptr;
  int fd_ = -1;
  std::unique_ptr<uint8_t[]> buffer_;
  size_t capacity_ = 0;
  uint64_t written_ = 0;
  int64_t last_flush_ns_ = 0;
  uint8_t* crc_mark_ = nullptr;  // bytes before it are folded into crc_
  uint32_t crc_ = 0;
  bool failed_ = false;
  int slot_ = -1;  // in the crash registry
};

}  // namespace internal
}  // namespace trace
}  // namespace gevent

#endif  // GEVENTPP_TRACES_INTERNAL_SINK_H_
