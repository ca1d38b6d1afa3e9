// Reading a trace file: the header, then events one at a time.
//
//   gevent::trace::TraceReader r;
//   if (!r.Open(path)) { puts(r.error().c_str()); return 2; }
//   gevent::trace::Event e;
//   while (r.Next(&e)) ...
//   if (!r.complete()) puts(r.error().c_str());  // where and why it ended
//
// The reader never trusts the file: every length is bounded, and records
// are delivered only once their checkpoint's checksum matched, except the
// last few of a trace whose recorder died (the readable prefix). Corrupt
// or truncated input gives a one-line error, never a crash.
#ifndef GEVENTPP_TRACES_READER_H_
#define GEVENTPP_TRACES_READER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "traces/event.h"

namespace gevent {
namespace trace {

namespace proto {
class Header;
class Record;
}  // namespace proto

class TraceReader {
 public:
  TraceReader();
  ~TraceReader();
  TraceReader(const TraceReader&) = delete;
  TraceReader& operator=(const TraceReader&) = delete;

  // Reads `path` and its header. Returns false, with error() set, if it
  // cannot be read or does not start with a valid header.
  bool Open(const std::string& path);
  // The same for bytes in memory; `name` is used in messages.
  bool OpenBytes(std::string_view bytes, const std::string& name = "<memory>");

  const proto::Header& header() const { return *header_; }
  // "sim" or "epoll" (from the header).
  const std::string& backend() const;

  // The next event, or nullptr at the end of the readable data.
  const Event* Peek();
  // Moves the next event into `*e`; false at the end.
  bool Next(Event* e);

  // At the end: true if the trace ended with its end record, every
  // checksum matched and nothing followed.
  bool complete() const { return complete_; }
  // At the end and not complete: why, in one line naming the file, the
  // byte offset and the record where reading stopped.
  const std::string& error() const { return error_; }
  // Events delivered so far; bytes of the file.
  uint64_t delivered() const { return delivered_; }
  uint64_t file_size() const { return data_.size(); }
  const std::string& name() const { return name_; }

 private:
  bool ReadHeader();
  void Fill();
  bool ParseOne();
  void Fail(const std::string& why);
  bool Decode(const proto::Record& r, Event* e);

  std::string name_;
  std::string data_;
  size_t pos_ = 0;
  std::unique_ptr<proto::Header> header_;
  std::unique_ptr<proto::Record> record_;
  std::deque<Event> ready_;
  std::vector<Event> pending_;  // not yet covered by a checkpoint
  size_t chunk_start_ = 0;
  uint64_t records_ = 0;        // event records parsed (index of the next)
  uint64_t chunk_records_ = 0;  // of them since the last checkpoint
  uint64_t delivered_ = 0;
  uint64_t time_ = 0;           // ns since the start (wrapping)
  uint64_t last_seq_ = 0;
  bool done_ = false;
  bool complete_ = false;
  std::string error_;
};

}  // namespace trace
}  // namespace gevent

#endif  // GEVENTPP_TRACES_READER_H_
