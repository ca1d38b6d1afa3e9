// gtrace: the five commands on real traces, their output formats (Chrome
// JSON parsed back, SVG checked), and bad input through the real binary:
// one line on stderr, a non-zero exit, never a crash. Also GEVENT_TRACE and
// GEVENT_HUB=replay through a real program.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "runtime/gevent.h"
#include "sim/simulation.h"
#include "traces/recorder.h"
#include "traces/replay.h"
#include "traces/test_programs.h"
#include "traces/tool.h"
#include "traces/trace_testing.h"

namespace gevent {
namespace trace {
namespace {

using testing::FreshEpollHub;
using testing::ReadFile;
using testing::TempPath;
using testing::TraceBuilder;
using testing::WriteFile;

std::string SimTrace(const std::string& name, int which = 0) {
  const std::string path = TempPath(name);
  sim::Simulation sim(0);
  Recording rec(path);
  if (which == 0) programs::Workers();
  if (which == 1) programs::Failing();
  if (which == 2) programs::PingPong(50);
  return path;
}

struct Output {
  int rc = 0;
  std::string out, err;
};

Output Tool(std::vector<std::string> args) {
  std::ostringstream out, err;
  Output r;
  r.rc = RunTool(args, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

// Runs a shell command line; exit status (-signal if killed) and output.
Output Shell(const std::string& cmd) {
  const std::string out = TempPath("shell.out"), err = TempPath("shell.err");
  const int status = system((cmd + " >" + out + " 2>" + err).c_str());
  Output r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  r.out = ReadFile(out);
  r.err = ReadFile(err);
  return r;
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> v = absl::StrSplit(s, '\n');
  if (!v.empty() && v.back().empty()) v.pop_back();
  return v;
}

// ---- A small JSON parser, to check the export really is JSON.
struct Json {
  enum Type { kNull, kBool, kNum, kStr, kArr, kObj } type = kNull;
  double num = 0;
  std::string str;
  std::vector<Json> arr;
  std::vector<std::pair<std::string, Json>> obj;
  const Json* Get(const std::string& k) const {
    for (const auto& [key, v] : obj) {
      if (key == k) return &v;
    }
    return nullptr;
  }
};

class JsonParser {
 public:
  explicit JsonParser(const std::string& s) : s_(s) {}
  bool Parse(Json* out) {
    if (!Value(out)) return false;
    Ws();
    return i_ == s_.size();
  }

 private:
  void Ws() {
    while (i_ < s_.size() && isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool Lit(const char* w) {
    const size_t n = strlen(w);
    if (s_.compare(i_, n, w) != 0) return false;
    i_ += n;
    return true;
  }
  bool Str(std::string* out) {
    if (s_[i_] != '"') return false;
    ++i_;
    while (i_ < s_.size() && s_[i_] != '"') {
      if (static_cast<unsigned char>(s_[i_]) < 0x20) return false;
      if (s_[i_] == '\\') {
        ++i_;
        if (i_ >= s_.size()) return false;
        if (s_[i_] == 'u') {
          i_ += 4;
        } else if (strchr("\"\\/bfnrt", s_[i_]) == nullptr) {
          return false;
        }
      }
      *out += s_[i_++];
    }
    if (i_ >= s_.size()) return false;
    ++i_;
    return true;
  }
  bool Value(Json* v) {
    Ws();
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '{') {
      v->type = Json::kObj;
      ++i_;
      Ws();
      if (s_[i_] == '}') return ++i_, true;
      for (;;) {
        Ws();
        std::string k;
        if (!Str(&k)) return false;
        Ws();
        if (s_[i_++] != ':') return false;
        Json x;
        if (!Value(&x)) return false;
        v->obj.emplace_back(k, std::move(x));
        Ws();
        if (s_[i_] == ',') {
          ++i_;
          continue;
        }
        if (s_[i_] == '}') return ++i_, true;
        return false;
      }
    }
    if (c == '[') {
      v->type = Json::kArr;
      ++i_;
      Ws();
      if (s_[i_] == ']') return ++i_, true;
      for (;;) {
        Json x;
        if (!Value(&x)) return false;
        v->arr.push_back(std::move(x));
        Ws();
        if (s_[i_] == ',') {
          ++i_;
          continue;
        }
        if (s_[i_] == ']') return ++i_, true;
        return false;
      }
    }
    if (c == '"') {
      v->type = Json::kStr;
      return Str(&v->str);
    }
    if (Lit("true") || Lit("false")) return v->type = Json::kBool, true;
    if (Lit("null")) return true;
    char* end = nullptr;
    v->num = strtod(s_.c_str() + i_, &end);
    if (end == s_.c_str() + i_) return false;
    i_ = static_cast<size_t>(end - s_.c_str());
    v->type = Json::kNum;
    return true;
  }
  const std::string& s_;
  size_t i_ = 0;
};

// Checks the Chrome Trace Event structure; returns the events.
std::vector<Json> CheckChrome(const std::string& json) {
  Json root;
  EXPECT_TRUE(JsonParser(json).Parse(&root)) << json.substr(0, 500);
  const Json* events = root.Get("traceEvents");
  EXPECT_NE(events, nullptr);
  if (events == nullptr) return {};
  std::set<int> named_tids, used_tids;
  std::map<int, int> flows;
  for (const Json& e : events->arr) {
    const Json* ph = e.Get("ph");
    EXPECT_TRUE(ph != nullptr && ph->type == Json::kStr);
    EXPECT_NE(e.Get("name"), nullptr);
    EXPECT_NE(e.Get("pid"), nullptr);
    const int tid = e.Get("tid") ? static_cast<int>(e.Get("tid")->num) : -1;
    if (ph->str == "M") {
      if (e.Get("name")->str == "thread_name") named_tids.insert(tid);
      continue;
    }
    used_tids.insert(tid);
    const Json* ts = e.Get("ts");
    EXPECT_TRUE(ts != nullptr && ts->type == Json::kNum && ts->num >= 0);
    if (ph->str == "X") {
      const Json* dur = e.Get("dur");
      EXPECT_TRUE(dur != nullptr && dur->num > 0);
    }
    if (ph->str == "s") ++flows[static_cast<int>(e.Get("id")->num)];
    if (ph->str == "f") --flows[static_cast<int>(e.Get("id")->num)];
  }
  for (int t : used_tids) EXPECT_EQ(named_tids.count(t), 1u) << "tid " << t;
  for (const auto& [id, n] : flows) EXPECT_EQ(n, 0) << "flow " << id;
  return events->arr;
}

TEST(Dump, OneLinePerRecord) {
  const std::string path = SimTrace("dump.gtrace");
  TraceReader r;
  ASSERT_TRUE(r.Open(path));
  Event e;
  uint64_t n = 0;
  while (r.Next(&e)) ++n;
  Output run = Tool({"dump", path});
  EXPECT_EQ(run.rc, 0);
  EXPECT_EQ(run.err, "");
  std::vector<std::string> lines = Lines(run.out);
  ASSERT_EQ(lines.size(), n + 2);
  EXPECT_TRUE(absl::StartsWith(lines[0], "# trace '" + path + "': format 3, program '"));
  EXPECT_NE(lines[0].find("backend sim, seed 0"), std::string::npos);
  EXPECT_EQ(lines[1], "#0      +0.000000000s g1     spawn g1 by main");
  EXPECT_EQ(lines.back(), absl::StrCat("# end of trace: ", n, " records"));
  // Every record line: index, time, greenlet, event.
  for (size_t i = 1; i + 1 < lines.size(); ++i) {
    EXPECT_TRUE(absl::StartsWith(lines[i], absl::StrCat("#", i - 1, " "))) << lines[i];
    EXPECT_NE(lines[i].find("s "), std::string::npos);
  }
}

TEST(Stats, CountsDurationGreenlets) {
  const std::string path = SimTrace("stats.gtrace", 1);
  Output run = Tool({"stats", path});
  EXPECT_EQ(run.rc, 0) << run.err;
  EXPECT_NE(run.out.find("complete)"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("backend:    sim, seed 0"), std::string::npos) << run.out;
  // Failing: 3 workers, 3 finished, one failed; 8 naps of 1 ms at most.
  EXPECT_NE(run.out.find("greenlets:  3 spawned, 3 finished (2 returned, 1 failed, 0 killed)"),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("duration:   8ms of trace time"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("  note            1\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("  spawn           3\n"), std::string::npos) << run.out;
}

TEST(Diff, IdenticalAndDifferent) {
  const std::string a = SimTrace("a.gtrace"), b = SimTrace("b.gtrace");
  Output same = Tool({"diff", a, b});
  EXPECT_EQ(same.rc, 0);
  EXPECT_TRUE(absl::StartsWith(same.out, "identical ("));
  const std::string c = SimTrace("c.gtrace", 2);
  Output diff = Tool({"diff", a, c});
  EXPECT_EQ(diff.rc, 1);
  std::vector<std::string> lines = Lines(diff.out);
  ASSERT_GE(lines.size(), 4u);
  EXPECT_EQ(lines[0], "traces diverge at record 1 (expected: A '" + a + "', actual: B '" + c + "'):");
  EXPECT_TRUE(absl::StartsWith(lines[1], "  expected: #1 ")) << lines[1];
  EXPECT_TRUE(absl::StartsWith(lines[2], "  actual:   #1 ")) << lines[2];
  EXPECT_EQ(lines[3], "the last 1 events before it:");
}

TEST(Diff, EpollAgainstItsSimReplayRecordingIsIdentical) {
  // Record on epoll; record the replay too; the two traces match (times
  // are compared only where the clock moved).
  const std::string e = TempPath("e.gtrace"), s = TempPath("s.gtrace");
  {
    FreshEpollHub fresh;
    Recording rec(e);
    programs::Workers();
  }
  {
    Replay replay(e);
    Recording rec(s);
    programs::Workers();
    rec.Stop();
    EXPECT_EQ(replay.Finish().status, ReplayStatus::kIdentical);
  }
  Output run = Tool({"diff", e, s});
  EXPECT_EQ(run.rc, 0) << run.out;
}

TEST(Export, ChromeJsonParsesAndHasTracks) {
  const std::string path = SimTrace("chrome.gtrace", 1);
  const std::string out = TempPath("chrome.json");
  Output run = Tool({"export", "--chrome", out, path});
  EXPECT_EQ(run.rc, 0) << run.err;
  std::vector<Json> events = CheckChrome(ReadFile(out));
  // A track is named when its greenlet is first seen, and again when it is
  // renamed (the last name holds).
  std::map<double, std::string> track_names;
  bool failed = false;
  int running = 0;
  for (const Json& e : events) {
    if (e.Get("ph")->str == "M" && e.Get("name")->str == "thread_name") {
      track_names[e.Get("tid")->num] = e.Get("args")->Get("name")->str;
    }
    if (e.Get("ph")->str == "X" && e.Get("cat")->str == "run") ++running;
    if (absl::StartsWith(e.Get("name")->str, "FAILED: std::runtime_error")) failed = true;
  }
  std::set<std::string> threads;
  for (const auto& [tid, name] : track_names) threads.insert(name);
  EXPECT_EQ(threads, (std::set<std::string>{"hub", "main", "g1", "g2 reporter", "g3"}));
  EXPECT_TRUE(failed);
  EXPECT_GT(running, 10);
}

TEST(Timeline, SvgHasLanesSpansAndTheFailure) {
  const std::string path = SimTrace("tl.gtrace", 1);
  const std::string out = TempPath("tl.svg");
  Output run = Tool({"timeline", out, path});
  EXPECT_EQ(run.rc, 0) << run.err;
  const std::string svg = ReadFile(out);
  EXPECT_TRUE(absl::StartsWith(svg, "<?xml"));
  EXPECT_TRUE(absl::EndsWith(svg, "</svg>\n"));
  for (const char* label : {">hub<", ">main<", ">g1<", ">g2 reporter<", ">g3<"}) {
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  }
  EXPECT_NE(svg.find("FAILURE at record"), std::string::npos);
  EXPECT_NE(svg.find("std::runtime_error: disk on fire"), std::string::npos);
  EXPECT_NE(svg.find("about to write the report"), std::string::npos);  // the note
  EXPECT_NE(svg.find("wakes g2"), std::string::npos);  // a wake-up arrow
  // No socket calls in this trace: no socket legend.
  EXPECT_EQ(svg.find("socket:"), std::string::npos);
  // Tags balance (a cheap well-formedness check).
  size_t open = 0, close = 0, self = 0;
  for (size_t i = 0; (i = svg.find('<', i)) != std::string::npos; ++i) {
    if (svg[i + 1] == '/') {
      ++close;
    } else if (svg[i + 1] != '?') {
      const size_t end = svg.find('>', i);
      if (svg[end - 1] == '/') ++self; else ++open;
    }
  }
  EXPECT_EQ(open, close);
  EXPECT_GT(self, 20u);
}

TEST(Timeline, WindowOptions) {
  const std::string path = SimTrace("tlw.gtrace", 2);
  const std::string out = TempPath("tlw.svg");
  Output run = Tool({"timeline", out, path, "--from", "10", "--count", "20"});
  EXPECT_EQ(run.rc, 0) << run.err;
  EXPECT_NE(ReadFile(out).find("records 10..29 of"), std::string::npos);
  Output bad = Tool({"timeline", out, path, "--from", "x"});
  EXPECT_EQ(bad.rc, 2);
}

// ---- Bad input, through the real binary.

struct Case {
  std::string what;
  std::string file;
  int rc;              // expected exit status of `dump`
  std::string error;   // expected in the one-line error
};

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    good_ = SimTrace("good.gtrace");
    data_ = ReadFile(good_);
  }
  std::string Make(const std::string& name, const std::string& bytes) {
    const std::string p = TempPath(name);
    WriteFile(p, bytes);
    return p;
  }
  std::string good_, data_;
};

TEST_F(BadInput, EveryCommandGivesOneLineAndAStatus) {
  std::string flipped_header = data_;
  flipped_header[12] = static_cast<char>(flipped_header[12] ^ 4);
  std::string flipped = data_;
  flipped[data_.size() / 2] = static_cast<char>(flipped[data_.size() / 2] ^ 0x40);
  TraceBuilder v4(4);
  std::vector<Case> cases = {
      {"nonexistent", TempPath("no/such.gtrace"), 2, "No such file or directory"},
      {"empty", Make("empty.gtrace", ""), 2, "is empty (0 bytes): not a trace"},
      {"text", Make("text.gtrace", "hello, world\n"), 2, "is not a geventpp trace"},
      {"version", Make("v4.gtrace", v4.End()), 2, "trace format version 4 is not supported"},
      {"header flip", Make("hflip.gtrace", flipped_header), 2, "the header is corrupt"},
      {"truncated header", Make("th.gtrace", data_.substr(0, 12)), 2, "truncated in the header"},
      {"truncated", Make("cut.gtrace", data_.substr(0, data_.size() / 2)), 1, "is truncated at byte"},
      {"bit flip", Make("flip.gtrace", flipped), 1, "is corrupt at byte"},
      {"directory", TempPath(""), 2, "it is a directory"},
  };
  const std::string gtrace = "traces/gtrace";
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Output dump = Shell(gtrace + " dump '" + c.file + "'");
    EXPECT_EQ(dump.rc, c.rc) << dump.err;
    std::vector<std::string> err = Lines(dump.err);
    ASSERT_EQ(err.size(), 1u) << dump.err;
    EXPECT_TRUE(absl::StartsWith(err[0], "gtrace: ")) << err[0];
    EXPECT_NE(err[0].find(c.error), std::string::npos) << err[0];
    for (const std::string& cmd :
         {std::string("stats '") + c.file + "'",
          "diff '" + good_ + "' '" + c.file + "'",
          "export --chrome " + TempPath("bad.json") + " '" + c.file + "'",
          "timeline " + TempPath("bad.svg") + " '" + c.file + "'"}) {
      Output r = Shell(gtrace + " " + cmd);
      EXPECT_GT(r.rc, 0) << cmd;  // never 0, never a signal
      EXPECT_LE(r.err.size() > 0 ? Lines(r.err).size() : 1u, 1u) << cmd << ": " << r.err;
    }
  }
}

TEST_F(BadInput, TruncatedDumpsItsPrefixAndSaysWhereItEnds) {
  const std::string cut = Make("cut.gtrace", data_.substr(0, data_.size() * 2 / 3));
  TraceReader r;
  ASSERT_TRUE(r.Open(cut));
  Event e;
  uint64_t n = 0;
  while (r.Next(&e)) ++n;
  Output dump = Shell("traces/gtrace dump '" + cut + "'");
  EXPECT_EQ(dump.rc, 1);
  std::vector<std::string> lines = Lines(dump.out);
  ASSERT_EQ(lines.size(), n + 2);
  EXPECT_EQ(lines.back(), absl::StrCat("# the readable prefix ends here, after ", n, " records"));
  EXPECT_NE(dump.err.find(absl::StrCat("after ", n, " records")), std::string::npos) << dump.err;
  // The other commands still work on the prefix.
  Output chrome = Shell("traces/gtrace export --chrome " + TempPath("cut.json") + " '" + cut + "'");
  EXPECT_EQ(chrome.rc, 1);
  CheckChrome(ReadFile(TempPath("cut.json")));
}

TEST_F(BadInput, TraceOfAnotherProgramDivergesAtTheFirstMismatch) {
  const std::string other = SimTrace("other.gtrace", 2);
  Output diff = Shell("traces/gtrace diff '" + good_ + "' '" + other + "'");
  EXPECT_EQ(diff.rc, 1);
  EXPECT_TRUE(absl::StartsWith(diff.out, "traces diverge at record 1 ")) << diff.out;
}

// An output that is the input trace (by any name) is refused: the trace
// stays as it was.
TEST(Usage, OutputOverTheInputIsRefused) {
  const std::string path = SimTrace("own_output.gtrace");
  const std::string data = ReadFile(path);
  const std::string hard = TempPath("own_output_link.gtrace");
  unlink(hard.c_str());
  ASSERT_EQ(link(path.c_str(), hard.c_str()), 0);
  for (const std::string& out : {path, hard}) {
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"timeline", out, path},
          std::vector<std::string>{"export", "--chrome", out, path}}) {
      Output r = Tool(args);
      EXPECT_EQ(r.rc, 2) << args[0];
      EXPECT_EQ(r.err, "gtrace: the output '" + out + "' is the input trace '" + path +
                           "': not overwriting it\n");
      EXPECT_TRUE(ReadFile(path) == data) << args[0] << " " << out;
    }
  }
}

TEST(Usage, BadCommandLines) {
  EXPECT_EQ(Tool({}).rc, 2);
  EXPECT_EQ(Tool({"frobnicate"}).rc, 2);
  EXPECT_EQ(Tool({"dump"}).rc, 2);
  EXPECT_EQ(Tool({"export", "--json", "a", "b"}).rc, 2);
  Output help = Tool({"--help"});
  EXPECT_EQ(help.rc, 0);
  EXPECT_NE(help.out.find("gtrace timeline OUT.svg TRACE"), std::string::npos);
}

// ---- Memory: traces are read as streams.

// Runs a shell command line (output to /dev/null); its peak resident set
// size in KiB (and its exit status in `*status`, if given).
long PeakRssKib(const std::string& cmd, int* status_out = nullptr) {
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd + " >/dev/null 2>&1").c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  rusage ru;
  if (wait4(pid, &status, 0, &ru) != pid) return -1;
  if (status_out != nullptr) *status_out = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return ru.ru_maxrss;
}

// A trace of big records (notes of 16 KiB: few records, so that this is
// quick) read by every command: memory does not grow with the trace.
TEST(Memory, EveryCommandHoldsSteadyOnALargeTrace) {
  auto make = [](const std::string& name, int notes) {
    const std::string path = TempPath(name);
    sim::Simulation sim(0);
    Recording rec(path);
    for (int i = 0; i < notes; ++i) {
      note(std::string(16 * 1024, static_cast<char>('a' + i % 26)));
      sleep();
    }
    return path;
  };
  const std::string small = make("small.gtrace", 100);
  const std::string large = make("large.gtrace", 4000);
  ASSERT_GT(ReadFile(large).size(), 60u << 20);
  for (const std::string& cmd :
       {std::string("dump %"), std::string("stats %"), std::string("diff % %"),
        "export --chrome " + TempPath("mem.json") + " %",
        "timeline " + TempPath("mem.svg") + " %"}) {
    auto run = [&](const std::string& trace) {
      std::string c = "traces/gtrace " + cmd;
      for (size_t at; (at = c.find('%')) != std::string::npos;) c.replace(at, 1, trace);
      return PeakRssKib(c);
    };
    const long a = run(small), b = run(large);
    ASSERT_GT(a, 0) << cmd;
    EXPECT_LT(b - a, 16 * 1024) << cmd << ": " << a << " KiB on 1.6 MiB, " << b
                                << " KiB on 63 MiB";
  }
}

// Replay reads its trace as a stream too: a program replayed against a
// 63 MiB trace (4,000 notes of 16 KiB) takes no more memory than against a
// 1.6 MiB one, and still replays identically.
TEST(Memory, ReplayHoldsSteadyOnALargeTrace) {
  auto record = [](const std::string& name, int notes) {
    const std::string path = TempPath(name);
    Output r = Shell(absl::StrCat("GEVENT_HUB=sim GEVENT_TRACE='", path,
                                  "' traces/example notes ", notes));
    EXPECT_EQ(r.rc, 0) << r.err;
    return path;
  };
  auto replay = [](const std::string& path, int notes, int* status) {
    return PeakRssKib(absl::StrCat("env GEVENT_HUB=replay GEVENT_REPLAY='", path,
                                   "' traces/example notes ", notes),
                      status);
  };
  const std::string small = record("replay_small.gtrace", 100);
  const std::string large = record("replay_large.gtrace", 4000);
  ASSERT_GT(ReadFile(large).size(), 60u << 20);
  int small_status = -1, large_status = -1;
  const long a = replay(small, 100, &small_status);
  const long b = replay(large, 4000, &large_status);
  EXPECT_EQ(small_status, 0);
  EXPECT_EQ(large_status, 0);  // identical (a divergence is status 3)
  ASSERT_GT(a, 0);
  EXPECT_LT(b - a, 16 * 1024) << a << " KiB on 1.6 MiB, " << b << " KiB on 63 MiB";
}

// Endless input is not a trace, and is not read to its end.
TEST(Memory, EndlessInputIsRefusedAtOnce) {
  Output dump = Shell("timeout 60 traces/gtrace dump /dev/zero");
  EXPECT_EQ(dump.rc, 2);
  EXPECT_EQ(dump.err,
            "gtrace: '/dev/zero' is not a geventpp trace (it does not start with \"gevtrace\")\n");
  Output replay = Shell("GEVENT_HUB=replay GEVENT_REPLAY=/dev/zero timeout 60 traces/example workers");
  EXPECT_EQ(replay.rc, 2);
  EXPECT_EQ(Lines(replay.err).size(), 1u) << replay.err;
}

// ---- The environment variables, on a real program.

TEST(Environment, RecordOnEpollReplayOnSim) {
  const std::string trace = TempPath("env.gtrace");
  Output rec = Shell("GEVENT_TRACE='" + trace + "' traces/example workers");
  ASSERT_EQ(rec.rc, 0) << rec.err;
  EXPECT_EQ(rec.out, "workers: 41060\n");
  TraceReader r;
  ASSERT_TRUE(r.Open(trace)) << r.error();
  EXPECT_EQ(r.backend(), "epoll");
  EXPECT_EQ(r.header().program(), "example");
  Event e;
  uint64_t n = 0;
  while (r.Next(&e)) ++n;
  EXPECT_TRUE(r.complete()) << r.error();
  EXPECT_GT(n, 80u);

  Output replay = Shell("GEVENT_HUB=replay GEVENT_REPLAY='" + trace + "' traces/example workers");
  EXPECT_EQ(replay.rc, 0) << replay.err;
  EXPECT_EQ(replay.out, "workers: 41060\n");
  EXPECT_EQ(replay.err, absl::StrCat("replay of '", trace, "': identical (", n, " records)\n"));

  // The same trace against another program: the report, exit status 3.
  Output other = Shell("GEVENT_HUB=replay GEVENT_REPLAY='" + trace + "' traces/example naps 3");
  EXPECT_EQ(other.rc, 3) << other.err;
  EXPECT_NE(other.err.find("diverged at record 0:\n  expected: #0 "), std::string::npos) << other.err;
  // A program that catches the Divergence (as std::exception) and exits 1:
  // still 3.
  Output caught =
      Shell("GEVENT_HUB=replay GEVENT_REPLAY='" + trace + "' traces/example naps-caught 3");
  EXPECT_EQ(caught.rc, 3) << caught.err;
  EXPECT_NE(caught.err.find("naps-caught: "), std::string::npos) << caught.err;

  // Another program (here the same binary under another name) is refused
  // before it runs, unless asked for.
  const std::string other_program = TempPath("other_example");
  ASSERT_EQ(Shell("cp traces/example '" + other_program + "'").rc, 0);
  Output refused = Shell("GEVENT_HUB=replay GEVENT_REPLAY='" + trace + "' '" + other_program + "' workers");
  EXPECT_EQ(refused.rc, 2);
  EXPECT_EQ(refused.out, "");
  EXPECT_TRUE(absl::StartsWith(refused.err, "geventpp: GEVENT_REPLAY: '" + trace +
                                                "' was recorded by 'example' (build "))
      << refused.err;
  EXPECT_EQ(Lines(refused.err).size(), 1u) << refused.err;
  Output anyway = Shell("GEVENT_HUB=replay GEVENT_REPLAY_ANY_BUILD=1 GEVENT_REPLAY='" + trace +
                        "' '" + other_program + "' workers");
  EXPECT_EQ(anyway.rc, 0) << anyway.err;
  EXPECT_NE(anyway.err.find("identical"), std::string::npos) << anyway.err;

  Output missing = Shell("GEVENT_HUB=replay GEVENT_REPLAY=/nonexistent/x.gtrace traces/example workers");
  EXPECT_EQ(missing.rc, 2);
  EXPECT_EQ(missing.err,
            "geventpp: GEVENT_REPLAY: cannot open '/nonexistent/x.gtrace': No such file or directory\n");
}

// A full disk: the program runs as always (exit status 0), and says once,
// on stderr, which trace it could not write and why.
TEST(Environment, WriteErrorIsOneLineAndTheProgramGoesOn) {
  Output r = Shell("GEVENT_TRACE=/dev/full traces/example workers");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "workers: 41060\n");
  ASSERT_EQ(Lines(r.err).size(), 1u) << r.err;
  EXPECT_TRUE(absl::StartsWith(r.err,
                               "geventpp: writing trace file '/dev/full' failed: "
                               "No space left on device (ENOSPC); "))
      << r.err;
}

// GEVENT_TRACE naming the trace being replayed (the same path, or another
// name of the same file) is refused: the trace stays as it was.
TEST(Environment, TraceOverTheReplayedTraceIsRefused) {
  const std::string trace = TempPath("replayed_env.gtrace");
  ASSERT_EQ(Shell("GEVENT_TRACE='" + trace + "' traces/example workers").rc, 0);
  const std::string data = ReadFile(trace);
  const std::string hard = TempPath("replayed_env_link.gtrace");
  unlink(hard.c_str());
  ASSERT_EQ(link(trace.c_str(), hard.c_str()), 0);
  for (const std::string& out : {trace, hard}) {
    Output r = Shell("GEVENT_HUB=replay GEVENT_REPLAY='" + trace + "' GEVENT_TRACE='" + out +
                     "' traces/example workers");
    EXPECT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.err.find("geventpp: GEVENT_TRACE: '" + out +
                         "' is a trace this process is reading (a replay): not recording over it\n"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("identical"), std::string::npos) << r.err;
    EXPECT_TRUE(ReadFile(trace) == data);
  }
}

// Two processes with the same GEVENT_TRACE: the second one records into
// its own file (path.<pid>), and never truncates the first one's trace;
// "%p" in GEVENT_TRACE gives each process its own name anyway.
TEST(Environment, TwoProcessesNeverTruncateEachOthersTrace) {
  const std::string trace = TempPath("shared.gtrace");
  uint64_t records = 0;
  {
    sim::Simulation sim(0);
    Recording rec(trace);  // this process holds the file
    programs::PingPong(100);
    Output r = Shell("echo $$ >" + TempPath("pid") + "; exec env GEVENT_TRACE='" + trace +
                     "' traces/example workers");
    EXPECT_EQ(r.rc, 0) << r.err;
    const std::string pid(absl::StripAsciiWhitespace(ReadFile(TempPath("pid"))));
    const std::string mine = trace + "." + pid;
    EXPECT_EQ(r.err, "geventpp: GEVENT_TRACE: '" + trace +
                         "' is being recorded by another recorder or process: not recording "
                         "over it; recording into '" + mine + "' instead\n");
    Output stats = Tool({"stats", mine});
    EXPECT_EQ(stats.rc, 0) << stats.err;
    programs::PingPong(100);
    ASSERT_TRUE(rec.Stop());
    records = rec.recorder().records();
  }
  Output dump = Tool({"dump", trace});
  EXPECT_EQ(dump.rc, 0) << dump.err;
  EXPECT_EQ(Lines(dump.out).size(), records + 2);

  const std::string dir = TempPath("per_pid");
  ASSERT_EQ(Shell("rm -rf '" + dir + "' && mkdir '" + dir + "'").rc, 0);
  Output a = Shell("echo $$ >" + TempPath("pid") + "; exec env GEVENT_TRACE='" + dir +
                   "/run.%p.gtrace' traces/example workers");
  EXPECT_EQ(a.rc, 0) << a.err;
  const std::string pid(absl::StripAsciiWhitespace(ReadFile(TempPath("pid"))));
  EXPECT_EQ(Tool({"stats", dir + "/run." + pid + ".gtrace"}).rc, 0);
}

// A bad GEVENT_* value: one line naming it on stderr, exit status 2, no
// core dump (an uncaught ConfigurationError).
TEST(Environment, BadValuesAreOneLineAndExitStatusTwo) {
  struct Case {
    std::string env, line;
  };
  const Case cases[] = {
      {"GEVENT_HUB=bogus", "geventpp: unknown hub backend \"bogus\" (GEVENT_HUB); known: "},
      {"GEVENT_HUB=sim GEVENT_SEED=abc", "geventpp: GEVENT_SEED=\"abc\" is not a non-negative integer"},
      {"GEVENT_HUB=sim GEVENT_SEED=99999999999999999999",
       "geventpp: GEVENT_SEED=\"99999999999999999999\" is out of range"},
      {"GEVENT_HUB=replay", "geventpp: GEVENT_HUB=replay needs GEVENT_REPLAY=<trace file>"},
      {"GEVENT_TRACE=" + TempPath("cb.gtrace") + " GEVENT_TRACE_CALLBACKS=maybe",
       "geventpp: GEVENT_TRACE_CALLBACKS=\"maybe\" is not a boolean"},
  };
  for (const Case& c : cases) {
    Output r = Shell(c.env + " traces/example workers");
    EXPECT_EQ(r.rc, 2) << c.env << ": " << r.err;
    EXPECT_EQ(Lines(r.err).size(), 1u) << c.env << ": " << r.err;
    EXPECT_EQ(r.err.rfind(c.line, 0), 0u) << c.env << ": " << r.err;
  }
}

// A seed meant for the simulator is never dropped silently: with no
// simulated hub to read it, the program runs and says so once at exit.
TEST(Environment, IgnoredSeedIsReportedOnce) {
  Output epoll = Shell("GEVENT_SEED=5 traces/example workers");
  EXPECT_EQ(epoll.rc, 0) << epoll.err;
  EXPECT_EQ(epoll.err,
            "geventpp: GEVENT_SEED=5 was ignored: no simulated hub asked for it "
            "(GEVENT_HUB=epoll, the default; set GEVENT_HUB=sim to run on the simulator)\n");
  Output named = Shell("GEVENT_HUB=epoll GEVENT_SEED=5 traces/example workers");
  EXPECT_NE(named.err.find("(GEVENT_HUB=epoll; set GEVENT_HUB=sim"), std::string::npos) << named.err;
  Output sim = Shell("GEVENT_HUB=sim GEVENT_SEED=5 traces/example workers");
  EXPECT_EQ(sim.rc, 0) << sim.err;
  EXPECT_EQ(sim.err.find("GEVENT_SEED"), std::string::npos) << sim.err;
  Output unset = Shell("traces/example workers");
  EXPECT_EQ(unset.err.find("GEVENT_SEED"), std::string::npos) << unset.err;
}

// GEVENT_TRACE_CALLBACKS=false means no callback records (it meant yes).
TEST(Environment, TraceCallbacksFalseMeansNo) {
  const std::string with = TempPath("cb_on.gtrace"), without = TempPath("cb_off.gtrace");
  ASSERT_EQ(Shell("GEVENT_TRACE=" + with + " GEVENT_TRACE_CALLBACKS=true traces/example workers").rc, 0);
  ASSERT_EQ(Shell("GEVENT_TRACE=" + without + " GEVENT_TRACE_CALLBACKS=false traces/example workers").rc, 0);
  Output on = Tool({"stats", with});
  Output off = Tool({"stats", without});
  EXPECT_NE(on.out.find("callback"), std::string::npos) << on.out;
  EXPECT_EQ(off.out.find("callback"), std::string::npos) << off.out;
}

TEST(Environment, SeededSimRecordingReplays) {
  const std::string trace = TempPath("race.gtrace");
  Output rec = Shell("GEVENT_HUB=sim GEVENT_SEED=5 GEVENT_TRACE='" + trace + "' traces/example race");
  ASSERT_EQ(rec.rc, 0) << rec.err;
  Output replay = Shell("GEVENT_HUB=replay GEVENT_REPLAY='" + trace + "' traces/example race");
  EXPECT_EQ(replay.rc, 0) << replay.err;
  EXPECT_EQ(replay.out, rec.out);
  EXPECT_NE(replay.err.find("identical"), std::string::npos) << replay.err;
}

}  // namespace
}  // namespace trace
}  // namespace gevent
