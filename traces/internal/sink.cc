#include "traces/internal/sink.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "traces/internal/crc32c.h"
#include "traces/internal/files.h"

namespace gevent {
namespace trace {
namespace internal {

// A piece of a trace on its way to the file.
struct Chunk {
  static constexpr size_t kNone = ~size_t{0};
  struct Break {
    size_t covered_end, patch, resume;  // offsets; patch kNone: none
  };
  std::unique_ptr<uint8_t[]> data;
  size_t capacity = 0;
  size_t used = 0;
  std::vector<Break> breaks;
};

namespace {

// The usual ways to stop a program (a service manager's SIGTERM, Ctrl-C,
// a closed terminal, Ctrl-\). Handled only where their disposition is the
// default (the program ends): the pending records are written, then the
// default action is restored and the signal raised again, so the process
// ends as it would have (its exit status says the signal; SIGQUIT dumps
// core). A program that ignores one, or handles it itself, keeps that.
constexpr int kTerminating[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};

// 0, or the errno of the write that failed.
int WriteAll(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (w == 0) return EIO;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return 0;
}

std::mutex& ErrorMu() {
  static auto* mu = new std::mutex;
  return *mu;
}
std::string& FirstError() {
  static auto* s = new std::string;
  return *s;
}

int64_t CoarseNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Fills in the chunk's checksums; `*crc` runs on from the previous chunk
// and is left running for the next. It never restarts: each checksum
// covers every byte of the file before it but the earlier checksums'.
void ApplyBreaks(Chunk* c, uint32_t* crc) {
  size_t from = 0;
  for (const Chunk::Break& b : c->breaks) {
    *crc = Crc32c(*crc, c->data.get() + from, b.covered_end - from);
    if (b.patch != Chunk::kNone) {
      for (int i = 0; i < 4; ++i) {
        c->data[b.patch + i] = static_cast<uint8_t>(*crc >> (8 * i));
      }
    }
    from = b.resume;
  }
  *crc = Crc32c(*crc, c->data.get() + from, c->used - from);
  c->breaks.clear();
}

// Counts the fork()s this process descends from (moved in the child): a
// sink opened in another generation belongs to an ancestor.
std::atomic<uint64_t> g_fork_generation{0};

}  // namespace

// The process's one trace writer thread, started on first use (again in a
// child after fork()). Never destroyed: sinks may close during exit.
class Writer {
 public:
  static Writer& Get() {
    static Writer* const w = new Writer;
    return *w;
  }

  Chunk* TakeChunk(size_t capacity) {
    {
      std::lock_guard<std::mutex> l(mu_);
      // The chunk freed longest ago: the writer thread's core is least
      // likely to still hold its lines, which this thread is about to write.
      if (capacity == FileSink::kChunkBytes && !free_.empty()) {
        Chunk* c = free_.front();
        free_.pop_front();
        return c;
      }
    }
    auto* c = new Chunk;
    c->data.reset(new uint8_t[capacity]);
    c->capacity = capacity;
    c->breaks.reserve(128);
    return c;
  }

  void GiveBack(Chunk* c) {
    c->used = 0;
    c->breaks.clear();
    {
      std::lock_guard<std::mutex> l(mu_);
      if (c->capacity == FileSink::kChunkBytes && free_.size() < kKeepFree) {
        free_.push_back(c);
        return;
      }
    }
    delete c;
  }

  // Queues `c` for `s`; returns its ticket (see Wait).
  uint64_t Submit(FileSink* s, Chunk* c) {
    std::unique_lock<std::mutex> l(mu_);
    if (!started_) {
      started_ = true;
      std::thread([this] { Run(); }).detach();
    }
    // Back-pressure: a program recording faster than the disk takes it
    // waits rather than growing without bound.
    done_cv_.wait(l, [this] { return queued_bytes_ <= kMaxQueuedBytes; });
    queue_.push_back({s, c});
    queued_bytes_ += c->used;
    const uint64_t ticket = ++submitted_;
    // A busy writer polls: waking a thread costs the waker microseconds on
    // a virtual machine (an inter-processor interrupt), and a busy
    // recording program hands off chunks often.
    if (asleep_) {
      asleep_ = false;
      l.unlock();
      work_cv_.notify_one();
    }
    return ticket;
  }

  // Until every chunk up to `ticket` is written.
  void Wait(uint64_t ticket) {
    std::unique_lock<std::mutex> l(mu_);
    if (completed_.load() >= ticket) return;
    asleep_ = false;
    work_cv_.notify_one();
    done_cv_.wait(l, [&] { return completed_.load() >= ticket; });
  }

  // Whether every chunk up to `ticket` is written (no lock).
  bool Done(uint64_t ticket) const { return completed_.load() >= ticket; }

  // The same from a signal handler: polls, for at most `max_ns`.
  void WaitFromSignal(uint64_t ticket, int64_t max_ns) {
    const timespec ms = {0, 1000000};
    for (int64_t waited = 0; completed_.load() < ticket && waited < max_ns;
         waited += ms.tv_nsec) {
      nanosleep(&ms, nullptr);
    }
  }

 private:
  static constexpr size_t kKeepFree = 64;
  static constexpr int kPollMs = 2;
  // An empty poll: the program is quiet; hand-offs are rare enough to be
  // worth a wake-up each.
  static constexpr int kPollsBeforeSleep = 1;
  static constexpr size_t kMaxQueuedBytes = 32 << 20;

  Writer() {
    pthread_atfork([] { Get().mu_.lock(); }, [] { Get().mu_.unlock(); },
                   [] {
                     Get().AfterForkInChild();
                     g_fork_generation.fetch_add(1, std::memory_order_relaxed);
                   });
  }

  // The parent's writer thread and its queue stay with the parent, which
  // writes them; the child starts its own when it needs one. The child's
  // copies of the mutex and condition variables may record the parent's
  // waiters (a notification would go to a thread that is not there): they
  // are made anew; the child has no other thread yet.
  void AfterForkInChild() {
    for (auto& job : queue_) delete job.second;
    queue_.clear();
    queued_bytes_ = 0;
    completed_.store(submitted_);
    started_ = false;
    asleep_ = false;
    new (&mu_) std::mutex();
    new (&work_cv_) std::condition_variable();
    new (&done_cv_) std::condition_variable();
  }

  void Run() {
    // The signals that end a program go to the program's threads: their
    // handler waits for this one (OnTerminatingSignal).
    sigset_t stop;
    sigemptyset(&stop);
    for (int sig : kTerminating) sigaddset(&stop, sig);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    std::unique_lock<std::mutex> l(mu_);
    int idle_polls = 0;
    for (;;) {
      if (queue_.empty()) {
        if (idle_polls < kPollsBeforeSleep) {
          ++idle_polls;
          work_cv_.wait_for(l, std::chrono::milliseconds(kPollMs));
        } else {
          asleep_ = true;
          work_cv_.wait(l, [this] { return !asleep_; });
        }
        continue;
      }
      idle_polls = 0;
      const auto job = queue_.front();
      queue_.pop_front();
      l.unlock();
      FileSink* s = job.first;
      Chunk* c = job.second;
      ApplyBreaks(c, &s->crc_);
      if (!s->failed()) s->Failed(WriteAll(s->fd_, c->data.get(), c->used));
      const size_t used = c->used;
      GiveBack(c);
      l.lock();
      queued_bytes_ -= used;
      completed_.fetch_add(1);
      done_cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::deque<std::pair<FileSink*, Chunk*>> queue_;
  std::deque<Chunk*> free_;
  size_t queued_bytes_ = 0;
  uint64_t submitted_ = 0;
  std::atomic<uint64_t> completed_{0};
  bool started_ = false;
  bool asleep_ = false;  // the writer waits for a notification
};

namespace {

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

void OnTerminatingSignal(int sig) {
  for (auto& slot : g_sinks) {
    if (FileSink* s = slot.load(std::memory_order_acquire)) s->FlushFromSignal();
  }
  sigaction(sig, &g_previous[sig], nullptr);  // the default, as it was
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
    for (int sig : kTerminating) {
      struct sigaction now;
      if (sigaction(sig, nullptr, &now) != 0 || (now.sa_flags & SA_SIGINFO) != 0 ||
          now.sa_handler != SIG_DFL) {
        continue;
      }
      struct sigaction sa;
      memset(&sa, 0, sizeof sa);
      sa.sa_handler = &OnTerminatingSignal;
      sa.sa_flags = SA_ONSTACK;
      sigemptyset(&sa.sa_mask);
      for (int other : kTerminating) sigaddset(&sa.sa_mask, other);
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

bool FileSink::Open(const std::string& path, std::string* error, bool* in_use) {
  bool busy = false;
  if (in_use == nullptr) in_use = &busy;
  *in_use = false;
  // Not truncated yet: it may be a file that must not be.
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = absl::StrCat("cannot create trace file '", path,
                          "': ", strerror(errno));
    return false;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) st.st_mode = 0;
  if (BeingRead(IdOf(fd))) {
    *error = absl::StrCat("'", path,
                          "' is a trace this process is reading (a replay): "
                          "not recording over it");
    close(fd);
    return false;
  }
  // One writer a file: a second recorder, in this process or another,
  // would truncate the first one's trace.
  // (A file system without locks, ENOLCK or EINVAL: recorded unlocked.)
  if (S_ISREG(st.st_mode) && flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
    *in_use = true;
    *error = absl::StrCat("'", path,
                          "' is being recorded by another recorder or process: "
                          "not recording over it");
    close(fd);
    return false;
  }
  if (S_ISREG(st.st_mode) && ftruncate(fd, 0) != 0) {
    *error = absl::StrCat("cannot truncate trace file '", path,
                          "': ", strerror(errno));
    close(fd);
    return false;
  }
  fd_ = fd;
  path_ = path;
  NewChunk(kChunkBytes);
  last_flush_ns_ = CoarseNowNs();
  generation_ = g_fork_generation.load(std::memory_order_relaxed);
  slot_ = Register(this);
  return true;
}

void FileSink::Failed(int err) {
  int expected = 0;
  if (err == 0 || !errno_.compare_exchange_strong(expected, err)) return;
  // The first failure, once: to the user now, and to the program
  // (error(), RecordingError()). The program goes on; the trace ends here.
  const std::string message = error();
  NoteRecordingError(message);
  const std::string line = absl::StrCat("geventpp: ", message, "\n");
  if (write(STDERR_FILENO, line.data(), line.size()) < 0) {
    // (stderr is gone too: the status above is all there is)
  }
}

std::string FileSink::error() const {
  const int err = errno_.load();
  if (err == 0) return "";
  const char* name = strerrorname_np(err);
  return absl::StrCat("writing trace file '", path_, "' failed: ", strerror(err), " (",
                      name != nullptr ? name : absl::StrCat("errno ", err), ")",
                      "; the recording stops here (the trace is cut short), "
                      "the program goes on");
}

void NoteRecordingError(const std::string& message) {
  std::lock_guard<std::mutex> l(ErrorMu());
  if (FirstError().empty()) FirstError() = message;
}

std::string RecordingError() {
  std::lock_guard<std::mutex> l(ErrorMu());
  return FirstError();
}

bool FileSink::Inherited() const {
  return generation_ != g_fork_generation.load(std::memory_order_relaxed);
}

void FileSink::DropPending() {
  *pos_ = base_;
  chunk_->breaks.clear();
  last_flush_ns_ = CoarseNowNs();
}

void FileSink::NewChunk(size_t capacity) {
  chunk_ = Writer::Get().TakeChunk(capacity);
  base_ = *pos_ = chunk_->data.get();
  end_ = base_ + chunk_->capacity;
  PrefetchForWrite(0);
  PrefetchForWrite(kPrefetchBytes);
}

void FileSink::CrcBreak(uint8_t* covered_end, uint8_t* patch, uint8_t* resume) {
  chunk_->breaks.push_back({static_cast<size_t>(covered_end - base_),
                            patch != nullptr ? static_cast<size_t>(patch - base_)
                                             : Chunk::kNone,
                            static_cast<size_t>(resume - base_)});
}

void FileSink::HandOff() {
  if (*pos_ == base_ && chunk_->breaks.empty()) return;
  if (ABSL_PREDICT_FALSE(Inherited())) {
    DropPending();
    return;
  }
  Chunk* full = chunk_;
  full->used = static_cast<size_t>(*pos_ - base_);
  // The fresh chunk first: a crash in between loses the full one rather
  // than writing it twice.
  NewChunk(kChunkBytes);
  handed_ += full->used;
  ticket_ = Writer::Get().Submit(this, full);
  last_flush_ns_ = CoarseNowNs();
}

void FileSink::Grow(size_t n) {
  HandOff();
  if (static_cast<size_t>(end_ - *pos_) < n) {
    // A record larger than a chunk (long texts): a larger chunk.
    Writer::Get().GiveBack(chunk_);
    NewChunk(n + kChunkBytes);
  }
}

bool FileSink::FlushDue(int64_t now_ns) {
  const size_t n = pending();
  if (n == 0) return false;
  if (n < kFlushBytes || write_in_waits_) {
    if (now_ns < 0) {
      if ((++clock_checks_ & 31) != 0) return false;
      now_ns = CoarseNowNs();
    }
    const int64_t limit = write_in_waits_ ? 2 * kWaitWriteIntervalNs : kFlushIntervalNs;
    if (now_ns - last_flush_ns_ < limit) return false;
  }
  return true;
}

void FileSink::FlushInWait() {
  if (pending() > 0) WriteHere();
}

void FileSink::Flush() {
  if (fd_ >= 0) HandOff();
}

// The checksum running across chunks (crc_) is this thread's while the
// writer has none of our chunks: it finished them before completed_ moved.
void FileSink::WriteHere() {
  if (ABSL_PREDICT_FALSE(Inherited())) {
    DropPending();
    return;
  }
  if (!Writer::Get().Done(ticket_)) {
    HandOff();
    return;
  }
  const size_t used = static_cast<size_t>(*pos_ - base_);
  chunk_->used = used;
  ApplyBreaks(chunk_, &crc_);
  chunk_->used = 0;
  // Taken before the write: a crash meanwhile leaves a short file (read as
  // a truncated trace) rather than the same bytes twice.
  *pos_ = base_;
  handed_ += used;
  if (!failed()) Failed(WriteAll(fd_, base_, used));
  ++written_here_;
  last_flush_ns_ = CoarseNowNs();
}

void FileSink::FlushFromSignal() {
  if (fd_ < 0 || Inherited()) return;
  Writer::Get().WaitFromSignal(ticket_, 2000000000);
  if (seal_ != nullptr) seal_(seal_arg_);
  Chunk* c = chunk_;
  c->used = static_cast<size_t>(*pos_ - base_);
  if (c->used > 0) {
    ApplyBreaks(c, &crc_);
    if (!failed()) {
      // (No report from a signal handler: the process is about to end.)
      int expected = 0;
      errno_.compare_exchange_strong(expected, WriteAll(fd_, base_, c->used));
    }
    *pos_ = base_;  // not twice (a handler may chain to abort)
  }
}

bool FileSink::Close(std::string* error) {
  if (fd_ < 0) return true;
  const bool inherited = Inherited();
  HandOff();  // (drops the pending bytes, in a child)
  if (!inherited) Writer::Get().Wait(ticket_);
  if (slot_ >= 0) {
    g_sinks[slot_].store(nullptr, std::memory_order_release);
    slot_ = -1;
  }
  Writer::Get().GiveBack(chunk_);
  chunk_ = nullptr;
  base_ = end_ = *pos_ = nullptr;
  if (close(fd_) != 0 && !inherited) Failed(errno);
  fd_ = -1;
  if (failed()) *error = this->error();
  return !failed();
}

}  // namespace internal
}  // namespace trace
}  // namespace gevent
