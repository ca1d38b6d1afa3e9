#include "traces/reader.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/varint.h"
#include "traces/internal/crc32c.h"
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
// A writer checkpoints at least this often (ours: every 256 records,
// Recorder::kCheckpointEvery).
constexpr uint64_t kMaxChunkRecords = 1024;

// Reads a varint at data[*pos]. 0: ok; 1: data ended; 2: malformed.
int ReadVarint(const std::string& data, size_t* pos, uint64_t* out) {
  const auto* begin = reinterpret_cast<const uint8_t*>(data.data());
  const uint8_t* p = begin + *pos;
  const varint::GetResult r = varint::Get(&p, begin + data.size(), out);
  *pos = static_cast<size_t>(p - begin);
  return r == varint::GetResult::kOk ? 0 : (r == varint::GetResult::kEnded ? 1 : 2);
}

bool AllZero(const std::string& data, size_t from) {
  for (size_t i = from; i < data.size(); ++i) {
    if (data[i] != 0) return false;
  }
  return true;
}

}  // namespace

TraceReader::TraceReader()
    : header_(std::make_unique<proto::Header>()),
      record_(std::make_unique<proto::Record>()) {}

TraceReader::~TraceReader() = default;

const std::string& TraceReader::backend() const { return header_->backend(); }

bool TraceReader::Open(const std::string& path) {
  name_ = path;
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
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      Fail(absl::StrCat("cannot read '", path, "': ", strerror(errno)));
      close(fd);
      return false;
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  data_ = std::move(data);
  return ReadHeader();
}

bool TraceReader::OpenBytes(std::string_view bytes, const std::string& name) {
  name_ = name;
  data_.assign(bytes.data(), bytes.size());
  return ReadHeader();
}

void TraceReader::Fail(const std::string& why) {
  if (error_.empty()) error_ = why;
  done_ = true;
  complete_ = false;
}

bool TraceReader::ReadHeader() {
  if (data_.empty()) {
    Fail(absl::StrCat("'", name_, "' is empty (0 bytes): not a trace"));
    return false;
  }
  if (data_.size() < 8 || memcmp(data_.data(), "gevtrace", 8) != 0) {
    const bool prefix = memcmp(data_.data(), "gevtrace", data_.size() < 8 ? data_.size() : 8) == 0;
    Fail(prefix ? absl::StrCat("'", name_, "' is truncated in the header (",
                               data_.size(), " bytes)")
                : absl::StrCat("'", name_,
                               "' is not a geventpp trace (it does not start "
                               "with \"gevtrace\")"));
    return false;
  }
  pos_ = 8;
  uint64_t len = 0;
  int r = ReadVarint(data_, &pos_, &len);
  if (r == 2 || (r == 0 && len > kMaxHeaderBytes)) {
    Fail(absl::StrCat("'", name_, "': the header is corrupt (bad length)"));
    return false;
  }
  if (r == 1 || data_.size() - pos_ < len + 4) {
    Fail(absl::StrCat("'", name_, "' is truncated in the header (",
                      data_.size(), " bytes)"));
    return false;
  }
  const char* h = data_.data() + pos_;
  uint32_t crc = 0;
  for (int i = 0; i < 4; ++i) {
    crc |= static_cast<uint32_t>(static_cast<uint8_t>(h[len + i])) << (8 * i);
  }
  if ((kCheckCrc && internal::Crc32c(0, h, len) != crc) ||
      !header_->ParseFromArray(h, static_cast<int>(len))) {
    Fail(absl::StrCat("'", name_,
                      "': the header is corrupt (checksum mismatch)"));
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
  pos_ += len + 4;
  chunk_start_ = pos_;
  return true;
}

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

// Parses one record; false when reading ended (done_ is set, and any
// unverified records of a truncated trace have been released).
bool TraceReader::ParseOne() {
  auto truncated = [&](const std::string& why) {
    // The readable prefix: release what was not covered by a checkpoint.
    for (Event& e : pending_) ready_.push_back(std::move(e));
    pending_.clear();
    Fail(absl::StrCat("'", name_, "' is truncated at byte ", pos_, " after ",
                      records_, " records: ", why));
    return false;
  };
  auto corrupt = [&](size_t at, const std::string& why) {
    Fail(absl::StrCat("'", name_, "' is corrupt at byte ", at, " (record ",
                      records_, "): ", why));
    pending_.clear();
    return false;
  };
  if (pos_ >= data_.size()) return truncated("no end record (the recording did not finish)");
  const size_t at = pos_;
  uint64_t len = 0;
  size_t p = pos_;
  int r = ReadVarint(data_, &p, &len);
  if (r == 1) return truncated("the file ends inside a record length");
  if (r == 2) return corrupt(at, "malformed record length");
  if (len == 0) {
    if (AllZero(data_, at)) {
      return truncated(
          "no end record, zero bytes follow (the recording did not finish)");
    }
    return corrupt(at, "a record of length 0");
  }
  if (len > kMaxRecordBytes) {
    return corrupt(at, absl::StrCat("record length ", len, " is too large"));
  }
  if (data_.size() - p < len) {
    return truncated(absl::StrCat("the last record needs ", len,
                                  " bytes, only ", data_.size() - p, " remain"));
  }
  record_->Clear();
  if (!record_->ParseFromArray(data_.data() + p, static_cast<int>(len))) {
    return corrupt(at, "not a valid record");
  }
  pos_ = p + len;
  switch (record_->kind_case()) {
    case proto::Record::kCheckpoint: {
      const proto::Checkpoint& c = record_->checkpoint();
      const uint32_t crc =
          internal::Crc32c(0, data_.data() + chunk_start_, at - chunk_start_);
      if ((kCheckCrc && crc != c.crc32c()) || c.records() != chunk_records_) {
        return corrupt(at, absl::StrCat("checksum mismatch over records ",
                                        records_ - chunk_records_, "..",
                                        records_ == 0 ? 0 : records_ - 1));
      }
      for (Event& e : pending_) ready_.push_back(std::move(e));
      pending_.clear();
      chunk_start_ = pos_;
      chunk_records_ = 0;
      return true;
    }
    case proto::Record::kEnd: {
      if (chunk_records_ != 0 || record_->end().records() != records_) {
        return corrupt(at, "the end record does not match the records before it");
      }
      if (!AllZero(data_, pos_)) {
        return corrupt(pos_, "unexpected data after the end record");
      }
      done_ = true;
      complete_ = true;
      return false;
    }
    default: {
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
      if (chunk_records_ > kMaxChunkRecords) {
        return corrupt(at, absl::StrCat("no checkpoint in ", kMaxChunkRecords,
                                        " records"));
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
    default:
      return false;
  }
  e->time_ns = static_cast<int64_t>(time_);
  return true;
}

}  // namespace trace
}  // namespace gevent
