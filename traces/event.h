// One trace event as readers and the replayer see it, and how it prints.
//
// The fields mirror HubEvent (runtime/hub.h):
//
// example: skip (a table)
//   kind            greenlet  a           b           c      text / text2
//   kSpawn          new id    parent id (-1: the hub)        name: its name
//   kSwitch         id
//   kFinish         id        0 value, 1 error, 2 killed     error type / message,
//                                                            name: if renamed
//   kTimerFired               timer seq
//   kCallback, kIdle, kLoopExit, kLinkNotified: nothing
//   kIo                       fd          revents
//   kTimeAdvanced             ns moved since the previous record
//   kDecision                 options     taken       Decision
//   kSleep          id        ns          1 ref, 0 unref
//   kTimeoutFired, kKill: greenlet
//   kNote           current                                  text
//   kTimerStarted   current   timer seq   delay ns
//
// "current" is kHubGreenlet when the hub itself did it (from a callback).
//
// Socket calls (NetCall records, epoll traces) have the trace's own kind,
// kNetCall: a = the NetOp, b = its result, c = arg, and the fields below.
#ifndef GEVENTPP_TRACES_EVENT_H_
#define GEVENTPP_TRACES_EVENT_H_

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "runtime/hub.h"

namespace gevent {
namespace trace {

// The format version this build writes, and the oldest it reads (version 2
// has checksums that are not chained and an end record without one; version
// 1 also lacks Sleep.timer_dt_ns, the folded timer start).
inline constexpr uint32_t kFormatVersion = 3;
inline constexpr uint32_t kOldestFormatVersion = 1;

// The greenlet id that stands for the hub (whose RawGreenlet id is 0, like
// main's).
inline constexpr uint64_t kHubGreenlet = ~uint64_t{0};

// A trace that cannot be opened, created or read (the message says which
// file and why, in one line).
class TraceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// The trace file is being written by another recorder, in this process or
// another (it holds the file's lock): it was left alone.
class TraceFileInUse : public TraceError {
 public:
  using TraceError::TraceError;
};

// The kind of a socket call record: not a hub event (no hub reports it; the
// network's observer does), so beyond HubEventKind's values.
inline constexpr HubEventKind kNetCall = static_cast<HubEventKind>(64);

struct Event {
  HubEventKind kind = HubEventKind::kCallback;
  uint64_t index = 0;    // record index in the trace (0-based)
  int64_t time_ns = 0;   // since the recording started
  uint64_t greenlet = 0;
  int64_t a = 0;
  int64_t b = 0;
  int64_t c = 0;
  std::string text;
  std::string text2;
  std::string name;  // Spawn: the name; Finish: the name if not the default
  // kNetCall only (trace.proto, NetCall).
  int64_t fd = -1;
  int64_t arg2 = 0;
  int64_t new_fd = -1;
  std::string address;  // a sockaddr's bytes ("" for none)
  std::string payload;  // the received bytes the recording kept
  bool has_crc = false;  // sends: crc is the CRC-32C of the bytes taken
  uint32_t crc = 0;
  // Resolve: the addresses (sockaddr bytes); its error's message is `text`
  // and the host is `payload`.
  std::vector<std::string> resolved;
};

// The socket call `e` describes (kNetCall): "fd 7 recv 4096 -> 64 bytes".
std::string DescribeNetCall(const Event& e);
// A sockaddr's bytes as "127.0.0.1:80" ("?" if they are not one).
std::string AddressText(const std::string& sockaddr_bytes);
// "ECONNREFUSED" for 111 (or "errno 999").
std::string ErrnoName(int64_t err);

// Builds the Event a recorder writes for `e` (names, error text), with its
// time relative to `start`. `in_hub`: the hub greenlet is running.
Event EventFromHub(const HubEvent& e, absl::Time start, bool in_hub);

// True if the event concerns greenlet `greenlet` (Spawn, Switch, Finish,
// Sleep, TimeoutFired, Kill, Note, TimerStarted).
bool HasGreenlet(HubEventKind kind);
// True for events only the hub itself emits (the running greenlet, if any,
// has switched back to the hub by then).
bool IsHubSide(HubEventKind kind);

// "switch", "timer-fired", ...
const char* KindName(HubEventKind kind);
// "+1.000250000s"
std::string FormatTime(int64_t ns);
// "1.5ms", "10s", "250us", "0"
std::string FormatDuration(int64_t ns);
// "main", "g3", "hub"
std::string GreenletName(uint64_t id);
// What happened, e.g. "switch to g3", "timer #4 fired", "g2 finished with
// error std::runtime_error: boom".
std::string Describe(const Event& e);
// One dump line: "#57 +0.010000000s g3 switch to g3".
std::string FormatLine(const Event& e);

// How events are compared in replay and diff: kind and arguments always;
// times when `compare_times` (both runs simulated) and always for
// TimeAdvanced. Error messages are not compared (only error types).
bool SameEvent(const Event& expected, const Event& actual, bool compare_times);

// `s` with control characters and bytes that are not UTF-8 escaped as
// \n, \t, \xNN, so that it prints on one line.
std::string Printable(const std::string& s);
// `s` with invalid UTF-8 and control characters replaced by '?' (for JSON
// and XML, which must be valid UTF-8).
std::string ValidUtf8(const std::string& s);

// The default name of greenlet `id`: "Greenlet-<id>".
bool IsDefaultName(const std::string& name, uint64_t id);
std::string DefaultName(uint64_t id);

}  // namespace trace
}  // namespace gevent

#endif  // GEVENTPP_TRACES_EVENT_H_
