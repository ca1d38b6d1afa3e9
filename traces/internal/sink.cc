#include "traces/internal/sink.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "traces/internal/crc32c.h"

namespace gevent {
namespace trace {
namespace internal {
namespace {
constexpr size_t kWindow = size_t{4} << 20;
constexpr size_t kBuffer = size_t{64} << 10;
constexpr uint64_t kPage = 4096;

bool WriteAll(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}
}  // namespace

FileSink::~FileSink() {
  std::string ignored;
  Close(&ignored);
}

bool FileSink::Open(const std::string& path, std::string* error) {
  fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    *error = absl::StrCat("cannot create trace file '", path,
                          "': ", strerror(errno));
    return false;
  }
  struct stat st;
  if (fstat(fd_, &st) == 0 && S_ISREG(st.st_mode) && MapWindow(0)) {
    mapped_ = true;
  } else {
    buffer_.resize(kBuffer);
    base_ = buffer_.data();
    pos_ = base_;
    end_ = base_ + buffer_.size();
  }
  crc_mark_ = pos_;
  return true;
}

bool FileSink::MapWindow(uint64_t offset) {
  if (ftruncate(fd_, static_cast<off_t>(offset + kWindow)) != 0) return false;
  void* p = mmap(nullptr, kWindow, PROT_READ | PROT_WRITE, MAP_SHARED, fd_,
                 static_cast<off_t>(offset));
  if (p == MAP_FAILED) return false;
  base_ = static_cast<uint8_t*>(p);
  pos_ = base_;
  end_ = base_ + kWindow;
  base_off_ = offset;
  window_ = kWindow;
  return true;
}

void FileSink::FoldCrc() {
  crc_ = Crc32c(crc_, crc_mark_, static_cast<size_t>(pos_ - crc_mark_));
  crc_mark_ = pos_;
}

uint32_t FileSink::TakeCrc() {
  FoldCrc();
  uint32_t c = crc_;
  crc_ = 0;
  return c;
}

void FileSink::Grow(size_t n) {
  FoldCrc();
  if (mapped_) {
    // Remap from the page holding the write position.
    const uint64_t at = size();
    const uint64_t off = at - at % kPage;
    munmap(base_, window_);
    base_ = pos_ = end_ = nullptr;
    if (!MapWindow(off)) {
      // Out of disk or address space: continue in the fallback mode (the
      // file keeps what was written; the rest goes through write(2)).
      mapped_ = false;
      if (ftruncate(fd_, static_cast<off_t>(at)) != 0 ||
          lseek(fd_, static_cast<off_t>(at), SEEK_SET) < 0) {
        failed_ = true;
      }
      buffer_.resize(kBuffer);
      base_ = pos_ = buffer_.data();
      end_ = base_ + buffer_.size();
      base_off_ = at;
    } else {
      pos_ = base_ + (at - off);
    }
  } else {
    Sync();
    if (static_cast<size_t>(end_ - pos_) < n) {
      buffer_.resize(n + kBuffer);
      base_ = pos_ = buffer_.data();
      end_ = base_ + buffer_.size();
    }
  }
  crc_mark_ = pos_;
}

void FileSink::Sync() {
  if (mapped_ || fd_ < 0) return;
  FoldCrc();
  const size_t n = static_cast<size_t>(pos_ - base_);
  if (n > 0 && !failed_ && !WriteAll(fd_, base_, n)) failed_ = true;
  base_off_ += n;
  pos_ = base_;
  crc_mark_ = pos_;
}

bool FileSink::Close(std::string* error) {
  if (fd_ < 0) return true;
  bool ok = true;
  const uint64_t at = size();
  if (mapped_) {
    munmap(base_, window_);
    if (ftruncate(fd_, static_cast<off_t>(at)) != 0) ok = false;
  } else {
    Sync();
  }
  base_off_ = at;  // size() stays right
  if (failed_) ok = false;
  if (close(fd_) != 0) ok = false;
  fd_ = -1;
  base_ = pos_ = end_ = nullptr;
  mapped_ = false;
  if (!ok) *error = "writing the trace file failed (disk full?)";
  return ok;
}

}  // namespace internal
}  // namespace trace
}  // namespace gevent
