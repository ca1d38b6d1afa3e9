// The gtrace command-line tool, as functions (the binary is gtrace_main.cc;
// tests call these directly).
//
// example: skip (command lines)
//   gtrace dump TRACE                      one line per record
//   gtrace stats TRACE                     counts per kind, duration, greenlets
//   gtrace diff A B                        the first divergence (replay's report)
//   gtrace export --chrome OUT.json TRACE  Chrome Trace Event JSON (Perfetto)
//   gtrace timeline OUT.svg TRACE [--from N] [--count N]
//                                          an SVG picture, one lane per greenlet
//
// Exit status: 0 fine; 1 the trace is truncated or corrupt (the readable
// prefix was still processed) or, for diff, the traces differ; 2 usage
// error, a file that cannot be read at all, or an output that is the input
// trace (the same file, by any name: refused). Errors are one line on
// stderr, starting with "gtrace: ". Every command reads its traces as
// streams, in bounded memory.
#ifndef GEVENTPP_TRACES_TOOL_H_
#define GEVENTPP_TRACES_TOOL_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "traces/event.h"
#include "traces/reader.h"

namespace gevent {
namespace trace {

// Runs one gtrace command. `args` excludes the program name. Relative paths
// are taken from `cwd` if it is not empty.
int RunTool(const std::vector<std::string>& args, std::ostream& out,
            std::ostream& err, const std::string& cwd = "");

// The pieces, on a reader opened by the caller.
int Dump(TraceReader& r, std::ostream& out, std::ostream& err);
int Stats(TraceReader& r, std::ostream& out, std::ostream& err);
int Diff(TraceReader& a, TraceReader& b, std::ostream& out, std::ostream& err);

// A note whose text starts with this marks where a test failed (the
// explorer writes one at a run's first failed assertion); the timeline
// draws it as a failure.
inline constexpr char kFailureNotePrefix[] = "FAILED: ";

struct TimelineOptions {
  // The window of records to draw: `count` records from `from`. from < 0:
  // from a little before the first mark through the first failure if there
  // are marks (`count` is then what that takes, up to 5,000), else around the
  // first failure (an error finish or a failure note) if there is one, else
  // from the start.
  int64_t from = -1;
  int64_t count = 400;
  // Decisions to mark as decisive (the explorer's shrunk schedule): the
  // ordinal of each among the trace's decision records, and its label.
  struct Mark {
    uint64_t decision = 0;
    std::string label;
  };
  std::vector<Mark> marks;
};
// Reads the events and renders them. Returns the exit status; the document
// is complete (and valid) even when the trace is truncated. Both read the
// trace as a stream: ChromeJson writes as it reads, TimelineSvg reads the
// trace three times (Rewind) and keeps only its window of events.
int ChromeJson(TraceReader& r, std::ostream& json, std::ostream& err);
int ChromeJson(TraceReader& r, std::string* json, std::ostream& err);
int TimelineSvg(TraceReader& r, const TimelineOptions& options,
                std::string* svg, std::ostream& err);

}  // namespace trace
}  // namespace gevent

#endif  // GEVENTPP_TRACES_TOOL_H_
