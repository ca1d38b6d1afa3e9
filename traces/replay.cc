#include "traces/replay.h"

#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/raw_greenlet.h"
#include "traces/internal/environment.h"
#include "traces/internal/replay_network.h"
#include "traces/recorder.h"
#include "traces/trace.pb.h"

namespace gevent {
namespace trace {
namespace {

// Recorded times are trusted only this far (a corrupt trace must not push
// the virtual clock to infinity).
constexpr int64_t kMaxOffsetNs = int64_t{100} * 365 * 24 * 3600 * 1000000000;

int64_t ClampOffset(int64_t ns) {
  if (ns < 0) return 0;
  return ns > kMaxOffsetNs ? kMaxOffsetNs : ns;
}

}  // namespace

const char* ReplayStatusName(ReplayStatus s) {
  switch (s) {
    case ReplayStatus::kReplaying: return "replaying";
    case ReplayStatus::kIdentical: return "identical";
    case ReplayStatus::kPrefixReplayed: return "prefix replayed";
    case ReplayStatus::kDiverged: return "diverged";
    case ReplayStatus::kRunEndedEarly: return "run ended early";
  }
  return "?";
}

std::string DivergenceReport(const std::string& headline,
                             const std::string& expected,
                             const std::string& actual,
                             const std::deque<std::string>& history) {
  std::string out = absl::StrCat(headline, "\n  expected: ", expected,
                                 "\n  actual:   ", actual);
  if (history.empty()) {
    absl::StrAppend(&out, "\n(no events before it)");
  } else {
    absl::StrAppend(&out, "\nthe last ", history.size(), " events before it:");
    for (const std::string& line : history) absl::StrAppend(&out, "\n  ", line);
  }
  return out;
}

Replayer::Replayer(std::unique_ptr<TraceReader> reader, ReplayOptions options)
    : reader_(std::move(reader)), options_(options) {
  from_epoll_ = reader_->backend() != "sim";
  callbacks_ = reader_->header().callbacks();
}

Replayer::~Replayer() { Detach(); }

std::unique_ptr<sim::SimHub> Replayer::MakeHub() {
  sim::SimOptions o;
  if (!from_epoll_) {
    o.seed = reader_->header().seed();
    o.max_jitter =
        absl::Nanoseconds(ClampOffset(reader_->header().max_jitter_ns()));
  }
  auto hub = std::make_unique<sim::SimHub>(o);
  hub_ = hub.get();
  start_ = hub->loop_time();
  if (o.seed != 0) {
    hub->set_decision_source([this](Decision d, size_t n) { return Decide(d, n); });
  }
  if (from_epoll_) {
    hub->set_clock_source([this](absl::Time deadline) { return Clock(deadline); });
    hub->set_lateness_source([this] { return Lateness(); });
    hub->set_pass_source([this](uint64_t n) { return PassOver(n); });
    // Sockets answered by the trace, their readiness from its Io records.
    network_ = std::make_unique<internal::ReplayNetwork>(this, hub.get());
    hub->set_replay_network(network_.get(), [this](std::vector<HubBackend::IoEvent>* r) {
      return MoreIo(r);
    });
    // Work from other threads is taken where the recorded loop took it.
    hub->set_foreign_source([this] { return ForeignDue(); },
                            [this](uint64_t tag, int64_t waited_ns) {
                              return ForeignMissing(tag, waited_ns);
                            });
  }
  hub->set_observer(this);
  return hub;
}

void Replayer::Detach() {
  pending_throw_.stop();
  if (hub_ != nullptr && hub_->observer() == this) hub_->set_observer(nullptr);
  hub_ = nullptr;  // it may be destroyed from now on
  stopped_ = true;
}

size_t Replayer::Decide(Decision d, size_t n) {
  if (stopped_) return 0;
  const Event* next = reader_->Peek();
  if (next != nullptr && next->kind == HubEventKind::kDecision &&
      next->c == static_cast<int64_t>(d) &&
      next->a == static_cast<int64_t>(n) && next->b >= 0 &&
      static_cast<uint64_t>(next->b) < n) {
    return static_cast<size_t>(next->b);
  }
  return 0;  // a different event comes next: the check will say so
}

absl::Time Replayer::Clock(absl::Time deadline) {
  if (stopped_) {
    // Free-running simulation (SimHub's own rules).
    if (busy_pass_ && hub_ != nullptr) {
      busy_pass_ = false;
      return hub_->loop_time() + hub_->switch_interval();
    }
    return deadline;
  }
  const Event* next = reader_->Peek();
  if (next != nullptr && next->kind == HubEventKind::kTimeAdvanced) {
    return start_ + absl::Nanoseconds(ClampOffset(next->time_ns));
  }
  if (deadline == absl::InfinitePast()) return absl::InfinitePast();
  // Readiness the recorded loop found without its clock moving: the I/O
  // phase takes it next (MoreIo).
  if (next != nullptr && next->kind == HubEventKind::kIo) return absl::InfinitePast();
  // Work from other threads comes next: the top of the next iteration
  // waits for it (Hub::TakeReplayedForeignWork, which gives up when it
  // cannot come), not a wait with no end here.
  if (next != nullptr && next->kind == HubEventKind::kForeignWork) {
    return absl::InfinitePast();
  }
  if (deadline == absl::InfiniteFuture()) {
    if (network_used_ && (next == nullptr || next->kind == kNetCall)) {
      // The loop would wait with no end, for I/O the trace does not have
      // (a recording cut short), or while the trace has a socket call that
      // only a running greenlet could make: nothing will ever come.
      Diverge(next, "(the loop waits for I/O)");
      return absl::InfinitePast();
    }
    return absl::InfiniteFuture();  // wait for other threads, as recorded
  }
  // The recorded loop did not wait here, but this one would: nothing can
  // make the expected event happen.
  if (++idle_polls_ >= 2) {
    Diverge(next, absl::StrCat("(the loop would wait for its next timer, at ",
                               FormatTime(absl::ToInt64Nanoseconds(deadline - start_)),
                               ")"));
    return deadline;
  }
  return absl::InfinitePast();
}

absl::Duration Replayer::Lateness() {
  if (stopped_ || hub_ == nullptr) return absl::ZeroDuration();
  const Event* next = reader_->Peek();
  if (next == nullptr || next->kind != HubEventKind::kTimerStarted) {
    return absl::ZeroDuration();
  }
  const absl::Time at = start_ + absl::Nanoseconds(ClampOffset(next->time_ns));
  const absl::Time now = hub_->loop_time();
  return at > now ? at - now : absl::ZeroDuration();
}

// Where epoll ended a long pass of the callback FIFO, its loop read the
// clock next: the trace has a time advance there.
bool Replayer::PassOver(uint64_t callbacks_run) {
  if (stopped_) {
    busy_pass_ = callbacks_run >= sim::SimHub::kBusyPassCallbacks;
    return busy_pass_;
  }
  const Event* next = reader_->Peek();
  return next != nullptr && next->kind == HubEventKind::kTimeAdvanced;
}

bool Replayer::MoreIo(std::vector<HubBackend::IoEvent>* ready) {
  if (stopped_) return false;
  const Event* next = reader_->Peek();
  if (next == nullptr || next->kind != HubEventKind::kIo) return false;
  if (next->index == io_handed_) {
    // Handed out, and no watcher took it: no socket of this run has the
    // descriptor.
    Diverge(next, absl::StrCat("(nothing watches fd ", next->a, " in this run)"));
    return false;
  }
  io_handed_ = next->index;
  ready->push_back({static_cast<int>(next->a), static_cast<uint32_t>(next->b)});
  return true;
}

int64_t Replayer::ForeignDue() {
  if (stopped_) return -1;  // free-running: the simulator's own rule
  const Event* next = reader_->Peek();
  if (next == nullptr || next->kind != HubEventKind::kForeignWork) return 0;
  // The callback's tag + 1 (a corrupt tag is one no work has: it cannot
  // come, which the hub reports at once).
  constexpr int64_t kMaxTag = int64_t{1} << 62;
  return (next->a < 0 || next->a > kMaxTag ? kMaxTag : next->a) + 1;
}

bool Replayer::ForeignMissing(uint64_t tag, int64_t waited_ns) {
  if (stopped_) return true;
  if (waited_ns == INT64_MAX) {
    Diverge(reader_->Peek(),
            absl::StrCat("(no work that can call back with tag ", tag,
                         " is out on other threads: its callback cannot come)"));
    return true;
  }
  if (absl::Nanoseconds(waited_ns) < options_.foreign_wait) return false;
  Diverge(reader_->Peek(),
          absl::StrCat("(no callback from other threads came in ",
                       absl::FormatDuration(absl::Nanoseconds(waited_ns)),
                       ", and nothing the hub is referenced for is still out)"));
  return true;
}

const Event* Replayer::PeekForNetwork() {
  if (stopped_) return nullptr;
  idle_polls_ = 0;
  return reader_->Peek();
}

void Replayer::ConsumeForNetwork(Event* out) {
  network_used_ = true;
  if (history_.size() == kHistoryEvents) history_.pop_front();
  history_.push_back(FormatLine(*reader_->Peek()));
  reader_->Next(out);
  ++matched_;
}

void Replayer::DivergeFromNetwork(const Event* expected, const std::string& actual_line) {
  Diverge(expected, actual_line);
}

void Replayer::OnHubEvent(const HubEvent& e) {
  if (stopped_) return;
  if (e.kind == HubEventKind::kCallback && !callbacks_) return;  // not recorded
  idle_polls_ = 0;
  Event actual = EventFromHub(e, start_, hub_ != nullptr && hub_->in_hub());
  const Event* expected = reader_->Peek();
  if (expected != nullptr) actual.index = expected->index;
  else actual.index = reader_->delivered();
  if (expected == nullptr || !SameEvent(*expected, actual, !from_epoll_)) {
    Diverge(expected, FormatLine(actual));
    return;
  }
  if (history_.size() == kHistoryEvents) history_.pop_front();
  history_.push_back(FormatLine(*expected));
  Event consumed;
  reader_->Next(&consumed);
  ++matched_;
}

std::string Replayer::Headline(uint64_t record) const {
  return absl::StrCat("replay of '", reader_->name(), "' diverged at record ",
                      record, ":");
}

void Replayer::Diverge(const Event* expected, const std::string& actual_line) {
  if (stopped_) return;
  stopped_ = true;
  const uint64_t record = expected != nullptr ? expected->index : reader_->delivered();
  std::string expected_line;
  bool ended = false;
  std::string headline;
  if (expected != nullptr) {
    expected_line = FormatLine(*expected);
    headline = Headline(record);
    status_ = ReplayStatus::kDiverged;
  } else if (reader_->complete()) {
    expected_line = "(the end of the trace)";
    headline = absl::StrCat("replay of '", reader_->name(),
                            "' diverged at record ", record,
                            ": the run goes on after the trace ended");
    status_ = ReplayStatus::kDiverged;
    ended = true;
  } else {
    expected_line = absl::StrCat("(the end of the readable data: ",
                                 reader_->error(), ")");
    headline = absl::StrCat("replay of '", reader_->name(),
                            "': the complete prefix (", matched_,
                            " records) replayed identically; the trace ends "
                            "at record ",
                            record, ":");
    status_ = ReplayStatus::kPrefixReplayed;
    ended = true;
  }
  const auto& h = reader_->header();
  if (h.program() != ProgramName() && !h.program().empty()) {
    absl::StrAppend(&headline, " (note: the trace was recorded by '",
                    h.program(), "', this is '", ProgramName(), "')");
  }
  report_ = DivergenceReport(headline, expected_line, actual_line, history_);
  if (network_ != nullptr) {
    const std::string note = network_->MissingBytesNote();
    if (!note.empty()) absl::StrAppend(&report_, "\n", note);
  }
  if (options_.print) {
    fprintf(stderr, "%s\n", report_.c_str());
    fflush(stderr);
  }
  if (options_.throw_in_main && hub_ != nullptr && !hub_->destroyed()) {
    auto error = std::make_exception_ptr(
        Divergence(report_, record, expected_line, actual_line, ended));
    Hub* hub = hub_;
    pending_throw_ = hub->run_callback([hub, error] {
      hub->resume(hub->main_greenlet(), error);
    });
  }
}

ReplayResult Replayer::Finish() {
  if (!finished_) {
    finished_ = true;
    const bool was_stopped = stopped_;
    Detach();
    if (!was_stopped) {
      const Event* next = reader_->Peek();
      if (next != nullptr) {
        status_ = ReplayStatus::kRunEndedEarly;
        report_ = absl::StrCat("replay of '", reader_->name(),
                               "': the run ended after ", matched_,
                               " records, but the trace goes on with ",
                               FormatLine(*next));
      } else if (reader_->complete()) {
        status_ = ReplayStatus::kIdentical;
        report_ = absl::StrCat("replay of '", reader_->name(), "': identical (",
                               matched_, " records)");
        if (network_ != nullptr) {
          const std::string note = network_->MissingBytesNote();
          if (!note.empty()) absl::StrAppend(&report_, "; ", note);
        }
      } else {
        status_ = ReplayStatus::kPrefixReplayed;
        report_ = absl::StrCat("replay of '", reader_->name(),
                               "': the complete prefix (", matched_,
                               " records) replayed identically; ",
                               reader_->error());
      }
    }
  }
  ReplayResult r;
  r.status = status_;
  r.matched = matched_;
  r.report = report_;
  return r;
}

std::string OtherBuild(const TraceReader& reader) {
  const proto::Header& h = reader.header();
  const std::string program = ProgramName(), build = BuildId();
  const bool other_program = !h.program().empty() && h.program() != program;
  const bool other_build =
      !h.build_id().empty() && !build.empty() && h.build_id() != build;
  if (!other_program && !other_build) return "";
  auto who = [](const std::string& p, const std::string& b) {
    return absl::StrCat("'", Printable(p), "'", b.empty() ? "" : " (build ",
                        Printable(b), b.empty() ? "" : ")");
  };
  return absl::StrCat("'", Printable(reader.name()), "' was recorded by ",
                      who(h.program(), h.build_id()), ", this is ",
                      who(program, build),
                      ": not replaying another program's schedule (to replay "
                      "it anyway: GEVENT_REPLAY_ANY_BUILD=1, or "
                      "ReplayOptions::any_build)");
}

Replay::Replay(const std::string& path, ReplayOptions options) {
  auto reader = std::make_unique<TraceReader>();
  if (!reader->Open(path)) throw TraceError(reader->error());
  if (!options.any_build && !internal::BoolFromEnvironment("GEVENT_REPLAY_ANY_BUILD")) {
    const std::string other = OtherBuild(*reader);
    if (!other.empty()) throw TraceError(other);
  }
  replayer_ = std::make_unique<Replayer>(std::move(reader), options);
  std::unique_ptr<sim::SimHub> hub = replayer_->MakeHub();
  hub_ = hub.get();
  previous_ = exchange_hub(std::move(hub));
}

Replay::~Replay() {
  replayer_->Finish();
  // Destroyed while still the thread's hub: a greenlet that wakes up during
  // the shutdown (before its kill) must find its own hub in get_hub().
  hub_->destroy();
  std::unique_ptr<Hub> mine = exchange_hub(std::move(previous_));
}

}  // namespace trace
}  // namespace gevent
