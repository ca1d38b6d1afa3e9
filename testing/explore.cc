#include "testing/explore.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <gtest/gtest-spi.h>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "runtime/exception_text.h"
#include "runtime/exceptions.h"
#include "runtime/hub.h"
#include "runtime/raw_greenlet.h"
#include "sim/explore_policy.h"
#include "sim/network.h"
#include "sim/simulation.h"
#include "traces/reader.h"
#include "traces/recorder.h"
#include "traces/replay.h"
#include "traces/tool.h"

namespace gevent {
namespace testing {
namespace {

using sim::DecisionRecord;
using sim::ExplorePolicy;

constexpr uint64_t kDefaultRuns = 300;
// Every this many passing runs, one is run again to check determinism.
constexpr uint64_t kDeterminismEvery = 64;
// Shrinking stops after this many runs or this much wall time.
constexpr uint64_t kShrinkMaxRuns = 4000;
constexpr absl::Duration kShrinkMaxTime = absl::Seconds(5);
// Where the simulated clock starts (sim::SimOptions' default).
const absl::Time kEpoch = sim::SimOptions().epoch;

// ---- environment

std::optional<std::string> Env(const char* name) {
  const char* v = getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

uint64_t ParseCount(const char* var, const std::string& value) {
  uint64_t n;
  if (!absl::SimpleAtoi(value, &n)) {
    const bool digits = !value.empty() &&
                        value.find_first_not_of("0123456789") == std::string::npos;
    throw ConfigurationError(absl::StrCat(
        var, "=\"", value, "\" is ",
        digits ? "out of range (at most 18446744073709551615)" : "not a non-negative integer"));
  }
  return n;
}

struct Strategy {
  enum Kind { kRandom, kTies, kPct, kSwarm } kind = kRandom;
  int depth = 3;
  std::string text = "random";
};

Strategy ParseStrategy(const std::string& s) {
  Strategy st;
  st.text = s;
  if (s == "random") return st;
  if (s == "ties") {
    st.kind = Strategy::kTies;
    return st;
  }
  if (s == "swarm") {
    st.kind = Strategy::kSwarm;
    return st;
  }
  if (s.rfind("pct:", 0) == 0 || s == "pct") {
    st.kind = Strategy::kPct;
    if (s == "pct") {
      st.text = "pct:3";
      return st;
    }
    int d;
    if (!absl::SimpleAtoi(s.substr(4), &d) || d < 1 || d > 64) {
      throw ConfigurationError(absl::StrCat(
          "GEVENT_STRATEGY=\"", s, "\": the depth of pct:D must be a whole number from 1 to 64"));
    }
    st.depth = d;
    return st;
  }
  throw ConfigurationError(absl::StrCat("GEVENT_STRATEGY=\"", s,
                                           "\" is not a strategy (random, ties, pct:D, swarm)"));
}

// Bazel shards a test target by running it N times with TEST_SHARD_INDEX;
// GoogleTest would then run each test in one shard only. The explorer
// shards by seed instead: it takes the shard variables for itself before
// GoogleTest reads them (every test then runs in every shard), and tells
// Bazel that the binary supports sharding.
struct Shards {
  uint64_t index = 0;
  uint64_t count = 0;
};

Shards TakeShardEnvironment() {
  Shards s;
  const auto total = Env("TEST_TOTAL_SHARDS");
  const auto index = Env("TEST_SHARD_INDEX");
  if (!total || !index) return s;
  uint64_t t, i;
  if (!absl::SimpleAtoi(*total, &t) || !absl::SimpleAtoi(*index, &i) || t == 0 || i >= t) {
    return s;  // GoogleTest reports bad values itself
  }
  s.index = i;
  s.count = t;
  unsetenv("GTEST_TOTAL_SHARDS");
  unsetenv("GTEST_SHARD_INDEX");
  if (const auto status = Env("TEST_SHARD_STATUS_FILE")) {
    const int fd = open(status->c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) close(fd);
  }
  return s;
}

const Shards g_shards = TakeShardEnvironment();

// ---- one run

// Sees every event of a run: the order of switches (the interleaving), the
// greenlets' names (for the words of a report), and, when asked, the whole
// event sequence (to find where two runs split).
class RunObserver final : public HubObserver {
 public:
  struct Seen {
    HubEventKind kind;
    uint64_t greenlet;
    int64_t a, b, c, time_ns;
  };
  explicit RunObserver(bool details) : details_(details) {}
  void OnHubEvent(const HubEvent& e) override {
    if (e.kind == HubEventKind::kSwitch) {
      switches_ = (switches_ ^ (e.greenlet + 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;
    }
    if (!details_) return;
    if (e.kind == HubEventKind::kSpawn && e.who != nullptr) names_[e.greenlet] = e.who->name();
    if (e.kind != HubEventKind::kTimerStarted) {
      events_.push_back({e.kind, e.greenlet, e.a, e.b, e.c, e.time_ns});
    }
  }
  bool WantsCallbacks() const override { return false; }
  uint64_t switches() const { return switches_; }
  std::map<uint64_t, std::string> names() const { return names_; }
  const std::vector<Seen>& events() const { return events_; }

 private:
  const bool details_;
  uint64_t switches_ = 0;
  std::map<uint64_t, std::string> names_;
  std::vector<Seen> events_;
};

// Takes the gtest failures of a run (instead of failing the test once per
// schedule), with the virtual time of the first.
class FailureCatcher final : public ::testing::ScopedFakeTestPartResultReporter {
 public:
  explicit FailureCatcher(Hub* hub)
      : ScopedFakeTestPartResultReporter(INTERCEPT_ONLY_CURRENT_THREAD, &results_), hub_(hub) {}
  void ReportTestPartResult(const ::testing::TestPartResult& r) override {
    if (r.failed() && !first_) {
      first_ = hub_->loop_time();
      // Where it failed, in the trace: a note the timeline draws.
      const std::string note = absl::StrCat(
          trace::kFailureNotePrefix, absl::StrJoin(absl::StrSplit(r.message(), '\n'), " / "));
      RawGreenlet* g = hub_->current();
      hub_->EmitNote(g, g->id(), note.c_str());
    }
    ScopedFakeTestPartResultReporter::ReportTestPartResult(r);
  }
  const ::testing::TestPartResultArray& results() const { return results_; }
  std::optional<absl::Time> first() const { return first_; }

 private:
  ::testing::TestPartResultArray results_;
  Hub* hub_;
  std::optional<absl::Time> first_;
};

struct Outcome {
  bool failed = false;
  std::string signature;  // what failed, without the run's details
  std::string message;
  absl::Duration time = absl::ZeroDuration();
  uint64_t event_hash = 0;
  uint64_t switches = 0;
  std::vector<DecisionRecord> log;
  uint64_t steps = 0;
  std::map<uint64_t, std::string> names;
  std::vector<std::string> hosts;  // the simulated network's, by id
  std::vector<RunObserver::Seen> events;
};

std::string Indent(const std::string& text, const std::string& prefix) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!out.empty()) out += "\n";
    absl::StrAppend(&out, prefix, line);
  }
  return out;
}

// Runs `body` in the current thread's main greenlet on `hub` (installed),
// and says what failed. Kills what is left before returning.
void RunBody(Hub* hub, const std::function<void()>& body, bool expect_errors, bool details,
             Outcome* out) {
  struct Error {
    std::string where, type, what;
    absl::Time time;
  };
  std::vector<Error> errors;
  hub->set_error_handler([&](const RawGreenlet* where, std::exception_ptr e) {
    errors.push_back({where != nullptr ? where->name() : "a hub callback",
                      exception_type_name(e), exception_message(e), hub->loop_time()});
  });
  auto fail = [&](std::string signature, std::string message, absl::Time t) {
    if (out->failed) return;
    if (!absl::StartsWith(signature, "assertion ")) {
      // Where it was found, in the trace (an assertion noted itself when
      // it failed).
      const std::string note = absl::StrCat(
          trace::kFailureNotePrefix, absl::StrJoin(absl::StrSplit(message, '\n'), " / "));
      RawGreenlet* g = hub->current();
      hub->EmitNote(g, g->id(), note.c_str());
    }
    out->failed = true;
    out->signature = std::move(signature);
    out->message = std::move(message);
    out->time = t - kEpoch;
  };
  FailureCatcher catcher(hub);
  try {
    body();
  } catch (const LoopExit& e) {
    fail("deadlock", absl::StrCat("deadlock: the body blocked with nothing left to wake it\n",
                                  e.what()),
         hub->loop_time());
  } catch (const trace::Divergence& e) {
    fail("divergence", e.what(), hub->loop_time());
  } catch (...) {
    const std::exception_ptr e = std::current_exception();
    fail(absl::StrCat("exception ", exception_type_name(e)),
         absl::StrCat("the body threw ", exception_type_name(e), ": ", exception_message(e)),
         hub->loop_time());
  }
  const absl::Time returned = hub->loop_time();
  // Failures before what the body left behind.
  const int reported = catcher.results().size();
  for (int i = 0; i < reported && !out->failed; ++i) {
    const ::testing::TestPartResult& r = catcher.results().GetTestPartResult(i);
    if (!r.failed()) continue;
    const std::string where =
        absl::StrCat(r.file_name() != nullptr ? r.file_name() : "unknown file", ":",
                     r.line_number());
    fail(absl::StrCat("assertion ", where), absl::StrCat(where, ": Failure\n", r.message()),
         catcher.first().value_or(returned));
  }
  if (!expect_errors && !errors.empty() && !out->failed) {
    const Error& e = errors.front();
    fail(absl::StrCat("error ", e.type),
         absl::StrCat(e.where, " failed with ", e.type, e.what.empty() ? "" : ": ", e.what),
         e.time);
  }
  // What the body left behind. Greenlets of simulated hosts (sim/network.h)
  // are the simulated machines' services: they may outlive the body.
  // While such a world still runs, what keeps the loop alive may be its
  // own (messages in flight): only greenlets of the body's host count then.
  std::vector<const RawGreenlet*> blocked = hub->blocked_greenlets();
  const size_t all_blocked = blocked.size();
  blocked.erase(std::remove_if(blocked.begin(), blocked.end(),
                               [](const RawGreenlet* g) { return g->host() != 0; }),
                blocked.end());
  const bool world_runs = blocked.size() < all_blocked;
  if (!out->failed && (!blocked.empty() || (hub->alive() && !world_runs))) {
    if (!blocked.empty() && !hub->alive()) {
      fail("deadlock",
           absl::StrCat("deadlock: greenlets blocked with nothing left to run\n",
                        hub->deadlock_report()),
           returned);
    } else {
      std::string what = hub->deadlock_report();
      if (what.empty()) what = "greenlets or timers were still scheduled";
      fail("alive", absl::StrCat("greenlets still alive when the body returned "
                                 "(the harness kills them)\n",
                                 what),
           returned);
    }
  }
  out->event_hash = hub->event_digest() != nullptr ? hub->event_digest()->hash() : 0;
  if (details) {
    if (auto* net = dynamic_cast<sim::Network*>(hub->backend().network())) {
      out->hosts = net->host_names();
    }
  }
  hub->destroy();  // kills what is left, while the catcher takes its failures
}

struct RunSpec {
  uint64_t seed = 1;
  ExplorePolicy::Config config;
  std::string record_path;  // "": no trace
  bool details = false;     // names and events
};

Outcome RunOnce(const RunSpec& spec, const std::function<void()>& body, bool expect_errors) {
  Outcome out;
  sim::SimOptions o;
  o.seed = spec.seed;
  // The jitter the policy draws is the one the trace's header states (a
  // replay asks for jitter where this run did).
  const bool jitter = (spec.config.perturbed &
                       (1u << static_cast<unsigned>(Decision::kTimerJitter))) != 0;
  o.max_jitter = jitter ? spec.config.max_jitter : absl::ZeroDuration();
  ExplorePolicy::Config config = spec.config;
  config.max_jitter = o.max_jitter;
  sim::Simulation sim(o);
  sim::SimHub* hub = sim.hub();
  ExplorePolicy policy(hub, std::move(config));
  hub->set_scheduling_policy(&policy);
  RunObserver observer(spec.details);
  hub->set_observer(&observer);
  {
    std::unique_ptr<trace::Recorder> recorder;
    if (!spec.record_path.empty()) {
      recorder = std::make_unique<trace::Recorder>(hub, spec.record_path);
    }
    RunBody(hub, body, expect_errors, spec.details, &out);
    if (recorder != nullptr) recorder->Stop();
  }
  hub->set_observer(nullptr);
  out.switches = observer.switches();
  out.log = policy.log();
  out.steps = policy.contested_steps();
  if (spec.details) {
    out.names = observer.names();
    out.events = observer.events();
  }
  hub->set_scheduling_policy(nullptr);
  return out;
}

// ---- words

std::string FormatTime(int64_t time_ns) {
  return absl::StrCat("t=", absl::FormatDuration(absl::Nanoseconds(time_ns) -
                                                 (kEpoch - absl::UnixEpoch())));
}

std::string NameOf(const std::map<uint64_t, std::string>& names, uint64_t id) {
  if (id == 0) return "main";
  auto it = names.find(id);
  return it != names.end() ? it->second : absl::StrCat("Greenlet-", id);
}

// "store -> cache" (host names as the network knew them).
std::string Link(const DecisionRecord& r, const std::vector<std::string>& hosts) {
  auto name = [&](uint32_t id) {
    return id < hosts.size() ? hosts[id] : absl::StrCat("host ", id);
  };
  return absl::StrCat(name(r.from_host), " -> ", name(r.to_host));
}

std::string DescribeDecision(const DecisionRecord& r, const Outcome& run) {
  const std::map<uint64_t, std::string>& names = run.names;
  const std::string at = FormatTime(r.time_ns);
  switch (r.kind) {
    case Decision::kTimerTie:
      return absl::StrCat(at, ": of ", r.options, " timers due together, the one ",
                          NameOf(names, r.owner), " started fired first (by default ",
                          NameOf(names, r.default_owner), "'s)");
    case Decision::kTimerJitter:
      return absl::StrCat(at, ": the timer ", NameOf(names, r.owner), " started fires ",
                          r.pick, " us late");
    case Decision::kIoOrder:
      return absl::StrCat(at, ": of ", r.options, " ready descriptors, #", r.pick + 1,
                          " was delivered first");
    case Decision::kWakeupOrder:
      return absl::StrCat(at, ": of ", r.options, " cross-thread wake-ups, #", r.pick + 1,
                          " was delivered first");
    case Decision::kNetDelay:
      return absl::StrCat(at, ": a message ", Link(r, run.hosts), " lands ", r.pick,
                          " us after its link's base latency");
    case Decision::kNetSplit:
      return absl::StrCat(at, ": a stream send ", Link(r, run.hosts), " is delivered in ",
                          r.pick + 1, " parts");
    case Decision::kNetLoss:
      return absl::StrCat(at, ": a datagram ", Link(r, run.hosts), ": its loss draw is ",
                          r.pick, " of 1000");
    case Decision::kNetDuplicate:
      return absl::StrCat(at, ": a datagram ", Link(r, run.hosts), ": its duplicate draw is ",
                          r.pick, " of 1000");
    case Decision::kBuggify:
      return absl::StrCat(at, ": a buggify point ", r.pick == 3 ? "fires" : "stays off");
  }
  return at;
}

// ---- shrinking

std::vector<DecisionRecord> ScriptKeeping(const std::vector<DecisionRecord>& log,
                                          const std::vector<size_t>& keep) {
  std::vector<DecisionRecord> script = log;
  for (auto& r : script) r.pick = 0;
  for (size_t i : keep) script[i].pick = log[i].pick;
  return script;
}

// ddmin (Zeller and Hildebrandt) over the deviations from the default
// order: the smallest set that still fails the same way (1-minimal when the
// budget allows).
std::vector<size_t> Shrink(const RunSpec& failing, const Outcome& original,
                           const std::function<void()>& body, bool expect_errors,
                           uint64_t* runs) {
  std::vector<size_t> c;
  for (size_t i = 0; i < original.log.size(); ++i) {
    if (original.log[i].pick != 0) c.push_back(i);
  }
  const auto start = std::chrono::steady_clock::now();
  auto over_budget = [&] {
    return *runs >= kShrinkMaxRuns ||
           std::chrono::steady_clock::now() - start > absl::ToChronoSeconds(kShrinkMaxTime);
  };
  auto fails = [&](const std::vector<size_t>& keep) {
    RunSpec spec = failing;
    spec.config.mode = ExplorePolicy::Mode::kScripted;
    spec.config.script = ScriptKeeping(original.log, keep);
    ++*runs;
    const Outcome o = RunOnce(spec, body, expect_errors);
    return o.failed && o.signature == original.signature;
  };
  if (c.empty()) return c;
  if (fails({})) return {};  // the default order fails too
  size_t n = 2;
  while (c.size() >= 2 && !over_budget()) {
    const size_t chunk = (c.size() + n - 1) / n;
    bool reduced = false;
    for (size_t start_i = 0; start_i < c.size() && !over_budget(); start_i += chunk) {
      std::vector<size_t> part(c.begin() + start_i,
                               c.begin() + std::min(c.size(), start_i + chunk));
      if (fails(part)) {
        c = part;
        n = 2;
        reduced = true;
        break;
      }
      std::vector<size_t> rest(c.begin(), c.begin() + start_i);
      rest.insert(rest.end(), c.begin() + std::min(c.size(), start_i + chunk), c.end());
      if (n > 2 && fails(rest)) {
        c = rest;
        n = std::max<size_t>(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (n >= c.size()) break;
      n = std::min(c.size(), n * 2);
    }
  }
  return c;
}

// The timeline of a shrunk run's trace, its decisive decisions marked,
// written beside it (x.min.gtrace -> x.svg). Returns its path, or "" (the
// reason on stderr).
std::string WriteTimeline(const std::string& trace_path, const Outcome& run) {
  trace::TimelineOptions options;
  for (size_t i = 0; i < run.log.size(); ++i) {
    if (run.log[i].pick != 0) options.marks.push_back({i, DescribeDecision(run.log[i], run)});
  }
  std::string path = trace_path;
  const std::string suffix = ".min.gtrace";
  if (absl::EndsWith(path, suffix)) path.resize(path.size() - suffix.size());
  path += ".svg";
  trace::TraceReader reader;
  std::string svg;
  std::ostringstream err;
  if (!reader.Open(trace_path) || trace::TimelineSvg(reader, options, &svg, err) != 0) {
    fprintf(stderr, "explore: no timeline for %s: %s%s\n", trace_path.c_str(),
            reader.error().c_str(), err.str().c_str());
    return "";
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << svg;
  out.close();
  if (!out) {
    fprintf(stderr, "explore: cannot write %s\n", path.c_str());
    return "";
  }
  return path;
}

// ---- ties: the orders enumerated

// The first kTiesWalked seeds of `ties` walk the tree of order decisions
// (timer ties, I/O order, wake-up order) depth-first, as a stateless model
// checker does; later seeds sample it at random. A walk that ends within
// them has tried every order.
constexpr uint64_t kTiesWalked = 256;

bool IsOrder(Decision d) {
  return d == Decision::kTimerTie || d == Decision::kIoOrder || d == Decision::kWakeupOrder;
}

class TiesWalk {
 public:
  using Run = std::function<std::vector<DecisionRecord>(const std::vector<DecisionRecord>&)>;
  // The script of schedule `k` (0-based), running those before it that did
  // not run yet with `run`; nullopt if the walk ended before `k`.
  std::optional<std::vector<DecisionRecord>> ScriptFor(uint64_t k, const Run& run) {
    while (!ended_ && next_ < k) Advance(run(script_));
    if (ended_ || next_ != k) return std::nullopt;
    return script_;
  }
  // Schedule next_ ran its script and took the decisions `log`: the next
  // one keeps them up to the last order decision with an option left, and
  // takes that option.
  void Advance(const std::vector<DecisionRecord>& log) {
    ++next_;
    for (size_t j = log.size(); j-- > 0;) {
      if (IsOrder(log[j].kind) && log[j].pick + 1 < log[j].options) {
        script_.assign(log.begin(), log.begin() + static_cast<std::ptrdiff_t>(j) + 1);
        ++script_[j].pick;
        return;
      }
    }
    ended_ = true;
  }
  bool ended() const { return ended_; }
  // How many schedules the walk has (once ended).
  uint64_t size() const { return next_; }

 private:
  uint64_t next_ = 0;  // the schedule script_ is for
  std::vector<DecisionRecord> script_;
  bool ended_ = false;
};

// ---- the exploration

ExplorePolicy::Config ConfigFor(const Strategy& st, uint64_t seed, const ExploreOptions& o,
                                uint64_t expected_steps) {
  ExplorePolicy::Config c;
  c.seed = seed;
  c.max_jitter = o.max_jitter;
  switch (st.kind) {
    case Strategy::kRandom:
      break;
    case Strategy::kTies:
      c.max_jitter = absl::ZeroDuration();
      c.perturbed &= ~(1u << static_cast<unsigned>(Decision::kTimerJitter));
      break;
    case Strategy::kPct:
      c.mode = ExplorePolicy::Mode::kPct;
      c.depth = st.depth;
      c.expected_steps = expected_steps;
      break;
    case Strategy::kSwarm: {
      // Each run its own parameters, drawn from its seed.
      sim::SplitMix64 r(seed ^ 0x5eed5eed5eed5eedULL);
      const absl::Duration jitters[] = {absl::ZeroDuration(), absl::Microseconds(100),
                                        absl::Milliseconds(1), o.max_jitter,
                                        absl::Milliseconds(10)};
      c.max_jitter = jitters[r.Below(5)];
      c.perturbed = 1 + static_cast<uint32_t>(r.Below(ExplorePolicy::kAllKinds));
      break;
    }
  }
  return c;
}

std::string TraceDir(const ExploreOptions& o) {
  if (!o.trace_dir.empty()) return o.trace_dir;
  if (auto d = Env("TEST_UNDECLARED_OUTPUTS_DIR")) return *d;
  if (auto d = Env("TMPDIR")) return *d;
  return "/tmp";
}

std::string FileSafe(const std::string& s) {
  std::string out = s;
  for (char& ch : out) {
    if (!(isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-')) ch = '_';
  }
  return out;
}

std::string ReproLine(const ExploreOptions& o, const Strategy& st, uint64_t seed) {
  std::string filter = o.name;
  if (const ::testing::TestInfo* t = ::testing::UnitTest::GetInstance()->current_test_info()) {
    filter = absl::StrCat(t->test_suite_name(), ".", t->name());
  }
  const std::string env = absl::StrCat("GEVENT_SEED=", seed, " GEVENT_STRATEGY=", st.text);
  if (auto target = Env("TEST_TARGET")) {
    return absl::StrCat(env, " bazel run ", *target, " -- --gtest_filter=", filter);
  }
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  const std::string program = n > 0 ? std::string(exe, static_cast<size_t>(n)) : "<the test binary>";
  return absl::StrCat(env, " ", program, " --gtest_filter=", filter);
}

// Where two event sequences first differ, in words.
std::string FirstSplit(const std::vector<RunObserver::Seen>& a,
                       const std::vector<RunObserver::Seen>& b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const auto& x = a[i];
    const auto& y = b[i];
    if (x.kind != y.kind || x.greenlet != y.greenlet || x.a != y.a || x.b != y.b || x.c != y.c ||
        x.time_ns != y.time_ns) {
      auto line = [](const RunObserver::Seen& e) {
        return absl::StrCat("event kind ", static_cast<int>(e.kind), " greenlet ", e.greenlet,
                            " (", e.a, ", ", e.b, ", ", e.c, ") at ", FormatTime(e.time_ns));
      };
      return absl::StrCat("the runs split at event ", i, ": ", line(x), " against ", line(y));
    }
  }
  if (a.size() != b.size()) {
    return absl::StrCat("the runs split at event ", n, ": one ends there, the other has ",
                        std::max(a.size(), b.size()) - n, " more");
  }
  return "the two event sequences are the same (the difference lies outside them)";
}

// Runs `spec` with its events logged until two runs differ (nondeterminism
// may show only now and then), and says where they split.
std::string LocateSplit(const RunSpec& spec, const std::function<void()>& body,
                        bool expect_errors) {
  RunSpec detailed = spec;
  detailed.details = true;
  detailed.record_path.clear();
  const Outcome first = RunOnce(detailed, body, expect_errors);
  constexpr int kTries = 16;
  for (int i = 0; i < kTries; ++i) {
    const Outcome other = RunOnce(detailed, body, expect_errors);
    if (other.event_hash != first.event_hash) return FirstSplit(first.events, other.events);
  }
  return absl::StrCat("the next ", kTries + 1, " runs gave the same events");
}

class Progress {
 public:
  Progress(const ExploreOptions& o, const Strategy& st)
      : options_(o), strategy_(st), tty_(o.print && isatty(2) != 0),
        start_(std::chrono::steady_clock::now()) {}
  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  void Update(const ExploreReport& r) {
    if (!tty_ || (r.runs & 63) != 0) return;
    const double s = Seconds();
    if (s < absl::ToDoubleSeconds(options_.progress_after) || (shown_ && s < last_ + 0.25)) {
      return;
    }
    last_ = s;
    fprintf(stderr, "\r%s", Line(r, s).c_str());
    shown_ = true;
  }
  void End(const ExploreReport& r) {
    if (!options_.print) return;
    const double s = Seconds();
    fprintf(stderr, "%s%s\n", shown_ ? "\r" : "", Line(r, s).c_str());
  }

 private:
  std::string Line(const ExploreReport& r, double s) const {
    return absl::StrCat("[ EXPLORE ] ", options_.name, ": ", r.runs, " runs (",
                        static_cast<uint64_t>(s > 0 ? r.runs / s : 0), "/s), ", r.failures,
                        r.failures == 1 ? " failure, " : " failures, ",
                        r.distinct_interleavings, " distinct interleavings", Recent(r),
                        ", strategy ", strategy_.text,
                        r.every_order_tried ? " (every order of ties tried)" : "");
  }
  // " (+K in the last N runs)": whether new seeds still find new orders.
  static std::string Recent(const ExploreReport& r) {
    const size_t n = r.coverage.size();
    if (n < 20) return "";
    const size_t window = n / 10;
    return absl::StrCat(" (+", r.coverage[n - 1] - r.coverage[n - 1 - window], " in the last ",
                        window, " runs)");
  }
  const ExploreOptions& options_;
  const Strategy& strategy_;
  const bool tty_;
  const std::chrono::steady_clock::time_point start_;
  double last_ = 0;
  bool shown_ = false;
};

ExploreOptions Resolve(const ExploreOptions& given) {
  ExploreOptions o = given;
  if (!o.use_environment) {
    if (o.strategy.empty()) o.strategy = "random";
    if (o.runs == 0 && o.time_budget <= absl::ZeroDuration()) o.runs = kDefaultRuns;
    if (o.shard_count == 0) o.shard_count = 1;
    return o;
  }
  if (auto v = Env("GEVENT_RUNS")) {
    o.runs = ParseCount("GEVENT_RUNS", *v);
    if (o.runs == 0) throw ConfigurationError("GEVENT_RUNS=0: at least one run is needed");
  }
  if (auto v = Env("GEVENT_EXPLORE_TIME")) {
    absl::Duration d;
    if (!absl::ParseDuration(*v, &d) || d <= absl::ZeroDuration() || d == absl::InfiniteDuration()) {
      throw ConfigurationError(absl::StrCat(
          "GEVENT_EXPLORE_TIME=\"", *v, "\" is not a positive duration (e.g. 30s, 2m)"));
    }
    o.time_budget = d;
    if (!Env("GEVENT_RUNS")) o.runs = 0;
  }
  if (auto v = Env("GEVENT_STRATEGY")) o.strategy = *v;
  if (o.strategy.empty()) o.strategy = "random";
  if (auto seed = environment_seed()) o.seed = *seed;
  if (auto v = Env("GEVENT_REPLAY")) o.replay = *v;
  if (o.runs == 0 && o.time_budget <= absl::ZeroDuration()) o.runs = kDefaultRuns;
  if (o.shard_count == 0) {
    o.shard_index = g_shards.count != 0 ? g_shards.index : 0;
    o.shard_count = g_shards.count != 0 ? g_shards.count : 1;
  }
  return o;
}

ExploreReport ReplayTrace(const ExploreOptions& o, const std::function<void()>& body) {
  ExploreReport report;
  report.strategy = "replay";
  Outcome out;
  {
    trace::Replay replay(o.replay);
    RunBody(replay.hub(), body, o.expect_greenlet_errors, /*details=*/false, &out);
    const trace::ReplayResult result = replay.Finish();
    report.replay_status = absl::StrCat(trace::ReplayStatusName(result.status), ": ", result.report);
  }
  report.runs = 1;
  if (out.failed) {
    report.failures = 1;
    report.failure = out.message;
    report.failure_time = out.time;
    report.text = absl::StrCat("[ RACE  ] ", o.name, ": the schedule of ", o.replay,
                               " failed at virtual ", FormatTime(ToNanos(kEpoch + out.time)), ":\n",
                               Indent(out.message, "          "), "\n  Replay: ",
                               report.replay_status);
  }
  return report;
}

ExploreReport ExploreImpl(const ExploreOptions& given, const std::function<void()>& body,
                          bool print_failure) {
  if (!body) throw std::invalid_argument("Explore: the body is empty");
  const ExploreOptions o = Resolve(given);
  if (o.shard_count == 0 || o.shard_index >= o.shard_count) {
    throw std::invalid_argument(absl::StrCat("Explore: shard ", o.shard_index, " of ",
                                             o.shard_count, " does not exist"));
  }
  if (!o.replay.empty()) {
    ExploreReport r = ReplayTrace(o, body);
    if (print_failure && o.print && !r.text.empty()) fprintf(stderr, "%s\n", r.text.c_str());
    return r;
  }
  const Strategy st = ParseStrategy(o.strategy);
  ExploreReport report;
  report.strategy = st.text;
  // PCT draws its change points among a run's contested decisions: as many
  // as the default schedule takes (a function of the program alone, so a
  // seed reproduces its schedule).
  uint64_t expected_steps = 0;
  if (st.kind == Strategy::kPct) {
    RunSpec calibrate;
    calibrate.config.mode = ExplorePolicy::Mode::kScripted;
    calibrate.config.max_jitter = absl::ZeroDuration();
    expected_steps = RunOnce(calibrate, body, o.expect_greenlet_errors).steps;
  }
  absl::flat_hash_set<uint64_t> interleavings;
  Progress progress(o, st);
  const auto start = std::chrono::steady_clock::now();
  auto budget_left = [&] {
    if (o.seed.has_value()) return report.runs < 1;
    if (o.time_budget > absl::ZeroDuration()) {
      return std::chrono::steady_clock::now() - start < absl::ToChronoNanoseconds(o.time_budget) &&
             (o.runs == 0 || report.runs < o.runs);
    }
    return report.runs < o.runs;
  };
  const std::string dir = TraceDir(o);
  TiesWalk walk;
  for (uint64_t i = 0; budget_left(); ++i) {
    RunSpec spec;
    spec.seed = o.seed.has_value() ? *o.seed : o.first_seed + o.shard_index + i * o.shard_count;
    spec.config = ConfigFor(st, spec.seed, o, expected_steps);
    const bool walked = st.kind == Strategy::kTies && spec.seed >= o.first_seed &&
                        spec.seed - o.first_seed < kTiesWalked;
    if (walked) {
      spec.config.mode = ExplorePolicy::Mode::kScripted;
      auto script = walk.ScriptFor(spec.seed - o.first_seed, [&](const auto& s) {
        RunSpec earlier = spec;
        earlier.config.script = s;
        return RunOnce(earlier, body, o.expect_greenlet_errors).log;
      });
      if (!script.has_value()) {
        if (o.seed.has_value()) {
          throw std::invalid_argument(absl::StrCat("GEVENT_SEED=", *o.seed, ": strategy ties has ",
                                                   walk.size(), " orders only (seeds ",
                                                   o.first_seed, "..",
                                                   o.first_seed + walk.size() - 1, ")"));
        }
        report.every_order_tried = true;
        break;
      }
      spec.config.script = *std::move(script);
    }
    const Outcome out = RunOnce(spec, body, o.expect_greenlet_errors);
    if (walked) walk.Advance(out.log);
    ++report.runs;
    report.seeds.push_back(spec.seed);
    interleavings.insert(out.switches);
    report.coverage.push_back(interleavings.size());
    report.distinct_interleavings = interleavings.size();
    if (!out.failed) {
      if (report.runs % kDeterminismEvery == 0) {
        const Outcome again = RunOnce(spec, body, o.expect_greenlet_errors);
        if (again.event_hash != out.event_hash || again.failed) {
          report.nondeterministic = true;
          ++report.failures;
          report.first_failing_seed = spec.seed;
          report.failure = absl::StrCat("determinism bug: seed ", spec.seed, " (strategy ",
                                        st.text, ") gave event hash ", out.event_hash, " then ",
                                        again.event_hash, "; ",
                                        LocateSplit(spec, body, o.expect_greenlet_errors));
          break;
        }
      }
      progress.Update(report);
      continue;
    }
    ++report.failures;
    if (report.first_failing_seed.has_value()) {
      if (o.stop_at_first_failure) break;
      continue;
    }
    report.first_failing_seed = spec.seed;
    report.failure = out.message;
    report.failure_time = out.time;
    report.decisions = out.log.size();
    report.repro = ReproLine(o, st, spec.seed);
    // Run it again: recorded (nothing is paid by the passing runs), and
    // checked to do the same.
    RunSpec again = spec;
    again.details = true;
    std::string trace_path;
    if (o.save_trace) {
      trace_path = absl::StrCat(dir, "/", FileSafe(o.name), ".seed", spec.seed, ".gtrace");
      again.record_path = trace_path;
    }
    const Outcome rerun = RunOnce(again, body, o.expect_greenlet_errors);
    if (!trace_path.empty()) report.trace_paths.push_back(trace_path);
    if (rerun.event_hash != out.event_hash || rerun.signature != out.signature) {
      report.nondeterministic = true;
      report.failure += absl::StrCat("\ndeterminism bug: run again, seed ", spec.seed,
                                     " gave event hash ", rerun.event_hash, " instead of ",
                                     out.event_hash, "; ",
                                     LocateSplit(spec, body, o.expect_greenlet_errors));
    }
    std::string shrunk_line;
    if (o.shrink && !report.nondeterministic) {
      uint64_t shrink_runs = 0;
      const auto shrink_start = std::chrono::steady_clock::now();
      const std::vector<size_t> keep =
          Shrink(spec, out, body, o.expect_greenlet_errors, &shrink_runs);
      report.shrink_runs = shrink_runs;
      report.shrink_time = absl::FromChrono(std::chrono::steady_clock::now() - shrink_start);
      RunSpec minimal = spec;
      minimal.details = true;
      minimal.config.mode = ExplorePolicy::Mode::kScripted;
      minimal.config.script = ScriptKeeping(out.log, keep);
      std::string min_path;
      if (o.save_trace) {
        min_path = absl::StrCat(dir, "/", FileSafe(o.name), ".seed", spec.seed, ".min.gtrace");
        minimal.record_path = min_path;
      }
      const Outcome m = RunOnce(minimal, body, o.expect_greenlet_errors);
      if (m.failed && m.signature == out.signature) {
        for (const DecisionRecord& r : m.log) {
          if (r.pick != 0) report.shrunk_decisions.push_back(DescribeDecision(r, m));
        }
        if (!min_path.empty()) {
          report.trace_paths.push_back(min_path);
          report.timeline_path = WriteTimeline(min_path, m);
          if (!keep.empty()) {
            // The default order (which passes), for `gtrace diff`.
            RunSpec plain = minimal;
            plain.details = false;
            plain.config.script = ScriptKeeping(out.log, {});
            plain.record_path = absl::StrCat(dir, "/", FileSafe(o.name), ".seed", spec.seed,
                                             ".default.gtrace");
            RunOnce(plain, body, o.expect_greenlet_errors);
            report.default_trace_path = plain.record_path;
          }
        }
        size_t deviations = 0;
        for (const auto& r : out.log) deviations += r.pick != 0 ? 1 : 0;
        shrunk_line = absl::StrCat(
            min_path.empty() ? "" : min_path + " ", "(", out.log.size(), " decisions, ",
            deviations, " off the default order -> ", report.shrunk_decisions.size(),
            report.shrunk_decisions.empty() ? ": the default order fails too" : ":", ")");
      } else {
        shrunk_line = "(shrinking did not keep the failure)";
      }
    }
    std::string text = absl::StrCat(
        "[ RACE  ] ", o.name, ": seed ", spec.seed, " of ", o.runs == 0 ? report.runs : o.runs,
        " (strategy ", st.text, ") failed at virtual ",
        FormatTime(ToNanos(kEpoch + out.time)), ":\n", Indent(report.failure, "          "),
        "\n  Repro:  ", report.repro);
    if (!trace_path.empty()) absl::StrAppend(&text, "\n  Trace:  ", trace_path);
    if (!shrunk_line.empty()) {
      absl::StrAppend(&text, "\n  Shrunk: ", shrunk_line);
      for (const std::string& d : report.shrunk_decisions) absl::StrAppend(&text, "\n    - ", d);
    }
    if (!report.timeline_path.empty()) {
      absl::StrAppend(&text, "\n  Picture: ", report.timeline_path);
    }
    if (!report.default_trace_path.empty()) {
      absl::StrAppend(&text, "\n  Compare: gtrace diff ", report.default_trace_path, " ",
                      report.trace_paths.back(), "  (the default order, which passes)");
    }
    report.text = std::move(text);
    if (o.stop_at_first_failure) break;
  }
  if (report.nondeterministic && report.text.empty()) {
    report.text = absl::StrCat("[ RACE  ] ", o.name, ": ", report.failure,
                               "\n  Repro:  ", ReproLine(o, st, *report.first_failing_seed));
    report.repro = ReproLine(o, st, *report.first_failing_seed);
  }
  if (walk.ended()) report.every_order_tried = true;
  progress.End(report);
  if (print_failure && o.print && !report.text.empty()) {
    fprintf(stderr, "%s\n", report.text.c_str());
  }
  return report;
}

}  // namespace

ExploreReport Explore(const ExploreOptions& options, std::function<void()> body) {
  return ExploreImpl(options, body, /*print_failure=*/true);
}

namespace internal {

void RunSimTest(const char* suite, const char* name, void (*body)()) {
  ExploreOptions o;
  o.name = absl::StrCat(suite, ".", name);
  const ExploreReport r = ExploreImpl(o, body, /*print_failure=*/false);
  if (!r.text.empty()) ADD_FAILURE() << r.text;
}

}  // namespace internal
}  // namespace testing
}  // namespace gevent
