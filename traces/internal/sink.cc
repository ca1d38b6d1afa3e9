#include "traces/internal/sink.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "traces/internal/crc32c.h"

namespace gevent {
namespace trace {
namespace internal {
namespace {

constexpr size_t kBuffer = 64 * 1024;

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

int64_t CoarseNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// ---- Crash registry: the sinks a fatal signal must flush.

constexpr int kSlots = 256;
std::atomic<FileSink*> g_sinks[kSlots];
constexpr int kFatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
struct sigaction g_previous[NSIG];

void OnFatalSignal(int sig, siginfo_t* info, void* context) {
  for (auto& slot : g_sinks) {
    if (FileSink* s = slot.load(std::memory_order_acquire)) s->FlushFromSignal();
  }
  // Then what would have happened without us.
  const struct sigaction& prev = g_previous[sig];
  if ((prev.sa_flags & SA_SIGINFO) && prev.sa_sigaction != nullptr) {
    prev.sa_sigaction(sig, info, context);
    return;
  }
  if (prev.sa_handler == SIG_IGN) return;
  if (prev.sa_handler != SIG_DFL && prev.sa_handler != nullptr) {
    prev.sa_handler(sig);
    return;
  }
  signal(sig, SIG_DFL);
  raise(sig);  // delivered when this handler returns
}

void InstallCrashHandlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (int sig : kFatal) {
      struct sigaction sa;
      memset(&sa, 0, sizeof sa);
      sa.sa_sigaction = &OnFatalSignal;
      sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
      sigemptyset(&sa.sa_mask);
      sigaction(sig, &sa, &g_previous[sig]);
    }
  });
}

int Register(FileSink* s) {
  InstallCrashHandlers();
  for (int i = 0; i < kSlots; ++i) {
    FileSink* expected = nullptr;
    if (g_sinks[i].compare_exchange_strong(expected, s)) return i;
  }
  return -1;  // more than kSlots recorders: the others flush normally only
}

}  // namespace

FileSink::~FileSink() {
  std::string ignored;
  Close(&ignored);
}

bool FileSink::Open(const std::string& path, std::string* error) {
  fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    *error = absl::StrCat("cannot create trace file '", path,
                          "': ", strerror(errno));
    return false;
  }
  capacity_ = kBuffer;
  buffer_.reset(new uint8_t[capacity_]);
  base_ = pos_ = crc_mark_ = buffer_.get();
  end_ = base_ + capacity_;
  last_flush_ns_ = CoarseNowNs();
  slot_ = Register(this);
  return true;
}

void FileSink::FoldCrc() {
  crc_ = Crc32c(crc_, crc_mark_, static_cast<size_t>(pos_ - crc_mark_));
  crc_mark_ = pos_;
}

uint32_t FileSink::TakeCrc() {
  FoldCrc();
  const uint32_t c = crc_;
  crc_ = 0;
  return c;
}

void FileSink::Grow(size_t n) {
  Flush();
  if (static_cast<size_t>(end_ - pos_) < n) {
    // A record larger than the buffer (long texts): a larger buffer.
    if (slot_ >= 0) g_sinks[slot_].store(nullptr, std::memory_order_release);
    capacity_ = n + kBuffer;
    buffer_.reset(new uint8_t[capacity_]);
    base_ = pos_ = crc_mark_ = buffer_.get();
    end_ = base_ + capacity_;
    if (slot_ >= 0) g_sinks[slot_].store(this, std::memory_order_release);
  }
}

void FileSink::MaybeFlush() {
  if (static_cast<size_t>(pos_ - base_) >= kFlushBytes) {
    Flush();
    return;
  }
  if (pos_ != base_ && CoarseNowNs() - last_flush_ns_ >= kFlushIntervalNs) Flush();
}

void FileSink::Flush() {
  if (fd_ < 0) return;
  FoldCrc();
  const size_t n = static_cast<size_t>(pos_ - base_);
  if (n > 0 && !failed_ && !WriteAll(fd_, base_, n)) failed_ = true;
  written_ += n;
  pos_ = crc_mark_ = base_;
  last_flush_ns_ = CoarseNowNs();
}

void FileSink::FlushFromSignal() {
  if (fd_ < 0) return;
  uint8_t* p = pos_;
  if (p > base_) {
    WriteAll(fd_, base_, static_cast<size_t>(p - base_));
    pos_ = crc_mark_ = base_;  // not twice (a handler may chain to abort)
  }
}

bool FileSink::Close(std::string* error) {
  if (fd_ < 0) return true;
  Flush();
  if (slot_ >= 0) {
    g_sinks[slot_].store(nullptr, std::memory_order_release);
    slot_ = -1;
  }
  bool ok = !failed_;
  if (close(fd_) != 0) ok = false;
  fd_ = -1;
  if (!ok) *error = "writing the trace file failed (disk full?)";
  return ok;
}

}  // namespace internal
}  // namespace trace
}  // namespace gevent
