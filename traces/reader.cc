#include "traces/reader.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/varint.h"
#include "traces/internal/crc32c.h"
#include "traces/internal/files.h"
#include "traces/internal/wire.h"
#include "traces/trace.pb.h"

namespace gevent {
namespace trace {
namespace {

constexpr size_t kMaxHeaderBytes = 64 * 1024;

// The libFuzzer build (traces/fuzz/build.sh) ignores checksums, so that
// mutated input gets past them into the parser and the tools.
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
constexpr bool kCheckCrc = false;
#else
constexpr bool kCheckCrc = true;
#endif
constexpr size_t kMaxRecordBytes = 1024 * 1024;
// Reads from the file this much at a time, and keeps at most this much
// (plus the record being parsed) of what it has parsed.
constexpr size_t kReadBytes = 64 * 1024;
constexpr size_t kKeepBytes = 256 * 1024;
// The zeros a crashed writer's file system may leave at the end of a file
// count as such from this many bytes (fewer may be a checksum's last bytes).
constexpr uint64_t kMinZeroTail = 4;

uint32_t Le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

// Whether the record `body` (`len` bytes) ends with its checksum field
// (`tag`, then the 4 bytes of `crc`), as version 3 writes it.
bool EndsWithCrc(const uint8_t* body, size_t len, uint8_t tag, uint32_t crc) {
  return len >= 5 && body[len - 5] == tag && Le32(body + len - 4) == crc;
}

}  // namespace

TraceReader::TraceReader()
    : header_(std::make_unique<proto::Header>()),
      record_(std::make_unique<proto::Record>()) {}

TraceReader::~TraceReader() { CloseFile(); }

void TraceReader::CloseFile() {
  if (fd_ < 0) return;
  internal::RemoveReading(internal::IdOf(fd_));
  close(fd_);
  fd_ = -1;
}

const std::string& TraceReader::backend() const { return header_->backend(); }

bool TraceReader::Open(const std::string& path) {
  name_ = path;
  error_.clear();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    Fail(absl::StrCat("cannot open '", path, "': ", strerror(errno)));
    return false;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    Fail(absl::StrCat("cannot read '", path, "': ",
                      S_ISDIR(st.st_mode) ? "it is a directory" : strerror(errno)));
    close(fd);
    return false;
  }
  CloseFile();
  fd_ = fd;
  internal::AddReading(internal::IdOf(fd_));
  from_memory_ = eof_ = false;
  buf_.clear();
  buf_off_ = end_of_data_ = header_end_ = 0;
  size_known_ = S_ISREG(st.st_mode);
  size_ = size_known_ ? static_cast<uint64_t>(st.st_size) : 0;
  return ReadHeader();
}

bool TraceReader::OpenBytes(std::string_view bytes, const std::string& name) {
  name_ = name;
  error_.clear();
  CloseFile();
  from_memory_ = true;
  header_end_ = 0;
  buf_.assign(bytes.data(), bytes.size());
  buf_off_ = 0;
  eof_ = true;
  size_known_ = true;
  size_ = end_of_data_ = bytes.size();
  return ReadHeader();
}

void TraceReader::Fail(const std::string& why) {
  if (error_.empty()) error_ = why;
  done_ = true;
  complete_ = false;
}

// ---- Input.

bool TraceReader::ReadMore(size_t want) {
  size_t got = 0;
  while (got < want && !eof_) {
    const size_t old = buf_.size();
    const size_t ask = std::max(kReadBytes, want - got);
    buf_.resize(old + ask);
    const ssize_t n = read(fd_, &buf_[old], ask);
    if (n <= 0) {
      buf_.resize(old);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        Fail(absl::StrCat("cannot read '", name_, "' at byte ", end_of_data_,
                          ": ", strerror(errno)));
      }
      eof_ = true;
      break;
    }
    buf_.resize(old + static_cast<size_t>(n));
    got += static_cast<size_t>(n);
    end_of_data_ += static_cast<uint64_t>(n);
  }
  return got > 0;
}

const uint8_t* TraceReader::Bytes(uint64_t off, size_t n, size_t* avail) {
  if (!from_memory_ && off > buf_off_ + kKeepBytes && off <= buf_off_ + buf_.size()) {
    buf_.erase(0, static_cast<size_t>(off - buf_off_));
    buf_off_ = off;
  }
  while (buf_off_ + buf_.size() < off + n && !eof_) {
    ReadMore(static_cast<size_t>(off + n - (buf_off_ + buf_.size())));
  }
  const uint64_t have_end = buf_off_ + buf_.size();
  if (off < buf_off_ || off >= have_end) {
    *avail = 0;
    return nullptr;
  }
  *avail = static_cast<size_t>(have_end - off);
  return reinterpret_cast<const uint8_t*>(buf_.data()) + (off - buf_off_);
}

uint64_t TraceReader::ZeroTailStart(uint64_t from) {
  if (size_known_) {
    // From the end backwards: as far as the zeros go, not the whole file.
    uint64_t end = std::max(size_, end_of_data_);
    if (from_memory_) {
      while (end > 0 && buf_[static_cast<size_t>(end - 1)] == 0) --end;
      return end;
    }
    char block[4096];
    while (end > 0) {
      const uint64_t start = end > sizeof block ? end - sizeof block : 0;
      const ssize_t n = pread(fd_, block, static_cast<size_t>(end - start),
                              static_cast<off_t>(start));
      if (n != static_cast<ssize_t>(end - start)) return end;
      for (size_t i = static_cast<size_t>(n); i > 0; --i) {
        if (block[i - 1] != 0) return start + i;
      }
      end = start;
    }
    return 0;
  }
  // A pipe: forwards, to its end.
  uint64_t last = from;
  uint64_t off = from;
  for (;;) {
    size_t avail = 0;
    const uint8_t* p = Bytes(off, kReadBytes, &avail);
    if (avail == 0) break;
    for (size_t i = 0; i < avail; ++i) {
      if (p[i] != 0) last = off + i + 1;
    }
    off += avail;
  }
  return last;
}

// Whether the file ends as a complete version 3 trace does (its end
// record's trailer and checksum tag in place).
bool TraceReader::CheckTail() {
  if (!size_known_ || size_ < 8 + internal::kEndTailBytes) return false;
  uint8_t tail[internal::kEndTailBytes];
  const uint64_t at = size_ - sizeof tail;
  if (from_memory_) {
    memcpy(tail, buf_.data() + at, sizeof tail);
  } else if (pread(fd_, tail, sizeof tail, static_cast<off_t>(at)) !=
             static_cast<ssize_t>(sizeof tail)) {
    return false;
  }
  // (A checksum of four zero bytes may be zeros a crash left: not taken
  // as the end; a true one still verifies when the reader gets there.)
  return tail[0] == internal::kEndTrailerTag &&
         memcmp(tail + 1, internal::kEndTrailerBytes, 8) == 0 &&
         tail[9] == internal::kEndCrcTag && Le32(tail + 10) != 0;
}

// ---- The header.

bool TraceReader::ReadHeader() {
  size_t avail = 0;
  const uint8_t* p = Bytes(0, 8 + varint::kMaxBytes, &avail);
  if (!error_.empty()) return false;  // a read error
  if (avail == 0) {
    Fail(absl::StrCat("'", name_, "' is empty (0 bytes): not a trace"));
    return false;
  }
  if (avail < 8 || memcmp(p, "gevtrace", 8) != 0) {
    const bool prefix = memcmp(p, "gevtrace", std::min<size_t>(avail, 8)) == 0;
    Fail(prefix ? absl::StrCat("'", name_, "' is truncated in the header (",
                               avail, " bytes)")
                : absl::StrCat("'", name_,
                               "' is not a geventpp trace (it does not start "
                               "with \"gevtrace\")"));
    return false;
  }
  // A file that ends as a complete trace is damaged, not cut short.
  const bool ends_complete = CheckTail();
  const uint8_t* q = p + 8;
  uint64_t len = 0;
  const varint::GetResult r = varint::Get(&q, p + avail, &len);
  const size_t hdr = static_cast<size_t>(q - p);
  if (r == varint::GetResult::kMalformed ||
      (r == varint::GetResult::kOk && len > kMaxHeaderBytes)) {
    Fail(absl::StrCat("'", name_, "': the header is corrupt (bad length)"));
    return false;
  }
  if (r == varint::GetResult::kOk) p = Bytes(0, hdr + len + 4, &avail);
  if (r == varint::GetResult::kEnded || avail < hdr + len + 4) {
    Fail(ends_complete
             ? absl::StrCat("'", name_, "': the header is corrupt (bad length)")
             : absl::StrCat("'", name_, "' is truncated in the header (",
                            file_size(), " bytes)"));
    return false;
  }
  const uint8_t* h = p + hdr;
  if (len == 0 ||  // (a header has a version: zeros, not a header)
      (kCheckCrc && internal::Crc32c(0, h, len) != Le32(h + len)) ||
      !header_->ParseFromArray(h, static_cast<int>(len))) {
    const uint64_t zeros = ZeroTailStart(0);
    Fail(!ends_complete && zeros < hdr + len + 4 && file_size() - zeros >= kMinZeroTail
             ? absl::StrCat("'", name_, "' is truncated in the header (zero bytes from byte ",
                            zeros, ")")
             : absl::StrCat("'", name_, "': the header is corrupt (checksum mismatch)"));
    return false;
  }
  if (header_->format_version() < kOldestFormatVersion ||
      header_->format_version() > kFormatVersion) {
    Fail(absl::StrCat("'", name_, "': trace format version ",
                      header_->format_version(),
                      " is not supported (this build reads versions ",
                      kOldestFormatVersion, " to ", kFormatVersion, ")"));
    return false;
  }
  header_end_ = hdr + len + 4;
  chained_ = header_->format_version() >= 3;
  ends_complete_ = chained_ && ends_complete;
  header_run_ = internal::Crc32c(0, p, static_cast<size_t>(header_end_) - 4);
  Reset();
  return true;
}

void TraceReader::Reset() {
  pos_ = header_end_;
  run_ = header_run_;
  chunk_crc_ = 0;
  chunk_bytes_ = 0;
  records_ = chunk_records_ = delivered_ = 0;
  time_ = last_seq_ = 0;
  ready_.clear();
  pending_.clear();
  done_ = complete_ = false;
  error_.clear();
}

bool TraceReader::Rewind() {
  if (header_end_ == 0) return false;  // no header read
  if (buf_off_ > header_end_) {
    if (lseek(fd_, static_cast<off_t>(header_end_), SEEK_SET) < 0) {
      error_.clear();
      Fail(absl::StrCat("cannot read '", name_, "' a second time: ", strerror(errno)));
      return false;
    }
    buf_.clear();
    buf_off_ = end_of_data_ = header_end_;
    eof_ = false;
  }
  Reset();
  return true;
}

// ---- Records.

const Event* TraceReader::Peek() {
  if (ready_.empty()) Fill();
  return ready_.empty() ? nullptr : &ready_.front();
}

bool TraceReader::Next(Event* e) {
  if (Peek() == nullptr) return false;
  *e = std::move(ready_.front());
  ready_.pop_front();
  ++delivered_;
  return true;
}

void TraceReader::Fill() {
  while (ready_.empty() && !done_) {
    if (!ParseOne()) break;
  }
}

// Reading stopped at byte `at`, in a record that ends at `record_end` (or
// would). Records no checksum covered are dropped, never delivered. Then
// the error: "truncated" when the data ended, or ends in zeros from within
// this record on (a crashed writer's file system leaves them); "corrupt"
// when the bytes are wrong, and always in a file that ends as a complete
// trace does.
bool TraceReader::Stopped(Stop how, uint64_t at, uint64_t record_end,
                          const std::string& why) {
  const uint64_t verified = records_ - chunk_records_;
  const uint64_t dropped = chunk_records_;
  pending_.clear();
  bool truncated = !ends_complete_ && how == Stop::kDataEnded;
  std::string what = why;
  if (!ends_complete_ && how == Stop::kDamaged) {
    const uint64_t zeros = ZeroTailStart(at);
    if (zeros < record_end && file_size() - zeros >= kMinZeroTail) {
      truncated = true;
      what = absl::StrCat("no end record, zero bytes from byte ", zeros,
                          " on (the recording did not finish)");
    }
  }
  if (!error_.empty()) {  // a read error said it already
  } else if (truncated) {
    Fail(absl::StrCat("'", name_, "' is truncated at byte ", at, " after ",
                      verified, " records: ", what,
                      dropped == 0 ? "" : absl::StrCat("; the last ", dropped,
                                                       " records had no checksum yet and are left out")));
  } else {
    Fail(absl::StrCat("'", name_, "' is corrupt at byte ", at, " (record ",
                      records_, "): ", what));
  }
  done_ = true;
  return false;
}

// Parses one record; false when reading ended (done_ is set).
bool TraceReader::ParseOne() {
  const uint64_t at = pos_;
  size_t avail = 0;
  const uint8_t* p = Bytes(at, varint::kMaxBytes, &avail);
  if (avail == 0) {
    return Stopped(Stop::kDataEnded, at, at,
                   ends_complete_ ? "the records end before the end record"
                                  : "no end record (the recording did not finish)");
  }
  const uint8_t* q = p;
  uint64_t len = 0;
  const varint::GetResult r = varint::Get(&q, p + std::min(avail, varint::kMaxBytes), &len);
  if (r == varint::GetResult::kEnded) {
    return Stopped(Stop::kDataEnded, at, at + avail, "the file ends inside a record length");
  }
  const size_t hdr = static_cast<size_t>(q - p);
  if (r == varint::GetResult::kMalformed) {
    return Stopped(Stop::kDamaged, at, at + hdr, "malformed record length");
  }
  if (len == 0) return Stopped(Stop::kDamaged, at, at + 1, "a record of length 0");
  if (len > kMaxRecordBytes) {
    return Stopped(Stop::kDamaged, at, at + hdr,
                   absl::StrCat("record length ", len, " is too large"));
  }
  const size_t size = hdr + static_cast<size_t>(len);
  p = Bytes(at, size, &avail);
  if (avail < size) {
    return Stopped(Stop::kDataEnded, at, at + size,
                   absl::StrCat(ends_complete_ ? "a record length runs past the end: "
                                               : "the last record needs ",
                                len, " bytes, only ", avail - hdr, " remain"));
  }
  const uint8_t* body = p + hdr;
  record_->Clear();
  if (!record_->ParseFromArray(body, static_cast<int>(len))) {
    return Stopped(Stop::kDamaged, at, at + size, "not a valid record");
  }
  pos_ = at + size;
  switch (record_->kind_case()) {
    case proto::Record::kCheckpoint: {
      const proto::Checkpoint& c = record_->checkpoint();
      bool ok;
      if (chained_) {
        // Every byte before its checksum (but earlier checksums).
        run_ = internal::Crc32c(run_, p, size - 4);
        ok = EndsWithCrc(body, len, internal::kCheckpointCrcTag, c.crc32c()) &&
             (!kCheckCrc || run_ == c.crc32c());
      } else {
        ok = !kCheckCrc || chunk_crc_ == c.crc32c();
      }
      if (!ok || c.records() != chunk_records_) {
        return Stopped(Stop::kDamaged, at, pos_,
                       absl::StrCat("checksum mismatch over records ",
                                    records_ - chunk_records_, "..",
                                    records_ == 0 ? 0 : records_ - 1));
      }
      for (Event& e : pending_) ready_.push_back(std::move(e));
      pending_.clear();
      chunk_crc_ = 0;
      chunk_bytes_ = 0;
      chunk_records_ = 0;
      return true;
    }
    case proto::Record::kEnd: {
      const proto::End& end = record_->end();
      bool ok = chunk_records_ == 0 && end.records() == records_;
      if (chained_) {
        run_ = internal::Crc32c(run_, p, size - 4);
        ok = ok && end.trailer() == internal::EndTrailer() &&
             EndsWithCrc(body, len, internal::kEndCrcTag, end.crc32c()) &&
             (!kCheckCrc || run_ == end.crc32c());
      }
      if (!ok) {
        return Stopped(Stop::kDamaged, at, pos_,
                       "the end record does not match the records before it");
      }
      if (ZeroTailStart(pos_) > pos_) {
        Fail(absl::StrCat("'", name_, "' is corrupt at byte ", pos_, " (record ",
                          records_, "): unexpected data after the end record"));
        return false;
      }
      done_ = true;
      complete_ = true;
      return false;
    }
    default: {
      if (chained_) {
        run_ = internal::Crc32c(run_, p, size);
      } else {
        chunk_crc_ = internal::Crc32c(chunk_crc_, p, size);
      }
      chunk_bytes_ += size;
      Event e;
      const bool known = Decode(*record_, &e);
      e.index = records_++;
      ++chunk_records_;
      if (known) pending_.push_back(std::move(e));
      if (record_->kind_case() == proto::Record::kSleep &&
          record_->sleep().has_timer_dt_ns()) {
        // The sleeper's timer start, folded into its sleep record.
        const proto::Sleep& s = record_->sleep();
        Event t;
        t.kind = HubEventKind::kTimerStarted;
        t.greenlet = s.greenlet();
        last_seq_ += 1;
        t.a = static_cast<int64_t>(last_seq_);
        t.b = s.ns();
        time_ += s.timer_dt_ns();
        t.time_ns = static_cast<int64_t>(time_);
        t.index = records_++;
        ++chunk_records_;
        pending_.push_back(std::move(t));
      }
      if (chunk_records_ > kMaxChunkRecords || chunk_bytes_ > kMaxChunkBytes) {
        return Stopped(Stop::kDamaged, at, pos_,
                       absl::StrCat("no checkpoint in ", chunk_records_,
                                    " records (", chunk_bytes_, " bytes)"));
      }
      return true;
    }
  }
}

// Fills `*e` from a record (time and timer numbers advance even for kinds
// this version does not know, which are skipped: false).
bool TraceReader::Decode(const proto::Record& r, Event* e) {
  time_ += r.dt_ns();
  using K = HubEventKind;
  switch (r.kind_case()) {
    case proto::Record::kSpawn:
      e->kind = K::kSpawn;
      e->greenlet = r.spawn().id();
      e->a = r.spawn().by_hub() ? -1 : static_cast<int64_t>(r.spawn().parent());
      e->name = r.spawn().name().empty() ? DefaultName(e->greenlet) : r.spawn().name();
      break;
    case proto::Record::kSwitchTo:
      e->kind = K::kSwitch;
      e->greenlet = r.switch_to().greenlet();
      break;
    case proto::Record::kFinish:
      e->kind = K::kFinish;
      e->greenlet = r.finish().greenlet();
      e->a = static_cast<int64_t>(r.finish().outcome());
      e->text = r.finish().error_type();
      e->text2 = r.finish().error_message();
      e->name = r.finish().name();
      break;
    case proto::Record::kTimerFired:
      e->kind = K::kTimerFired;
      e->a = static_cast<int64_t>(last_seq_ - static_cast<uint64_t>(r.timer_fired().age()));
      break;
    case proto::Record::kCallback:
      e->kind = K::kCallback;
      break;
    case proto::Record::kIo:
      e->kind = K::kIo;
      e->a = r.io().fd();
      e->b = r.io().revents();
      break;
    case proto::Record::kIdle:
      e->kind = K::kIdle;
      break;
    case proto::Record::kTimeAdvanced:
      e->kind = K::kTimeAdvanced;
      time_ += r.time_advanced().dt_ns();
      e->a = static_cast<int64_t>(r.time_advanced().dt_ns() + r.dt_ns());
      break;
    case proto::Record::kDecision:
      e->kind = K::kDecision;
      e->a = static_cast<int64_t>(r.decision().options());
      e->b = static_cast<int64_t>(r.decision().taken());
      e->c = static_cast<int64_t>(r.decision().kind());
      break;
    case proto::Record::kLoopExit:
      e->kind = K::kLoopExit;
      break;
    case proto::Record::kSleep:
      e->kind = K::kSleep;
      e->greenlet = r.sleep().greenlet();
      e->a = r.sleep().ns();
      e->b = r.sleep().unref() ? 0 : 1;
      break;
    case proto::Record::kTimeoutFired:
      e->kind = K::kTimeoutFired;
      e->greenlet = r.timeout_fired().greenlet();
      break;
    case proto::Record::kKill:
      e->kind = K::kKill;
      e->greenlet = r.kill().greenlet();
      break;
    case proto::Record::kLinkNotified:
      e->kind = K::kLinkNotified;
      break;
    case proto::Record::kNote:
      e->kind = K::kNote;
      e->greenlet = r.note().by_hub() ? kHubGreenlet : r.note().greenlet();
      e->text = r.note().text();
      break;
    case proto::Record::kTimerStarted:
      e->kind = K::kTimerStarted;
      e->greenlet = r.timer_started().by_hub() ? kHubGreenlet
                                                : r.timer_started().greenlet();
      last_seq_ += 1 + r.timer_started().seq_skip();
      e->a = static_cast<int64_t>(last_seq_);
      e->b = r.timer_started().after_ns();
      break;
    case proto::Record::kForeignWork:
      e->kind = K::kForeignWork;
      e->a = static_cast<int64_t>(r.foreign_work().tag());
      break;
    case proto::Record::kNetCall: {
      const proto::NetCall& n = r.net_call();
      e->kind = kNetCall;
      e->a = static_cast<int64_t>(n.op());
      e->b = n.result();
      e->c = n.arg();
      e->fd = n.fd();
      e->arg2 = n.arg2();
      e->new_fd = n.new_fd();
      e->address = n.address();
      e->payload = n.payload();
      e->has_crc = n.has_sent_crc32c();
      e->crc = n.sent_crc32c();
      e->resolved.assign(n.resolved().begin(), n.resolved().end());
      e->text = n.error();
      break;
    }
    default:
      return false;
  }
  e->time_ns = static_cast<int64_t>(time_);
  return true;
}

}  // namespace trace
}  // namespace gevent
