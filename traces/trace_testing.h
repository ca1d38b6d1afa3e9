// Helpers for the trace tests.
#ifndef GEVENTPP_TRACES_TRACE_TESTING_H_
#define GEVENTPP_TRACES_TRACE_TESTING_H_

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "runtime/hub.h"
#include "traces/event.h"
#include "traces/internal/crc32c.h"
#include "traces/internal/wire.h"
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

// Writes a trace from proto messages (as a future writer might).
class TraceBuilder {
 public:
  explicit TraceBuilder(uint32_t version = kFormatVersion) {
    proto::Header h;
    h.set_format_version(version);
    h.set_program("builder");
    h.set_backend("sim");
    const std::string hb = h.SerializeAsString();
    out_ = "gevtrace";
    Varint(hb.size());
    out_ += hb;
    const uint32_t crc = internal::Crc32c(0, hb.data(), hb.size());
    for (int i = 0; i < 4; ++i) out_ += static_cast<char>(crc >> (8 * i));
    chunk_start_ = out_.size();
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
    proto::Record r;
    r.mutable_checkpoint()->set_crc32c(internal::Crc32c(
        0, out_.data() + chunk_start_, out_.size() - chunk_start_));
    r.mutable_checkpoint()->set_records(chunk_);
    const std::string b = r.SerializeAsString();
    Varint(b.size());
    out_ += b;
    chunk_start_ = out_.size();
    chunk_ = 0;
  }
  std::string End() {
    Checkpoint();
    proto::Record r;
    r.mutable_end()->set_records(total_);
    const std::string b = r.SerializeAsString();
    Varint(b.size());
    out_ += b;
    return out_;
  }

 private:
  void Varint(uint64_t v) {
    uint8_t buf[10];
    uint8_t* e = internal::PutVarint(buf, v);
    out_.append(reinterpret_cast<char*>(buf), static_cast<size_t>(e - buf));
  }
  std::string out_;
  size_t chunk_start_ = 0;
  uint32_t chunk_ = 0;
  uint64_t total_ = 0;
};

}  // namespace testing
}  // namespace trace
}  // namespace gevent

#endif  // GEVENTPP_TRACES_TRACE_TESTING_H_
