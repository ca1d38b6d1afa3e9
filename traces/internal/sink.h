// FileSink: where a recorder's bytes go.
//
// A regular file is written through a shared memory mapping: a byte stored
// in the mapping is in the kernel's page cache at once, so a recording
// process that crashes (even SIGKILL) loses nothing it wrote, without a
// system call per record. The file grows in windows of 4 MiB; until Close()
// cuts it to size, zero bytes follow the data (readers stop there). Anything
// else (a pipe, /dev/stdout), or a failed mapping, is written with write(2)
// at every Sync().
#ifndef GEVENTPP_TRACES_INTERNAL_SINK_H_
#define GEVENTPP_TRACES_INTERNAL_SINK_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gevent {
namespace trace {
namespace internal {

class FileSink {
 public:
  FileSink() = default;
  ~FileSink();
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  // Creates (truncates) `path`. Returns false with `*error` set.
  bool Open(const std::string& path, std::string* error);
  bool is_open() const { return fd_ >= 0; }

  // Room for at least `n` contiguous bytes at the write position (n <= 1 MiB).
  uint8_t* Reserve(size_t n) {
    if (static_cast<size_t>(end_ - pos_) < n) Grow(n);
    return pos_;
  }
  // The bytes up to `p` (from Reserve) are written.
  void Commit(uint8_t* p) { pos_ = p; }

  // CRC-32C of everything written since the last TakeCrc() (or Open).
  uint32_t TakeCrc();
  // Makes the data durable against a crash of this process (write(2) in
  // the fallback mode; nothing to do with a mapping).
  void Sync();
  // Bytes written so far.
  uint64_t size() const { return base_off_ + static_cast<uint64_t>(pos_ - base_); }
  // Cuts the file to size and closes it. Returns false with `*error` set.
  bool Close(std::string* error);

 private:
  void Grow(size_t n);
  void FoldCrc();
  bool MapWindow(uint64_t offset);

  int fd_ = -1;
  bool mapped_ = false;
  // The current window (mapping) or buffer: [base_, end_), write at pos_.
  uint8_t* base_ = nullptr;
  uint8_t* pos_ = nullptr;
  uint8_t* end_ = nullptr;
  uint64_t base_off_ = 0;  // file offset of base_
  size_t window_ = 0;      // mapping length
  std::vector<uint8_t> buffer_;  // fallback mode
  uint8_t* crc_mark_ = nullptr;  // bytes before it are folded into crc_
  uint32_t crc_ = 0;
  bool failed_ = false;
  std::string failure_;
};

}  // namespace internal
}  // namespace trace
}  // namespace gevent

#endif  // GEVENTPP_TRACES_INTERNAL_SINK_H_
