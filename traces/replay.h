// Replaying a trace on the simulated hub.
//
// example-prelude: void RunTheProgram();
//   TEST(Bug, Replays) {
//     gevent::trace::Replay replay("/tmp/run.gtrace");  // like sim::Simulation
//     RunTheProgram();                                  // the same code
//     auto result = replay.Finish();
//     EXPECT_EQ(result.status, gevent::trace::ReplayStatus::kIdentical)
//         << result.report;
//   }
//
// While a Replay exists, the thread's hub is a SimHub that takes every
// decision from the trace (instead of the seed) and, for a trace recorded on
// epoll, follows its clock: the virtual clock jumps to each recorded time
// advance, and each timer's deadline counts from the clock reading recorded
// when it was started. Every event the run produces is checked against the
// next record. A program that uses only greenlets, timers and the
// primitives, recorded on epoll, replays to the identical event sequence.
//
// On the first event that differs the replay stops checking, and a
// Divergence (the report: record index, expected versus actual, the last 20
// events before it) is thrown into the main greenlet the next time it
// blocks. Running past the end of a truncated trace is reported the same
// way, after its complete prefix replayed identically.
//
// Without changing the program: GEVENT_HUB=replay GEVENT_REPLAY=path (link
// //traces). The report is printed to stderr; a divergence ends the process
// with exit status 3, at once if the Divergence is not caught, else when the
// replaying thread exits.
#ifndef GEVENTPP_TRACES_REPLAY_H_
#define GEVENTPP_TRACES_REPLAY_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "runtime/hub.h"
#include "runtime/hub_backend.h"
#include "sim/sim_hub.h"
#include "traces/event.h"
#include "traces/reader.h"

namespace gevent {
namespace trace {

// The first difference between a run and its trace (or between two traces).
class Divergence : public std::runtime_error {
 public:
  Divergence(const std::string& report, uint64_t record, std::string expected,
             std::string actual, bool trace_ended)
      : std::runtime_error(report),
        record_(record),
        expected_(std::move(expected)),
        actual_(std::move(actual)),
        trace_ended_(trace_ended) {}
  // Index of the record where they differ.
  uint64_t record_index() const { return record_; }
  const std::string& expected() const { return expected_; }
  const std::string& actual() const { return actual_; }
  // True if the run went on past the end of the trace's readable data.
  bool trace_ended() const { return trace_ended_; }

 private:
  uint64_t record_;
  std::string expected_;
  std::string actual_;
  bool trace_ended_;
};

// The report format shared by replay and `gtrace diff`:
// example: skip (a text format)
//   <headline>
//     expected: <line>
//     actual:   <line>
//   the last N events before it:
//     <line>...
std::string DivergenceReport(const std::string& headline,
                             const std::string& expected,
                             const std::string& actual,
                             const std::deque<std::string>& history);
inline constexpr size_t kHistoryEvents = 20;

enum class ReplayStatus {
  kReplaying,       // not finished yet, no difference so far
  kIdentical,       // every event matched, and the trace ended with the run
  kPrefixReplayed,  // the trace is truncated or corrupt: all of its readable
                    // prefix matched (the run may have gone on after it)
  kDiverged,        // an event differed (or the run outlived the trace)
  kRunEndedEarly,   // the run stopped before the trace did
};
const char* ReplayStatusName(ReplayStatus s);

struct ReplayResult {
  ReplayStatus status = ReplayStatus::kReplaying;
  uint64_t matched = 0;  // records that matched
  std::string report;    // one line, or the divergence report
};

struct ReplayOptions {
  // Throw the Divergence into the main greenlet (else only record it).
  bool throw_in_main = true;
  // Print the report to stderr when replay stops.
  bool print = false;
  // Replay a trace that another program, or another build of this one,
  // recorded (its header's program name or ELF build id differs). Off: such
  // a trace is refused before the replay starts (TraceError, or for
  // GEVENT_REPLAY exit status 2), since its schedule is another code's.
  // GEVENT_REPLAY_ANY_BUILD=1 in the environment does the same for every
  // replay (Replay, GEVENT_HUB=replay, a test explorer's GEVENT_REPLAY).
  bool any_build = false;
  // Where an epoll trace took callbacks from other threads, how long (real
  // time) the replay waits for them while nothing the hub is referenced for
  // (Hub::ref(): a ThreadPool task) is still out; then it is a divergence.
  // While such work is out, it waits for it as long as it takes.
  absl::Duration foreign_wait = absl::Seconds(10);
};

// "" if the trace's header says this program (ProgramName(), BuildId())
// recorded it, or the header does not say; else why not, in one line, with
// the override.
std::string OtherBuild(const TraceReader& reader);

// The engine: a hub observer plus the SimHub's decision, clock and lateness
// sources. Most code wants Replay.
namespace internal {
class ReplayNetwork;
}  // namespace internal

class Replayer final : public HubObserver {
 public:
  Replayer(std::unique_ptr<TraceReader> reader, ReplayOptions options);
  ~Replayer() override;
  // A SimHub configured from the trace's header, observed by this replayer.
  // Call once; the replayer must outlive the hub or Detach() first.
  std::unique_ptr<sim::SimHub> MakeHub();
  // Stops observing (before the hub is destroyed) and cancels a pending
  // throw into the main greenlet.
  void Detach();
  // Ends the replay (Detach) and says how it went. Idempotent.
  ReplayResult Finish();
  ReplayStatus status() const { return status_; }
  // Still checking the run against the trace.
  bool replaying() const { return !stopped_; }
  const std::string& report() const { return report_; }
  uint64_t matched() const { return matched_; }
  const TraceReader& reader() const { return *reader_; }

  void OnHubEvent(const HubEvent& e) override;

  // For the replay's network (an epoll trace's socket calls,
  // internal/replay_network.h): the next record, taking it, and a call the
  // trace does not have.
  const Event* PeekForNetwork();
  void ConsumeForNetwork(Event* out);
  void DivergeFromNetwork(const Event* expected, const std::string& actual_line);

 private:
  bool MoreIo(std::vector<HubBackend::IoEvent>* ready);
  size_t Decide(Decision d, size_t n);
  absl::Time Clock(absl::Time deadline);
  absl::Duration Lateness();
  bool PassOver(uint64_t callbacks_run);
  int64_t ForeignDue();
  bool ForeignMissing(uint64_t tag, int64_t waited_ns);
  void Diverge(const Event* expected, const std::string& actual_line);
  std::string Headline(uint64_t record) const;

  std::unique_ptr<TraceReader> reader_;
  ReplayOptions options_;
  sim::SimHub* hub_ = nullptr;
  absl::Time start_;
  bool from_epoll_ = false;
  bool callbacks_ = false;  // the trace has callback records
  bool stopped_ = false;
  bool finished_ = false;
  int idle_polls_ = 0;
  bool busy_pass_ = false;  // free-running: a busy pass ended, time moves
  uint64_t matched_ = 0;
  ReplayStatus status_ = ReplayStatus::kReplaying;
  std::string report_;
  std::deque<std::string> history_;
  Hub::CallbackHandle pending_throw_;
  std::unique_ptr<internal::ReplayNetwork> network_;  // epoll traces
  uint64_t io_handed_ = UINT64_MAX;  // the Io record last handed to the loop
  bool network_used_ = false;  // a socket call was replayed
};

// Scope object: while it exists, the calling thread's hub is the replay hub
// (as with sim::Simulation). Throws TraceError if the trace cannot be read,
// or another program or build recorded it (see ReplayOptions::any_build).
class Replay {
 public:
  explicit Replay(const std::string& path, ReplayOptions options = {});
  ~Replay();
  Replay(const Replay&) = delete;
  Replay& operator=(const Replay&) = delete;

  sim::SimHub* hub() const { return hub_; }
  ReplayStatus status() const { return replayer_->status(); }
  // Ends the replay: checks that the trace was used up. Idempotent.
  ReplayResult Finish() { return replayer_->Finish(); }
  const Replayer& replayer() const { return *replayer_; }

 private:
  std::unique_ptr<Replayer> replayer_;
  sim::SimHub* hub_ = nullptr;
  std::unique_ptr<Hub> previous_;
};

}  // namespace trace
}  // namespace gevent

#endif  // GEVENTPP_TRACES_REPLAY_H_
