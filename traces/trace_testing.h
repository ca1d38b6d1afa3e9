// Helpers for the trace tests.
#ifndef GEVENTPP_TRACES_TRACE_TESTING_H_
#define GEVENTPP_TRACES_TRACE_TESTING_H_

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "runtime/hub.h"
#include "runtime/varint.h"
#include "traces/event.h"
#include "traces/internal/crc32c.h"
#include "traces/internal/wire.h"
#include "traces/recorder.h"
#include "traces/trace.pb.h"

namespace gevent {
namespace trace {
namespace testing {

// A fresh epoll hub as the thread's hub while in scope (greenlet ids and
// timer numbers start from 1, as in a fresh process).
class FreshEpollHub {
 public:
  FreshEpollHub() {
    auto hub = make_hub("epoll");
    hub_ = hub.get();
    previous_ = exchange_hub(std::move(hub));
  }
  ~FreshEpollHub() {
    hub_->destroy();
    std::unique_ptr<Hub> mine = exchange_hub(std::move(previous_));
  }
  Hub* hub() const { return hub_; }

 private:
  Hub* hub_;
  std::unique_ptr<Hub> previous_;
};

// Runs `body` in a forked child that records into `path` and dies in it;
// returns how many records the child had written (it says through a pipe
// just before dying) and how it ended.
template <typename F>
uint64_t RecordInChild(const std::string& path, F body, int* status) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    body(path, fds[1]);
    _exit(1);
  }
  close(fds[1]);
  uint64_t written = 0;
  EXPECT_EQ(read(fds[0], &written, sizeof written), static_cast<ssize_t>(sizeof written));
  close(fds[0]);
  waitpid(pid, status, 0);
  return written;
}

inline void Tell(int fd, const Recorder& rec) {
  const uint64_t n = rec.records();
  if (write(fd, &n, sizeof n) != sizeof n) _exit(1);
}

// Captures every event of a hub, as a recorder would write it.
class Capture : public HubObserver {
 public:
  explicit Capture(Hub* hub) : hub_(hub) { hub->set_observer(this); }
  ~Capture() override {
    if (hub_->observer() == this) hub_->set_observer(nullptr);
  }
  void OnHubEvent(const HubEvent& e) override {
    raw_.push_back({EventFromHub(e, absl::UnixEpoch(), hub_->in_hub()), e.time()});
  }
  // The events with times relative to `start`.
  std::vector<Event> Events(absl::Time start) const {
    std::vector<Event> out;
    for (const auto& [ev, t] : raw_) {
      Event e = ev;
      e.index = out.size();
      e.time_ns = absl::ToInt64Nanoseconds(t - start);
      out.push_back(e);
    }
    return out;
  }

 private:
  Hub* hub_;
  std::vector<std::pair<Event, absl::Time>> raw_;
};

inline std::string TempPath(const std::string& name) {
  const char* dir = getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// Writes a trace from proto messages (as a future writer might), with the
// framing of `version` (3: chained checksums, the end record's checksum
// and trailer; older: a checksum per checkpoint only).
class TraceBuilder {
 public:
  explicit TraceBuilder(uint32_t version = kFormatVersion,
                        const std::string& program = "builder",
                        const std::string& build_id = "")
      : version_(version) {
    proto::Header h;
    h.set_format_version(version);
    h.set_program(program);
    h.set_build_id(build_id);
    h.set_backend("sim");
    const std::string hb = h.SerializeAsString();
    out_ = "gevtrace";
    Varint(hb.size());
    out_ += hb;
    run_ = internal::Crc32c(0, out_.data(), out_.size());
    Fixed32(internal::Crc32c(0, hb.data(), hb.size()));
    chunk_start_ = covered_ = out_.size();
  }
  // `records`: how many the record counts as (2 for a sleep with its
  // timer's start folded in, see trace.proto).
  void Add(const proto::Record& r, uint32_t records = 1) {
    AddRaw(r.SerializeAsString(), records);
  }
  void AddRaw(const std::string& body, uint32_t records = 1) {
    Varint(body.size());
    out_ += body;
    chunk_ += records;
    total_ += records;
  }
  void Checkpoint() {
    if (version_ < 3) {
      proto::Record r;
      r.mutable_checkpoint()->set_crc32c(internal::Crc32c(
          0, out_.data() + chunk_start_, out_.size() - chunk_start_));
      r.mutable_checkpoint()->set_records(chunk_);
      AddFraming(r.SerializeAsString());
    } else {
      // The count, then the checksum as the last field.
      std::string sub;
      if (chunk_ != 0) {
        sub += static_cast<char>(0x10);
        sub += VarintBytes(chunk_);
      }
      sub += static_cast<char>(internal::kCheckpointCrcTag);
      AddChained(30, sub);
    }
    chunk_start_ = out_.size();
    chunk_ = 0;
  }
  std::string End() {
    Checkpoint();
    if (version_ < 3) {
      proto::Record r;
      r.mutable_end()->set_records(total_);
      AddFraming(r.SerializeAsString());
    } else {
      std::string sub;
      if (total_ != 0) {
        sub += static_cast<char>(0x08);
        sub += VarintBytes(total_);
      }
      sub += static_cast<char>(internal::kEndTrailerTag);
      sub.append(reinterpret_cast<const char*>(internal::kEndTrailerBytes), 8);
      sub += static_cast<char>(internal::kEndCrcTag);
      AddChained(31, sub);
    }
    return out_;
  }

 private:
  // A framing record of field `field` whose message is `sub` and then the
  // checksum of every byte before it (but earlier checksums').
  void AddChained(uint32_t field, const std::string& sub) {
    std::string rec;
    uint8_t buf[16];
    uint8_t* e = internal::PutTag(buf, field, internal::kBytes);
    e = internal::PutVarint(e, sub.size() + 4);
    rec.append(reinterpret_cast<char*>(buf), static_cast<size_t>(e - buf));
    rec += sub;
    Varint(rec.size() + 4);
    out_ += rec;
    run_ = internal::Crc32c(run_, out_.data() + covered_, out_.size() - covered_);
    Fixed32(run_);
    covered_ = out_.size();
  }
  void AddFraming(const std::string& body) {
    Varint(body.size());
    out_ += body;
  }
  static std::string VarintBytes(uint64_t v) {
    uint8_t buf[10];
    uint8_t* e = internal::PutVarint(buf, v);
    return std::string(reinterpret_cast<char*>(buf), static_cast<size_t>(e - buf));
  }
  void Varint(uint64_t v) { out_ += VarintBytes(v); }
  void Fixed32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_ += static_cast<char>(v >> (8 * i));
  }
  uint32_t version_;
  std::string out_;
  size_t chunk_start_ = 0;
  size_t covered_ = 0;  // version 3: the running checksum covers out_ up to here
  uint32_t run_ = 0;
  uint32_t chunk_ = 0;
  uint64_t total_ = 0;
};

// Every field equal (SameEvent compares what replay compares; this is
// for "the reader delivered exactly the original's event").
inline bool Identical(const Event& x, const Event& y) {
  return x.kind == y.kind && x.index == y.index && x.time_ns == y.time_ns &&
         x.greenlet == y.greenlet && x.a == y.a && x.b == y.b && x.c == y.c &&
         x.text == y.text && x.text2 == y.text2 && x.name == y.name &&
         x.fd == y.fd && x.arg2 == y.arg2 && x.new_fd == y.new_fd &&
         x.address == y.address && x.payload == y.payload &&
         x.has_crc == y.has_crc && x.crc == y.crc && x.resolved == y.resolved;
}

// One record of a trace file as it lies in the file.
struct Frame {
  enum Kind { kEvent, kCheckpoint, kEnd };
  size_t begin = 0, end = 0;  // bytes [begin, end) of the file
  Kind kind = kEvent;
  uint32_t events = 0;  // event records it stands for (2: a folded sleep)
};

// The records of a well-formed trace (one our writer wrote), in order;
// `*header_end`: where the first starts. On damaged input, the records up
// to the damage.
inline std::vector<Frame> Frames(const std::string& data, size_t* header_end) {
  std::vector<Frame> out;
  size_t pos = 8;
  auto varint = [&](uint64_t* v) {
    const auto* b = reinterpret_cast<const uint8_t*>(data.data());
    const uint8_t* p = b + pos;
    if (varint::Get(&p, b + data.size(), v) != varint::GetResult::kOk) return false;
    pos = static_cast<size_t>(p - b);
    return true;
  };
  uint64_t len = 0;
  if (data.size() < 8 || !varint(&len) || len > data.size() - pos) return out;
  pos += len + 4;
  *header_end = pos;
  while (pos < data.size()) {
    Frame f;
    f.begin = pos;
    if (!varint(&len) || len > data.size() - pos) break;
    // The kind from the oneof's tag (quick: the mutation test frames
    // thousands of traces); only a sleep is parsed (its timer's start
    // folded in makes it two events).
    const auto tag0 = len > 0 ? static_cast<uint8_t>(data[pos]) : 0;
    const auto tag1 = len > 1 ? static_cast<uint8_t>(data[pos + 1]) : 0;
    if (tag0 == ((30 << 3 | internal::kBytes) | 0x80) && tag1 == 1) {
      f.kind = Frame::kCheckpoint;
    } else if (tag0 == ((31 << 3 | internal::kBytes) | 0x80) && tag1 == 1) {
      f.kind = Frame::kEnd;
    } else {
      proto::Record r;
      f.events = 1;
      if (tag0 == (11 << 3 | internal::kBytes)) {
        if (!r.ParseFromArray(data.data() + pos, static_cast<int>(len))) break;
        if (r.sleep().has_timer_dt_ns()) f.events = 2;
      }
    }
    pos += len;
    f.end = pos;
    out.push_back(f);
  }
  return out;
}

// The chunks of records of a well-formed trace: [begin, end) of each run
// of records up to and with its checkpoint; `*end_record`: where the end
// record starts (the file's size if none).
inline std::vector<std::pair<size_t, size_t>> Chunks(const std::string& data,
                                                     size_t* end_record) {
  std::vector<std::pair<size_t, size_t>> chunks;
  size_t header_end = 0;
  const std::vector<Frame> frames = Frames(data, &header_end);
  size_t from = header_end;
  *end_record = data.size();
  for (const Frame& f : frames) {
    if (f.kind == Frame::kCheckpoint) {
      chunks.emplace_back(from, f.end);
      from = f.end;
    }
    if (f.kind == Frame::kEnd) *end_record = f.begin;
  }
  return chunks;
}

// `data` (version 3) with the 4 bytes of every checksum zeroed: the bytes
// of two recordings of the same events, whose headers differ (the start
// time), compare equal then.
inline std::string WithoutChecksums(std::string data) {
  size_t header_end = 0;
  for (const Frame& f : Frames(data, &header_end)) {
    if (f.kind != Frame::kEvent) data.replace(f.end - 4, 4, 4, '\0');
  }
  if (header_end >= 4) data.replace(header_end - 4, 4, 4, '\0');
  return data;
}

}  // namespace testing
}  // namespace trace
}  // namespace gevent

#endif  // GEVENTPP_TRACES_TRACE_TESTING_H_
