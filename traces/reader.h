// Reading a trace file: the header, then events one at a time.
//
//   int Dump(const std::string& path) {
//     gevent::trace::TraceReader r;
//     if (!r.Open(path)) { puts(r.error().c_str()); return 2; }
//     gevent::trace::Event e;
//     while (r.Next(&e)) puts(gevent::trace::FormatLine(e).c_str());
//     if (!r.complete()) puts(r.error().c_str());  // where and why it ended
//     return 0;
//   }
//
// The reader never trusts the file: every length is bounded, and records
// are delivered only once a checksum covered them (a checkpoint's, or the
// end record's); records after the last one that verified are never
// delivered, so a damaged trace gives a prefix of its events, never a wrong
// one. Corrupt or truncated input gives a one-line error, never a crash.
// It reads the file as a stream: its memory is bounded (about 1.3 MiB plus
// the records between two checkpoints) whatever the file's size.
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
  // Readers give up on a trace with more than this between two checkpoints
  // (writers checkpoint every 256 records; a record is at most 1 MiB).
  static constexpr uint64_t kMaxChunkRecords = 1024;
  static constexpr uint64_t kMaxChunkBytes = 16 << 20;
  TraceReader& operator=(const TraceReader&) = delete;

  // Opens `path` and reads its header. Returns false, with error() set, if
  // it cannot be read or does not start with a valid header.
  bool Open(const std::string& path);
  // The same for bytes in memory (copied); `name` is used in messages.
  bool OpenBytes(std::string_view bytes, const std::string& name = "<memory>");
  // Starts again at the first record (for tools that read a trace twice).
  // False, with error() set, if the input cannot be read again (a pipe).
  bool Rewind();

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
  // Events delivered so far; bytes of the file (those read so far, for an
  // input whose size is not known in advance).
  uint64_t delivered() const { return delivered_; }
  uint64_t file_size() const { return size_known_ ? size_ : end_of_data_; }
  const std::string& name() const { return name_; }

 private:
  // Why reading stopped early.
  enum class Stop {
    kDataEnded,  // the file ends here (at or inside a record)
    kDamaged,    // the bytes here are wrong
  };
  bool ReadHeader();
  void CloseFile();
  void Reset();
  void Fill();
  bool ParseOne();
  bool Stopped(Stop how, uint64_t at, uint64_t record_end, const std::string& why);
  void Fail(const std::string& why);
  bool Decode(const proto::Record& r, Event* e);
  bool CheckTail();
  // The input: makes [off, off + n) readable if the file has it; returns
  // a pointer to `off` and sets `*avail` to the bytes there (< n: the file
  // ends). Bytes before the last offset asked for may be dropped.
  const uint8_t* Bytes(uint64_t off, size_t n, size_t* avail);
  bool ReadMore(size_t want);
  // The offset just past the last non-zero byte at or after `from`
  // (`from` if there is none), reading to the end of the input.
  uint64_t ZeroTailStart(uint64_t from);

  std::string name_;
  int fd_ = -1;
  bool from_memory_ = false;
  std::string buf_;            // input bytes [buf_off_, buf_off_ + size)
  uint64_t buf_off_ = 0;
  bool eof_ = false;           // buf_ holds the end of the input
  bool size_known_ = false;    // a regular file or memory
  uint64_t size_ = 0;
  uint64_t end_of_data_ = 0;   // bytes read so far
  uint64_t header_end_ = 0;
  uint32_t header_run_ = 0;    // the running checksum at header_end_
  bool chained_ = false;       // version 3: chained checksums, covered end
  bool ends_complete_ = false; // the file ends as a complete trace does
  uint64_t pos_ = 0;
  std::unique_ptr<proto::Header> header_;
  std::unique_ptr<proto::Record> record_;
  std::deque<Event> ready_;
  std::vector<Event> pending_;  // not yet covered by a checksum
  uint32_t run_ = 0;            // version 3: the running checksum
  uint32_t chunk_crc_ = 0;      // versions 1 and 2: since the last checkpoint
  uint64_t chunk_bytes_ = 0;
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
