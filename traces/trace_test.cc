// Recording and reading traces: every event round-trips, on both backends;
// the format's framing (checkpoints, end record, versions, unknown kinds);
// a crashing recorder loses nothing; bytes per record.
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "runtime/gevent.h"
#include "sim/simulation.h"
#include "traces/event.h"
#include "traces/internal/crc32c.h"
#include "traces/internal/sink.h"
#include "traces/internal/wire.h"
#include "traces/reader.h"
#include "traces/recorder.h"
#include "traces/replay.h"
#include "traces/test_programs.h"
#include "traces/trace.pb.h"
#include "traces/trace_testing.h"

namespace gevent {
namespace trace {
namespace {

using testing::Capture;
using testing::RecordInChild;
using testing::Tell;
using testing::FreshEpollHub;
using testing::ReadFile;
using testing::TempPath;
using testing::TraceBuilder;
using testing::WithoutChecksums;
using testing::WriteFile;

std::vector<Event> ReadAll(const std::string& path, TraceReader* r) {
  EXPECT_TRUE(r->Open(path)) << r->error();
  std::vector<Event> out;
  Event e;
  while (r->Next(&e)) out.push_back(e);
  return out;
}

// Reads `path` back and checks it whole: complete, with `records` events.
std::vector<Event> ReadWhole(const std::string& path, uint64_t records) {
  TraceReader r;
  std::vector<Event> got = ReadAll(path, &r);
  EXPECT_TRUE(r.complete()) << r.error();
  EXPECT_EQ(got.size(), records);
  return got;
}

// Records `program` on the current hub; checks that the trace holds exactly
// the events the hub reported (times included), and returns them.
template <typename F>
std::vector<Event> RecordAndCompare(const std::string& path, F program,
                                    RecorderOptions options = {}) {
  Hub* hub = get_hub();
  Capture capture(hub);
  absl::Time start;
  {
    Recorder rec(hub, path, options);  // chains to `capture`
    start = rec.start();
    program();
    EXPECT_TRUE(rec.Stop());
  }
  std::vector<Event> expected;
  for (Event& e : capture.Events(start)) {
    if (e.kind == HubEventKind::kCallback && !options.callbacks) continue;
    e.index = expected.size();
    expected.push_back(std::move(e));
  }
  TraceReader r;
  const std::vector<Event> got = ReadAll(path, &r);
  EXPECT_TRUE(r.complete()) << r.error();
  EXPECT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size() && i < expected.size(); ++i) {
    EXPECT_TRUE(SameEvent(expected[i], got[i], /*compare_times=*/true))
        << "record " << i << "\n  hub:   " << FormatLine(expected[i])
        << "\n  trace: " << FormatLine(got[i]);
    EXPECT_EQ(got[i].index, i);
    EXPECT_EQ(got[i].text2, expected[i].text2);
  }
  return got;
}

size_t CountKind(const std::vector<Event>& ev, HubEventKind k) {
  size_t n = 0;
  for (const Event& e : ev) n += e.kind == k ? 1 : 0;
  return n;
}

TEST(RoundTrip, SimWorkers) {
  sim::Simulation sim(0);
  const std::string path = TempPath("sim_workers.gtrace");
  std::vector<Event> ev =
      RecordAndCompare(path, [] { EXPECT_EQ(programs::Workers(), 41060); });
  EXPECT_EQ(CountKind(ev, HubEventKind::kSpawn), 7u + 4u);  // + 4 links
  EXPECT_EQ(CountKind(ev, HubEventKind::kTimeoutFired), 1u);
  EXPECT_EQ(CountKind(ev, HubEventKind::kKill), 1u);
  EXPECT_EQ(CountKind(ev, HubEventKind::kLinkNotified) > 0, true);
  EXPECT_EQ(CountKind(ev, HubEventKind::kDecision), 0u);  // seed 0
  // Link greenlets are spawned by the hub.
  bool by_hub = false;
  for (const Event& e : ev) by_hub |= e.kind == HubEventKind::kSpawn && e.a == -1;
  EXPECT_TRUE(by_hub);
}

TEST(RoundTrip, CallbacksWhenAskedFor) {
  sim::Simulation sim(0);
  RecorderOptions with;
  with.callbacks = true;
  std::vector<Event> ev = RecordAndCompare(
      TempPath("sim_callbacks.gtrace"), [] { programs::PingPong(10); }, with);
  EXPECT_GT(CountKind(ev, HubEventKind::kCallback), 10u);
  TraceReader r;
  ASSERT_TRUE(r.Open(TempPath("sim_callbacks.gtrace")));
  EXPECT_TRUE(r.header().callbacks());
  std::vector<Event> without = RecordAndCompare(
      TempPath("sim_no_callbacks.gtrace"), [] { programs::PingPong(10); });
  EXPECT_EQ(CountKind(without, HubEventKind::kCallback), 0u);
  EXPECT_EQ(without.size() + CountKind(ev, HubEventKind::kCallback), ev.size());
}

TEST(RoundTrip, SimSeededHasDecisionsAndJitter) {
  sim::SimOptions o;
  o.seed = 7;
  sim::Simulation sim(o);
  std::vector<Event> ev =
      RecordAndCompare(TempPath("sim_race.gtrace"), [] { programs::Race(); });
  size_t jitter = 0, ties = 0;
  for (const Event& e : ev) {
    if (e.kind != HubEventKind::kDecision) continue;
    EXPECT_GE(e.a, 2);
    EXPECT_LT(e.b, e.a);
    jitter += e.c == static_cast<int64_t>(Decision::kTimerJitter);
    ties += e.c == static_cast<int64_t>(Decision::kTimerTie);
  }
  EXPECT_GT(jitter, 0u);
  TraceReader r;
  ASSERT_TRUE(r.Open(TempPath("sim_race.gtrace")));
  EXPECT_EQ(r.header().seed(), 7u);
  EXPECT_EQ(r.header().max_jitter_ns(), 3000000);
}

TEST(RoundTrip, SimFailureCarriesTypeAndMessage) {
  sim::Simulation sim(0);
  std::vector<Event> ev = RecordAndCompare(TempPath("sim_failing.gtrace"), [] {
    EXPECT_EQ(programs::Failing(), 2);
  });
  bool failed = false, noted = false;
  for (const Event& e : ev) {
    if (e.kind == HubEventKind::kFinish && e.a == 1) {
      failed = true;
      EXPECT_EQ(e.text, "std::runtime_error");
      EXPECT_EQ(e.text2, "disk on fire");
    }
    if (e.kind == HubEventKind::kNote) {
      noted = true;
      EXPECT_EQ(e.text, "about to write the report");
    }
  }
  EXPECT_TRUE(failed);
  EXPECT_TRUE(noted);
}

TEST(RoundTrip, EpollWorkers) {
  FreshEpollHub fresh;
  std::vector<Event> ev = RecordAndCompare(TempPath("epoll_workers.gtrace"), [] {
    EXPECT_EQ(programs::Workers(), 41060);
  });
  EXPECT_GT(CountKind(ev, HubEventKind::kTimeAdvanced), 0u);
  EXPECT_GT(CountKind(ev, HubEventKind::kTimerFired), 0u);
  TraceReader r;
  ASSERT_TRUE(r.Open(TempPath("epoll_workers.gtrace")));
  EXPECT_EQ(r.backend(), "epoll");
  EXPECT_EQ(r.header().format_version(), kFormatVersion);
  EXPECT_EQ(r.header().program(), ProgramName());
  EXPECT_FALSE(r.header().build_id().empty());
  // Times only grow.
  for (size_t i = 1; i < ev.size(); ++i) EXPECT_GE(ev[i].time_ns, ev[i - 1].time_ns);
}

TEST(RoundTrip, EpollFailing) {
  FreshEpollHub fresh;
  RecordAndCompare(TempPath("epoll_failing.gtrace"),
                   [] { EXPECT_EQ(programs::Failing(), 2); });
}

TEST(RoundTrip, EpollIoReadiness) {
  FreshEpollHub fresh;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::vector<Event> ev = RecordAndCompare(TempPath("epoll_io.gtrace"), [&] {
    auto writer = spawn([&] {
      sleep(absl::Milliseconds(1));
      EXPECT_EQ(write(fds[1], "x", 1), 1);
    });
    EXPECT_TRUE(wait_read(fds[0]));
    writer->join();
  });
  close(fds[0]);
  close(fds[1]);
  bool io = false;
  for (const Event& e : ev) {
    if (e.kind != HubEventKind::kIo) continue;
    io = true;
    EXPECT_EQ(e.a, fds[0]);
    EXPECT_EQ(e.b & IoWatcher::kRead, IoWatcher::kRead);
  }
  EXPECT_TRUE(io);
}

TEST(Note, OnlyWhenObserved) {
  FreshEpollHub fresh;
  EXPECT_FALSE(get_hub()->observing());
  note("nobody listens");  // no effect, no crash
  const std::string path = TempPath("note.gtrace");
  {
    Recording rec(path);
    note("hello\nworld");
    note("not utf-8: \xff\xfe");
    sleep(absl::Milliseconds(1));
  }
  TraceReader r;
  std::vector<Event> ev = ReadAll(path, &r);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev[0].kind, HubEventKind::kNote);
  EXPECT_EQ(ev[0].text, "hello\nworld");
  EXPECT_EQ(ev[0].greenlet, 0u);
  EXPECT_NE(FormatLine(ev[0]).find("hello\\nworld"), std::string::npos);
  ASSERT_GE(ev.size(), 2u);
  EXPECT_TRUE(r.complete()) << r.error();
  EXPECT_EQ(ev[1].text, "not utf-8: \xff\xfe");
  EXPECT_NE(FormatLine(ev[1]).find("not utf-8: \\xff\\xfe"), std::string::npos) << FormatLine(ev[1]);
  EXPECT_FALSE(get_hub()->observing());  // detached again
}

// A crash (here abort(); likewise SIGSEGV, SIGBUS, an uncaught exception)
// writes every pending record before the process dies.
TEST(Crash, AbortLosesNothing) {
  const std::string path = TempPath("aborted.gtrace");
  int status = 0;
  const uint64_t written = RecordInChild(path, [](const std::string& p, int fd) {
    sim::Simulation sim(0);
    auto* rec = new Recorder(get_hub(), p);
    programs::PingPong(100000);  // chunks queued for the writer thread
    Tell(fd, *rec);
    abort();
  }, &status);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGABRT);
  EXPECT_GT(written, 300000u);
  TraceReader r;
  std::vector<Event> ev = ReadAll(path, &r);
  EXPECT_FALSE(r.complete());
  EXPECT_EQ(ev.size(), written);
  EXPECT_NE(r.error().find("did not finish"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("after " + std::to_string(written) + " records"),
            std::string::npos)
      << r.error();
}

TEST(Crash, SegfaultLosesNothing) {
  const std::string path = TempPath("segv.gtrace");
  int status = 0;
  const uint64_t written = RecordInChild(path, [](const std::string& p, int fd) {
    sim::Simulation sim(0);
    auto* rec = new Recorder(get_hub(), p);
    programs::Workers();
    Tell(fd, *rec);
    raise(SIGSEGV);  // (a real null store is UBSan's business under asan)
  }, &status);
  // Killed by the signal, or (under AddressSanitizer, which reports it)
  // exited with an error.
  EXPECT_TRUE(WIFSIGNALED(status) || WEXITSTATUS(status) != 0);
  TraceReader r;
  std::vector<Event> ev = ReadAll(path, &r);
  EXPECT_EQ(ev.size(), written);
}

// The usual ways to stop a program (SIGTERM, SIGINT, SIGHUP, SIGQUIT)
// write every pending record too, and then end the process by the signal,
// as it would have ended without a recorder.
TEST(Crash, StopSignalsLoseNothingAndStillStopTheProgram) {
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) {
    SCOPED_TRACE(strsignal(sig));
    const std::string path = TempPath("stopped.gtrace");
    int status = 0;
    const uint64_t written = RecordInChild(path, [sig](const std::string& p, int fd) {
      const rlimit no_core = {0, 0};
      setrlimit(RLIMIT_CORE, &no_core);
      FreshEpollHub fresh;
      auto* rec = new Recorder(get_hub(), p);
      programs::PingPong(30000);  // chunks queued, and some pending
      Tell(fd, *rec);
      ::kill(getpid(), sig);
      sleep(absl::Seconds(10));  // (it ends before)
    }, &status);
    ASSERT_TRUE(WIFSIGNALED(status)) << status;
    EXPECT_EQ(WTERMSIG(status), sig);
    TraceReader r;
    std::vector<Event> ev = ReadAll(path, &r);
    EXPECT_GT(written, 90000u);
    EXPECT_EQ(ev.size(), written) << r.error();
  }
}

// A program that ignores such a signal (nohup) keeps ignoring it.
TEST(Crash, IgnoredStopSignalStaysIgnored) {
  const std::string path = TempPath("nohup.gtrace");
  int status = 0;
  RecordInChild(path, [](const std::string& p, int fd) {
    signal(SIGHUP, SIG_IGN);
    sim::Simulation sim(0);
    Recorder rec(get_hub(), p);
    programs::PingPong(100);
    raise(SIGHUP);
    programs::PingPong(100);
    Tell(fd, rec);
    _exit(rec.Stop() ? 0 : 2);
  }, &status);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// Killed outright (SIGKILL: no handler runs), a recorder loses at most what
// it encoded since its last write: on an epoll loop that writes in its
// waits, up to FileSink::kWaitWriteIntervalNs (200 ms) of records, or
// 32 KiB.
TEST(Crash, SigkillLosesOnlyTheLastMilliseconds) {
  const std::string path = TempPath("killed.gtrace");
  int status = 0;
  const uint64_t written = RecordInChild(path, [](const std::string& p, int fd) {
    FreshEpollHub fresh;
    auto* rec = new Recorder(get_hub(), p);
    const absl::Time until = absl::Now() + absl::Milliseconds(400);
    while (absl::Now() < until) {
      programs::PingPong(50);
      sleep(absl::Milliseconds(1));
    }
    Tell(fd, *rec);
    raise(SIGKILL);
  }, &status);
  ASSERT_TRUE(WIFSIGNALED(status));
  TraceReader r;
  std::vector<Event> ev = ReadAll(path, &r);
  EXPECT_FALSE(r.complete());
  EXPECT_GT(written, 2000u);
  EXPECT_LE(ev.size(), written);
  EXPECT_GE(ev.size(), written * 3 / 4) << "lost " << written - ev.size() << " of " << written;
}

// Runs `body` on a fresh epoll hub, then in a simulation.
template <typename F>
void OnBothHubs(F body) {
  {
    FreshEpollHub fresh;
    SCOPED_TRACE("epoll");
    body();
  }
  {
    sim::Simulation sim(0);
    SCOPED_TRACE("sim");
    body();
  }
}

// A greenlet's name reaches its finish record when it is not the default;
// recording does not make the default names of greenlets nobody named.
TEST(RoundTrip, FinishCarriesNamesButMakesNone) {
  OnBothHubs([] {
    const std::string path = TempPath("names.gtrace");
    std::shared_ptr<Greenlet<void>> named, unnamed, same;
    {
      Recording rec(path);
      named = spawn([] { sleep(absl::Milliseconds(10)); });
      unnamed = spawn([] { sleep(absl::Milliseconds(10)); });
      same = spawn([] { sleep(absl::Milliseconds(10)); });
      named->set_name("worker");
      same->set_name("Greenlet-" + std::to_string(same->id()));
      joinall(std::vector<std::shared_ptr<Greenlet<void>>>{named, unnamed, same});
      EXPECT_TRUE(rec.Stop());
    }
    EXPECT_TRUE(unnamed->unnamed()) << "the recorder made the default name";
    EXPECT_FALSE(named->unnamed());
    TraceReader r;
    std::map<uint64_t, std::string> finish_names;
    for (const Event& e : ReadAll(path, &r)) {
      if (e.kind == HubEventKind::kFinish) finish_names[e.greenlet] = e.name;
    }
    EXPECT_TRUE(r.complete()) << r.error();
    ASSERT_EQ(finish_names.size(), 3u);
    EXPECT_EQ(finish_names[named->id()], "worker");
    EXPECT_EQ(finish_names[unnamed->id()], "");
    EXPECT_EQ(finish_names[same->id()], "");  // the default, set by hand
  });
}

// The records after the header (whose start time is the wall clock's).
std::string Body(const std::string& data) {
  size_t pos = 8;
  uint64_t len = 0;
  for (int shift = 0; pos < data.size(); shift += 7) {
    const auto b = static_cast<uint8_t>(data[pos++]);
    len |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) break;
  }
  return pos + len + 4 <= data.size() ? data.substr(pos + len + 4) : "";
}

// Switches, sleeps and ids on both sides of 128, time changes, checkpoints
// and several of the sink's chunks.
void LaneProgram() {
  std::vector<std::shared_ptr<Greenlet<void>>> gs;
  for (int i = 0; i < 200; ++i) {
    gs.push_back(spawn([i] {
      for (int k = 0; k < 3; ++k) sleep();
      sleep(absl::Milliseconds(1 + i % 3));
      sleep(absl::ZeroDuration(), /*ref=*/false);  // as sleep(0), as in gevent
      sleep();
    }));
  }
  sleep();
  joinall(gs);
  programs::PingPong(30000);
}

// Records `program` on the current hub through the lane (the recorder the
// only observer), and reads the trace back: complete, one event a record.
template <typename F>
std::vector<Event> RecordThroughTheLane(const std::string& path, F program) {
  uint64_t records = 0;
  {
    Recorder rec(get_hub(), path);
    if (rec.lane() == nullptr) {
      ADD_FAILURE() << "the recorder offers no lane";
      return {};
    }
    program();
    records = rec.records();
    EXPECT_TRUE(rec.Stop());
  }
  return ReadWhole(path, records);
}

// When the recorder is the hub's only observer, the hub writes switches and
// sleep(0)s into the recorder's memory itself (HubEventLane); with another
// observer chained after the recorder, the recorder encodes every event.
// Both give the same bytes, and the trace holds what the hub reported.
TEST(Lane, SameTraceWithAndWithoutTheLane) {
  const std::string chained_path = TempPath("chained.gtrace");
  const std::string lane_path = TempPath("lane.gtrace");
  std::vector<Event> chained;
  {
    sim::Simulation sim(0);
    chained = RecordAndCompare(chained_path, LaneProgram);
  }
  std::vector<Event> got;
  {
    sim::Simulation sim(0);
    got = RecordThroughTheLane(lane_path, LaneProgram);
  }
  EXPECT_GT(got.size(), 90000u);
  ASSERT_EQ(got.size(), chained.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(SameEvent(chained[i], got[i], /*compare_times=*/true))
        << "record " << i << "\n  chained: " << FormatLine(chained[i])
        << "\n  lane:    " << FormatLine(got[i]);
  }
  // (The checksums depend on the header, whose start time differs.)
  const std::string a = Body(WithoutChecksums(ReadFile(chained_path)));
  const std::string b = Body(WithoutChecksums(ReadFile(lane_path)));
  EXPECT_GT(a.size(), 3 * internal::FileSink::kChunkBytes);
  EXPECT_TRUE(a == b) << "sizes " << a.size() << " and " << b.size();
}

// A record as the encoder frames it: [length][oneof tag][sub-message
// length], then each field's tag byte and varint value.
std::string Framed(uint8_t tag, std::initializer_list<std::pair<uint8_t, uint64_t>> fields) {
  std::string sub;
  for (const auto& [field_tag, value] : fields) {
    uint8_t v[10];
    sub += static_cast<char>(field_tag);
    sub.append(reinterpret_cast<char*>(v),
               static_cast<size_t>(internal::PutVarint(v, value) - v));
  }
  return std::string{static_cast<char>(sub.size() + 2), static_cast<char>(tag),
                     static_cast<char>(sub.size())} +
         sub;
}

// What the lane wrote since `buf`.
// A lane pattern: [length][tag][sub-message length][field 1's tag].
uint32_t Pattern(uint8_t tag) {
  return uint32_t{4} | uint32_t{tag} << 8 | uint32_t{2} << 16 | uint32_t{0x08} << 24;
}

std::string Written(const uint8_t* buf, const HubEventLane& lane) {
  return std::string(reinterpret_cast<const char*>(buf), static_cast<size_t>(lane.pos - buf));
}

// The hub's lane writes the same bytes as the encoder: a one-field record
// whose value (a greenlet id, a timer's age, the time since the last
// record) is a varint of 1 to 4 bytes,
// and a sleep with its timer's start, three such fields; larger values,
// other times and a lane at its limit go to the observer.
TEST(Lane, RecordsMatchTheEncoderForEveryIdSize) {
  const uint8_t tag = (2 << 3) | internal::kBytes;  // switch_to
  HubEventLane lane;
  lane.SetLengthStep(0x00010001);  // the record's and the message's lengths
  lane.Offer(HubEventKind::kSwitch, Pattern(tag));
  const uint64_t ids[] = {0,        1,        127,           128,
                          300,      16383,    16384,         2097151,
                          2097152,  123456789, (1u << 28) - 1};
  for (uint64_t id : ids) {
    uint8_t buf[16] = {};
    lane.pos = buf;
    lane.limit = buf + 1;  // room for one record
    lane.extra = 0;
    ASSERT_TRUE(lane.Take(HubEventKind::kSwitch, id, 0, 0, 0, lane.time_ns)) << id;
    const std::string want = Framed(tag, {{0x08, id}});
    EXPECT_EQ(Written(buf, lane), want) << id;
    EXPECT_EQ(lane.extra, want.size() - 5) << id;
    EXPECT_FALSE(lane.Take(HubEventKind::kSwitch, id, 0, 0, 0, lane.time_ns))
        << "past the limit";
  }
  // A timer firing: its age from the lane's base (the last timer started),
  // zigzag, written even when 0.
  const uint8_t fired_tag = (4 << 3) | internal::kBytes;
  lane.Offer(HubEventKind::kTimerFired, Pattern(fired_tag));
  lane.base = 1000;
  for (int64_t seq : {1000, 990, 1005, 900, 1000 - 70000}) {
    uint8_t buf[16] = {};
    lane.pos = buf;
    lane.limit = buf + 1;
    ASSERT_TRUE(lane.Take(HubEventKind::kTimerFired, 0, seq, 0, 0, lane.time_ns)) << seq;
    EXPECT_EQ(Written(buf, lane), Framed(fired_tag, {{0x08, internal::ZigZag(1000 - seq)}}))
        << seq;
  }
  // The clock moved: the time since the lane's time, which moves along.
  const uint8_t advanced_tag = (8 << 3) | internal::kBytes;
  lane.Offer(HubEventKind::kTimeAdvanced, Pattern(advanced_tag));
  for (uint64_t dt : {uint64_t{1}, uint64_t{127}, uint64_t{128}, uint64_t{16383},
                      uint64_t{16384}, uint64_t{2097151}, uint64_t{2097152},
                      (uint64_t{1} << 28) - 1}) {
    uint8_t buf[16] = {};
    lane.pos = buf;
    lane.limit = buf + 1;
    lane.extra = 0;
    const int64_t t = lane.time_ns + static_cast<int64_t>(dt);
    ASSERT_TRUE(lane.Take(HubEventKind::kTimeAdvanced, 0, 5, 0, 0, t)) << dt;
    const std::string want = Framed(advanced_tag, {{0x08, dt}});
    EXPECT_EQ(Written(buf, lane), want) << dt;
    EXPECT_EQ(lane.extra, want.size() - 5) << dt;
    EXPECT_EQ(lane.time_ns, t) << dt;
  }
  for (int64_t dt : {int64_t{0}, int64_t{-1}, int64_t{1} << 28}) {  // refused
    uint8_t buf[16] = {};
    lane.pos = buf;
    lane.limit = buf + 1;
    const int64_t before = lane.time_ns;
    EXPECT_FALSE(lane.Take(HubEventKind::kTimeAdvanced, 0, 5, 0, 0, before + dt)) << dt;
    EXPECT_EQ(lane.pos, buf) << dt;
    EXPECT_EQ(lane.time_ns, before) << dt;
  }
  {
    uint8_t buf[16] = {};
    lane.pos = lane.limit = buf;  // at the limit
    EXPECT_FALSE(lane.Take(HubEventKind::kTimeAdvanced, 0, 5, 0, 0, lane.time_ns + 1));
    EXPECT_EQ(lane.pos, buf);
  }

  // A sleep of ns > 0 with its timer's start (Hub::start_sleep): one
  // record of three fields (format 2's folded timer start), two records.
  const uint8_t sleep_tag = (11 << 3) | internal::kBytes;
  lane.Offer(HubEventKind::kSleep, Pattern(sleep_tag));
  lane.OfferSleepWithStart(0x10, 0x20);  // Sleep.ns, Sleep.timer_dt_ns
  struct SleepStart {
    uint64_t greenlet;
    int64_t ns, dt;
  };
  const int64_t t0 = lane.time_ns;
  const uint64_t kMax = uint64_t{1} << 28;
  const SleepStart sleeps[] = {{1, 100000, 0},  {0, 1, 7},        {300, 127, 300},
                               {16384, 2000000, 2000000},         {kMax - 1, kMax - 1, kMax - 1},
                               {127, 128, 16383}, {5, 16384, 127}};
  for (const SleepStart& x : sleeps) {
    uint8_t buf[48] = {};
    lane.pos = buf;
    lane.limit = buf + 5;  // room for two records
    lane.extra = 0;
    lane.base = 41;
    lane.time_ns = t0;
    ASSERT_TRUE(lane.TakeSleepStart(x.greenlet, x.ns, 1, t0, 42, t0 + x.dt))
        << x.greenlet << " " << x.ns << " " << x.dt;
    const std::string want =
        Framed(sleep_tag, {{0x08, x.greenlet},
                           {0x10, static_cast<uint64_t>(x.ns)},
                           {0x20, static_cast<uint64_t>(x.dt)}});
    EXPECT_EQ(Written(buf, lane), want) << x.greenlet << " " << x.ns << " " << x.dt;
    EXPECT_EQ((static_cast<uint64_t>(lane.pos - buf) - lane.extra) / 5, 2u) << x.greenlet;
    EXPECT_EQ(lane.base, 42u);
    EXPECT_EQ(lane.time_ns, t0 + x.dt);
  }
  // Refused, for the observer: another timer number, unref, another time,
  // values of 2^28, no ns, no room for two records, the start not offered.
  struct Refused {
    uint64_t greenlet, seq;
    int64_t ns, ref, sleep_dt, dt;
    size_t limit;
    bool offered;
  };
  const Refused refused[] = {
      {300, 43, 5000, 1, 0, 0, 5, true},    {300, 42, 5000, 0, 0, 0, 5, true},
      {300, 42, 5000, 1, 1, 0, 5, true},    {kMax, 42, 5000, 1, 0, 0, 5, true},
      {300, 42, int64_t{1} << 28, 1, 0, 0, 5, true},
      {300, 42, 0, 1, 0, 0, 5, true},       {300, 42, -5, 1, 0, 0, 5, true},
      {300, 42, 5000, 1, 0, int64_t{1} << 28, 5, true},
      {300, 42, 5000, 1, 0, 0, 4, true},    {300, 42, 5000, 1, 0, 0, 5, false}};
  for (const Refused& r : refused) {
    uint8_t buf[48] = {};
    lane.pos = buf;
    lane.limit = buf + r.limit;
    lane.extra = 0;
    lane.base = 41;
    lane.time_ns = t0;
    lane.OfferSleepWithStart(r.offered ? 0x10 : 0, r.offered ? 0x20 : 0);
    EXPECT_FALSE(lane.TakeSleepStart(r.greenlet, r.ns, r.ref, t0 + r.sleep_dt, r.seq,
                                     t0 + r.sleep_dt + r.dt))
        << r.greenlet << " " << r.seq << " " << r.ns << " " << r.ref << " " << r.sleep_dt
        << " " << r.dt << " " << r.limit;
    EXPECT_EQ(lane.pos, buf);
    EXPECT_EQ(lane.base, 41u);
    EXPECT_EQ(lane.time_ns, t0);
  }
  lane.OfferSleepWithStart(0x10, 0x20);

  uint8_t buf[16] = {};
  lane.pos = buf;
  lane.limit = buf + 5;
  // Sleeps of ns > 0 and timer starts come only as a pair (above).
  EXPECT_FALSE(lane.Take(HubEventKind::kSleep, 1, 1000, 1, 0, lane.time_ns));
  EXPECT_FALSE(lane.Take(HubEventKind::kTimerStarted, 1, 42, 1000, 0, lane.time_ns));
  EXPECT_FALSE(lane.Take(HubEventKind::kSwitch, 1, 1, 0, 0, lane.time_ns));  // a != 0
  EXPECT_FALSE(lane.Take(HubEventKind::kSwitch, uint64_t{1} << 28, 0, 0, 0, lane.time_ns));
  EXPECT_FALSE(lane.Take(HubEventKind::kSwitch, 1, 0, 0, 0, lane.time_ns + 1));
  EXPECT_FALSE(lane.Take(HubEventKind::kSleep, 1, 0, 0, 0, lane.time_ns));  // unref
  EXPECT_FALSE(lane.Take(HubEventKind::kIdle, 0, 0, 0, 0, lane.time_ns));   // not offered
  EXPECT_FALSE(lane.offers(HubEventKind::kIdle));
  EXPECT_TRUE(lane.offers(HubEventKind::kSleep));
  EXPECT_EQ(lane.pos, buf);
}

// CloseFile() (what GEVENT_TRACE does at thread exit) ends the file but
// leaves the recorder on the hub: the hub's later switches and sleep(0)s
// must not go into the lane, whose memory is gone.
TEST(Lane, ClosedFileTakesNothingMore) {
  OnBothHubs([] {
    const std::string path = TempPath("closed.gtrace");
    Recorder rec(get_hub(), path);
    ASSERT_NE(rec.lane(), nullptr);
    programs::PingPong(100);
    const uint64_t records = rec.records();
    EXPECT_TRUE(rec.CloseFile());
    programs::PingPong(100);  // still observed, by a closed recorder
    EXPECT_EQ(rec.records(), records);
    rec.Stop();
    ReadWhole(path, records);
  });
}

// The lane on the epoll hub: a program without timers has the same
// schedule in every run, so a run recorded through the lane and one recorded
// with another observer chained (no lane) hold the same events. Only the
// clock differs: times, and where the loop's time checks (every 256
// callbacks) saw it move.
TEST(Lane, SameEventsWithAndWithoutTheLaneOnEpoll) {
  auto program = [] {
    std::vector<std::shared_ptr<Greenlet<void>>> gs;
    for (int i = 0; i < 200; ++i) {  // ids on both sides of 128
      gs.push_back(spawn([] {
        for (int k = 0; k < 3; ++k) sleep();
      }));
    }
    sleep();
    joinall(gs);
    programs::PingPong(30000);
  };
  std::vector<Event> chained;
  {
    FreshEpollHub fresh;
    chained = RecordAndCompare(TempPath("epoll_chained.gtrace"), program);
  }
  std::vector<Event> got;
  {
    FreshEpollHub fresh;
    got = RecordThroughTheLane(TempPath("epoll_lane.gtrace"), program);
  }
  auto drop_time_advances = [](std::vector<Event>* ev) {
    ev->erase(std::remove_if(ev->begin(), ev->end(),
                             [](const Event& e) {
                               return e.kind == HubEventKind::kTimeAdvanced;
                             }),
              ev->end());
  };
  drop_time_advances(&got);
  drop_time_advances(&chained);
  EXPECT_GT(got.size(), 90000u);
  ASSERT_EQ(got.size(), chained.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(SameEvent(chained[i], got[i], /*compare_times=*/false))
        << "record " << i << "\n  chained: " << FormatLine(chained[i])
        << "\n  lane:    " << FormatLine(got[i]);
  }
}

// A program whose trace is many chunks long: the writer thread fills in
// every checkpoint's checksum (the reader verifies them) and writes the
// chunks in order.
TEST(Sink, LongTraceIsCompleteAndVerified) {
  OnBothHubs([] {
    const std::string path = TempPath("long.gtrace");
    uint64_t records = 0;
    {
      Recorder rec(get_hub(), path);
      programs::PingPong(200000);
      records = rec.records();
      EXPECT_TRUE(rec.Stop());
    }
    EXPECT_GT(records, 400000u);
    ReadWhole(path, records);
    EXPECT_GT(ReadFile(path).size(), 20 * internal::FileSink::kChunkBytes);
  });
}

// A loop that waits now and then (epoll) writes its trace itself while it
// would wait anyway, in order with the chunks the writer thread wrote; the
// simulator's loop never waits for real, so its writer thread writes all.
TEST(Sink, QuietLoopWritesItsOwnTrace) {
  OnBothHubs([] {
    const std::string path = TempPath("quiet.gtrace");
    const bool epoll = std::string(get_hub()->backend_name()) == "epoll";
    uint64_t records = 0, in_waits = 0;
    {
      Recorder rec(get_hub(), path);
      for (int i = 0; i < 8; ++i) {
        // Mostly a few KiB, once many chunks (for the writer thread).
        programs::PingPong(i == 3 ? 30000 : 300);
        // Longer than the age limit (200 ms).
        sleep(absl::Nanoseconds(internal::FileSink::kWaitWriteIntervalNs) +
              absl::Milliseconds(10));
      }
      records = rec.records();
      in_waits = rec.writes_in_waits();
      EXPECT_TRUE(rec.Stop());
    }
    if (epoll) {
      EXPECT_GE(in_waits, 4u);
    } else {
      EXPECT_EQ(in_waits, 0u);
    }
    ReadWhole(path, records);
  });
}

// A loop whose waits are all short (many sleepers, 50-150 us naps) writes
// its trace itself too, before such a wait, once 32 KiB are pending: cheaper
// than waking the writer thread for each chunk.
TEST(Sink, BusyLoopWritesInShortWaits) {
  OnBothHubs([] {
    const std::string path = TempPath("short_waits.gtrace");
    const bool epoll = std::string(get_hub()->backend_name()) == "epoll";
    uint64_t records = 0, in_waits = 0, bytes = 0;
    {
      Recorder rec(get_hub(), path);
      std::vector<std::shared_ptr<Greenlet<void>>> gs;
      for (int g = 0; g < 40; ++g) {
        gs.push_back(spawn([g] {
          for (int i = 0; i < 200; ++i) {
            sleep(absl::Microseconds(50 + (g * 37 + i * 11) % 100));
          }
        }));
      }
      joinall(gs);
      records = rec.records();
      bytes = rec.bytes();
      in_waits = rec.writes_in_waits();
      EXPECT_TRUE(rec.Stop());
    }
    EXPECT_GT(bytes, 4 * internal::FileSink::kFlushBytes);
    if (epoll) {
      // Every 32 KiB but the last (Stop writes it), give or take one the
      // writer thread took (bytes 100 ms old, on a slow machine).
      EXPECT_GE(in_waits + 1, bytes / internal::FileSink::kFlushBytes - 1);
    } else {
      EXPECT_EQ(in_waits, 0u);
    }
    ReadWhole(path, records);
  });
}

// A loop about to wait with no end in sight (here for a thread; a hung
// program's loop does the same) writes its whole trace first: a program
// killed while it waits (a test's timeout) leaves every record on disk.
// Another thread watches the file while the loop waits for it.
TEST(Sink, LoopWritesEverythingBeforeWaitingForGood) {
  OnBothHubs([] {
    const std::string path = TempPath("waits_for_good.gtrace");
    Recorder rec(get_hub(), path);
    programs::PingPong(300);  // well below 32 KiB, within 50 ms
    const uint64_t before = rec.records();
    ThreadPool pool(1);
    // Up to 20 s for the records to appear; they are there at once.
    const size_t seen = pool.spawn([path, before] {
      size_t n = 0;
      for (int i = 0; i < 2000 && n < before; ++i) {
        TraceReader r;
        n = 0;
        if (r.Open(path)) {
          Event e;
          while (r.Next(&e)) ++n;
        }
        if (n < before) usleep(10000);
      }
      return n;
    })->get();
    EXPECT_GE(seen, before);
    EXPECT_TRUE(rec.Stop());
    ReadWhole(path, rec.records());
  });
}

// A loop that idles between events with no timer due soon (a server
// between requests, here waiting for a thread) does not write before each
// of those waits: it comes back to write when a write falls due (200 ms
// after the last), so it writes about once per 200 ms. (The simulator's
// loop writes before each such wait: they are its only real waits.)
TEST(Sink, IdleLoopWritesAtMostOncePerInterval) {
  OnBothHubs([] {
    const std::string path = TempPath("idle_loop.gtrace");
    const bool epoll = std::string(get_hub()->backend_name()) == "epoll";
    constexpr int kWaits = 40;
    uint64_t records = 0, in_waits = 0;
    const absl::Time start = absl::Now();
    {
      Recorder rec(get_hub(), path);
      ThreadPool pool(1);
      for (int i = 0; i < kWaits; ++i) {
        programs::PingPong(10);  // something to write
        pool.spawn([] { usleep(2000); })->get();
      }
      records = rec.records();
      in_waits = rec.writes_in_waits();
      EXPECT_TRUE(rec.Stop());
    }
    const int64_t ms = absl::ToInt64Milliseconds(absl::Now() - start);
    if (epoll) {
      const int64_t interval_ms = internal::FileSink::kWaitWriteIntervalNs / 1000000;
      EXPECT_LE(in_waits, static_cast<uint64_t>(ms / interval_ms + 3)) << ms << " ms";
    } else {
      EXPECT_GE(in_waits, static_cast<uint64_t>(kWaits / 2));
    }
    ReadWhole(path, records);
  });
}

// The writer thread stays with the parent after fork(): a child that
// records starts its own, and neither trace is damaged.
TEST(Sink, ForkedChildRecordsItsOwnTrace) {
  const std::string parent_path = TempPath("fork_parent.gtrace");
  const std::string child_path = TempPath("fork_child.gtrace");
  sim::Simulation sim(0);
  Recorder rec(get_hub(), parent_path);
  programs::PingPong(30000);  // chunks handed to the writer thread
  const pid_t pid = fork();
  if (pid == 0) {
    alarm(30);  // a hang fails the test
    int code = 0;
    {
      FreshEpollHub fresh;
      Recorder child(get_hub(), child_path);
      programs::PingPong(60000);
      if (!child.Stop()) code = 2;
    }
    _exit(code);
  }
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  programs::PingPong(100);
  EXPECT_TRUE(rec.Stop());
  for (const std::string& path : {parent_path, child_path}) {
    TraceReader r;
    const std::vector<Event> got = ReadAll(path, &r);
    EXPECT_TRUE(r.complete()) << path << ": " << r.error();
    EXPECT_GT(got.size(), path == child_path ? 180000u : 90000u) << path;
  }
}

// A child forked while a recorder runs inherits it, with the parent's file
// and the records the parent encoded but has not written yet: those are
// the parent's to write, and the child must never write into the parent's
// file (its bytes would interleave with the parent's, and the pending ones
// would be written twice). The child goes on running the recorded hub (it
// may even stop the recorder or crash); the parent's trace stays whole.
void ForkedChildLeavesTheParentsTraceAlone(bool crash_in_child) {
  const std::string path = TempPath("fork_inherited.gtrace");
  Recorder rec(get_hub(), path);
  programs::PingPong(30000);  // chunks handed off, and some still pending
  const pid_t pid = gevent::fork();
  if (pid == 0) {
    alarm(30);  // a hang fails the test
    programs::PingPong(60000);
    if (crash_in_child) abort();  // the crash handler flushes every sink
    _exit(rec.Stop() ? 0 : 2);
  }
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  if (crash_in_child) {
    ASSERT_TRUE(WIFSIGNALED(status)) << "child status " << status;
  } else {
    ASSERT_TRUE(WIFEXITED(status)) << "child status " << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  programs::PingPong(100);
  ASSERT_TRUE(rec.Stop());
  ReadWhole(path, rec.records());
  EXPECT_EQ(static_cast<uint64_t>(ReadFile(path).size()), rec.bytes());
}

TEST(Fork, ChildLeavesTheParentsTraceAloneOnTheSimulator) {
  sim::Simulation sim(0);
  ForkedChildLeavesTheParentsTraceAlone(false);
}
TEST(Fork, ChildLeavesTheParentsTraceAloneOnEpoll) {
  FreshEpollHub fresh;
  ForkedChildLeavesTheParentsTraceAlone(false);
}
TEST(Fork, CrashingChildLeavesTheParentsTraceAloneOnTheSimulator) {
  sim::Simulation sim(0);
  ForkedChildLeavesTheParentsTraceAlone(true);
}
TEST(Fork, CrashingChildLeavesTheParentsTraceAloneOnEpoll) {
  FreshEpollHub fresh;
  ForkedChildLeavesTheParentsTraceAlone(true);
}

// ---- The file: write errors, and who may write it.

// A full disk (/dev/full: every write fails with ENOSPC): the program goes
// on, the failure is printed once on stderr with the path and the error,
// and the recorder (and RecordingError(), for GEVENT_TRACE) say so.
TEST(WriteError, ReportedOnceAndTheProgramGoesOn) {
  OnBothHubs([] {
    ::testing::internal::CaptureStderr();
    bool stopped = true;
    std::string error;
    {
      Recorder rec(get_hub(), "/dev/full");
      programs::PingPong(30000);  // several chunks, and writes in waits
      sleep(absl::Milliseconds(1));
      programs::PingPong(30000);
      stopped = rec.Stop();
      EXPECT_FALSE(rec.ok());
      error = rec.error();
    }
    const std::string printed = ::testing::internal::GetCapturedStderr();
    EXPECT_FALSE(stopped);
    EXPECT_NE(error.find("writing trace file '/dev/full' failed: " +
                         std::string(strerror(ENOSPC))),
              std::string::npos)
        << error;
    EXPECT_EQ(printed, "geventpp: " + error + "\n");
    EXPECT_NE(RecordingError().find("'/dev/full'"), std::string::npos);
  });
}

// A recorder never truncates a trace that this process is reading (a
// replay), whatever name it is given: the file is compared, not the path.
TEST(FileIdentity, ARecorderLeavesATraceBeingReplayedAlone) {
  const std::string path = TempPath("replayed.gtrace");
  {
    sim::Simulation sim(0);
    Recording rec(path);
    programs::PingPong(100);
  }
  const std::string data = ReadFile(path);
  const std::string hard = TempPath("replayed_hard.gtrace");
  const std::string soft = TempPath("replayed_soft.gtrace");
  unlink(hard.c_str());
  unlink(soft.c_str());
  ASSERT_EQ(link(path.c_str(), hard.c_str()), 0);
  ASSERT_EQ(symlink(path.c_str(), soft.c_str()), 0);
  {
    Replay replay(path);
    for (const std::string& p : {path, hard, soft}) {
      try {
        Recorder rec(get_hub(), p);
        ADD_FAILURE() << p << " was recorded over";
      } catch (const TraceError& e) {
        EXPECT_NE(std::string(e.what()).find("is a trace this process is reading"),
                  std::string::npos)
            << e.what();
      }
    }
    programs::PingPong(100);
    EXPECT_EQ(replay.Finish().status, ReplayStatus::kIdentical);
  }
  EXPECT_TRUE(ReadFile(path) == data);
}

// One writer a file: a second recorder (here, or in a child process) is
// refused with TraceFileInUse, and the first one's trace stays whole.
TEST(FileLock, ASecondRecorderLeavesTheFirstOnesTraceAlone) {
  const std::string path = TempPath("locked.gtrace");
  sim::Simulation sim(0);
  Recorder first(get_hub(), path);
  programs::PingPong(100);
  EXPECT_THROW(Recorder(get_hub(), path), TraceFileInUse);
  const pid_t pid = fork();
  if (pid == 0) {
    int code = 1;
    try {
      FreshEpollHub fresh;
      Recorder second(get_hub(), path);
    } catch (const TraceFileInUse&) {
      code = 0;
    } catch (...) {
      code = 2;
    }
    _exit(code);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  programs::PingPong(100);
  ASSERT_TRUE(first.Stop());
  ReadWhole(path, first.records());
  // Once it is closed, the file is free again.
  Recorder again(get_hub(), path);
  EXPECT_TRUE(again.Stop());
}

// Bytes per record, before compression (target: <= 8 on average).
TEST(Size, BytesPerRecord) {
  struct Row {
    const char* what;
    uint64_t records, bytes;
  };
  std::vector<Row> rows;
  auto measure = [&](const char* what, auto program) {
    const std::string path = TempPath("size.gtrace");
    Recording rec(path);
    program();
    rec.Stop();
    rows.push_back({what, rec.recorder().records(), rec.recorder().bytes()});
    TraceReader r;
    EXPECT_EQ(ReadAll(path, &r).size(), rows.back().records) << what;
    EXPECT_EQ(ReadFile(path).size(), rows.back().bytes) << what;
  };
  {
    sim::Simulation sim(0);
    measure("sim ping-pong", [] { programs::PingPong(20000); });
  }
  {
    sim::Simulation sim(0);
    measure("sim workers", [] { for (int i = 0; i < 50; ++i) programs::Workers(); });
  }
  {
    sim::SimOptions o;
    o.seed = 3;
    sim::Simulation sim(o);
    measure("sim race, seed 3", [] { for (int i = 0; i < 50; ++i) programs::Race(); });
  }
  {
    FreshEpollHub fresh;
    measure("epoll workers", [] { for (int i = 0; i < 10; ++i) programs::Workers(absl::Microseconds(200)); });
  }
  {
    FreshEpollHub fresh;
    measure("epoll ping-pong", [] { programs::PingPong(5000); });
  }
  for (const Row& r : rows) {
    const double per = static_cast<double>(r.bytes) / static_cast<double>(r.records);
    printf("%-18s %8llu records %9llu bytes  %.2f bytes/record\n", r.what,
           static_cast<unsigned long long>(r.records),
           static_cast<unsigned long long>(r.bytes), per);
    EXPECT_LE(per, 8.0) << r.what;
  }
}

// ---- The format, by hand: unknown kinds, versions, framing.

// The events of a trace built by hand, which must be complete.
std::vector<Event> ReadComplete(const std::string& bytes) {
  TraceReader r;
  std::vector<Event> ev;
  EXPECT_TRUE(r.OpenBytes(bytes)) << r.error();
  Event e;
  while (r.Next(&e)) ev.push_back(e);
  EXPECT_TRUE(r.complete()) << r.error();
  return ev;
}

TEST(Format, UnknownRecordKindsAreSkipped) {
  TraceBuilder b;
  proto::Record spawn;
  spawn.mutable_spawn()->set_id(1);
  b.Add(spawn);
  // A record kind from a newer version: field 25 (bytes), plus dt_ns.
  std::string unknown;
  unknown += static_cast<char>((25 << 3) | 2);
  unknown += static_cast<char>(1);  // (the tag needs 2 bytes; fix below)
  unknown.clear();
  uint8_t buf[16];
  uint8_t* p = internal::PutTag(buf, 25, internal::kBytes);
  p = internal::PutVarint(p, 2);
  *p++ = 0x08;
  *p++ = 0x05;
  p = internal::PutTag(p, 17, internal::kVarint);
  p = internal::PutVarint(p, 1000);
  unknown.assign(reinterpret_cast<char*>(buf), static_cast<size_t>(p - buf));
  b.AddRaw(unknown);
  proto::Record sw;
  sw.mutable_switch_to()->set_greenlet(1);
  b.Add(sw);
  const std::vector<Event> ev = ReadComplete(b.End());
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, HubEventKind::kSpawn);
  EXPECT_EQ(ev[1].kind, HubEventKind::kSwitch);
  EXPECT_EQ(ev[1].index, 2u);       // the unknown record keeps its index
  EXPECT_EQ(ev[1].time_ns, 1000);   // and its time still counts
}

// A sleep record with timer_dt_ns stands for two events: the sleep and its
// timer's start (the next sequence number, the sleep's delay, timer_dt_ns
// later), and counts as two records.
TEST(Format, FoldedTimerStartReadsAsItsOwnEvent) {
  TraceBuilder b;
  proto::Record started;  // sequence number 1, by the hub
  started.mutable_timer_started()->set_by_hub(true);
  started.mutable_timer_started()->set_after_ns(10);
  b.Add(started);
  proto::Record sleep;
  sleep.set_dt_ns(100);
  sleep.mutable_sleep()->set_greenlet(3);
  sleep.mutable_sleep()->set_ns(5000);
  sleep.mutable_sleep()->set_timer_dt_ns(7);
  b.Add(sleep, 2);
  proto::Record sw;
  sw.mutable_switch_to()->set_greenlet(4);
  b.Add(sw);
  const std::vector<Event> ev = ReadComplete(b.End());
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[1].kind, HubEventKind::kSleep);
  EXPECT_EQ(ev[1].greenlet, 3u);
  EXPECT_EQ(ev[1].a, 5000);
  EXPECT_EQ(ev[1].time_ns, 100);
  EXPECT_EQ(ev[2].kind, HubEventKind::kTimerStarted);
  EXPECT_EQ(ev[2].greenlet, 3u);
  EXPECT_EQ(ev[2].a, 2);  // the sequence number after the hub's timer
  EXPECT_EQ(ev[2].b, 5000);
  EXPECT_EQ(ev[2].time_ns, 107);
  EXPECT_EQ(ev[3].kind, HubEventKind::kSwitch);
  EXPECT_EQ(ev[3].time_ns, 107);
  for (size_t i = 0; i < ev.size(); ++i) EXPECT_EQ(ev[i].index, i);
}

// Version 1 traces (without folded timer starts) are still read.
TEST(Format, Version1IsStillRead) {
  TraceBuilder b(1);
  proto::Record sleep;
  sleep.mutable_sleep()->set_greenlet(1);
  sleep.mutable_sleep()->set_ns(5000);
  b.Add(sleep);
  proto::Record started;
  started.mutable_timer_started()->set_greenlet(1);
  started.mutable_timer_started()->set_after_ns(5000);
  b.Add(started);
  const std::vector<Event> ev = ReadComplete(b.End());
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].kind, HubEventKind::kTimerStarted);
  EXPECT_EQ(ev[1].a, 1);
}

// Version 2 traces (checksums not chained, an end record without one) are
// still read; records after their last checkpoint are not delivered.
TEST(Format, Version2IsStillReadUpToItsLastCheckpoint) {
  TraceBuilder b(2);
  proto::Record sw;
  sw.mutable_switch_to()->set_greenlet(1);
  b.Add(sw);
  b.Checkpoint();
  b.Add(sw);
  const std::string data = b.End();
  EXPECT_EQ(ReadComplete(data).size(), 2u);
  // Cut before its last checkpoint: only the first record has one.
  size_t header_end = 0;
  const std::vector<testing::Frame> frames = testing::Frames(data, &header_end);
  ASSERT_EQ(frames.size(), 5u);  // switch, checkpoint, switch, checkpoint, end
  TraceReader r;
  ASSERT_TRUE(r.OpenBytes(data.substr(0, frames[3].begin), "v2.gtrace"));
  Event e;
  uint64_t n = 0;
  while (r.Next(&e)) ++n;
  EXPECT_EQ(n, 1u);
  EXPECT_NE(r.error().find("after 1 records"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("the last 1 records had no checksum yet"), std::string::npos)
      << r.error();
}

TEST(Format, OtherVersionsAreRefused) {
  for (uint32_t v : {0u, 4u}) {
    TraceBuilder b(v);
    TraceReader r;
    const std::string name = absl::StrCat("v", v, ".gtrace");
    EXPECT_FALSE(r.OpenBytes(b.End(), name));
    EXPECT_EQ(r.error(), absl::StrCat("'", name, "': trace format version ", v,
                                      " is not supported (this build reads "
                                      "versions 1 to 3)"));
  }
}

TEST(Format, ChecksumCatchesABitFlip) {
  sim::Simulation sim(0);
  const std::string path = TempPath("flip.gtrace");
  {
    Recording rec(path);
    programs::PingPong(100);
  }
  std::string data = ReadFile(path);
  TraceReader ok;
  ASSERT_TRUE(ok.OpenBytes(data));
  Event e;
  uint64_t total = 0;
  while (ok.Next(&e)) ++total;
  ASSERT_TRUE(ok.complete());
  // Flip a bit inside a record's payload in the middle of the file: the
  // records before its chunk are delivered, then a one-line error.
  size_t flips_detected = 0;
  for (size_t at = 200; at < data.size() - 20; at += 37) {
    std::string bad = data;
    bad[at] = static_cast<char>(bad[at] ^ 0x10);
    TraceReader r;
    ASSERT_TRUE(r.OpenBytes(bad, "bad.gtrace"));
    uint64_t n = 0;
    while (r.Next(&e)) ++n;
    EXPECT_FALSE(r.complete()) << "flip at " << at;
    EXPECT_LT(n, total);
    EXPECT_EQ(r.error().find('\n'), std::string::npos);
    flips_detected += r.error().find("corrupt") != std::string::npos ? 1 : 0;
  }
  EXPECT_GT(flips_detected, 0u);
}

TEST(Format, HandWrittenRecordsParseWithTheProto) {
  sim::Simulation sim(0);
  const std::string path = TempPath("proto.gtrace");
  {
    Recording rec(path);
    programs::Workers();
  }
  const std::string data = ReadFile(path);
  // Walk the frames with the generated classes only.
  size_t pos = 8;
  auto varint = [&](uint64_t* v) {
    *v = 0;
    for (int shift = 0; pos < data.size(); shift += 7) {
      const auto b = static_cast<uint8_t>(data[pos++]);
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  };
  uint64_t len;
  ASSERT_TRUE(varint(&len));
  proto::Header h;
  ASSERT_TRUE(h.ParseFromArray(data.data() + pos, static_cast<int>(len)));
  EXPECT_EQ(h.backend(), "sim");
  pos += len + 4;
  size_t records = 0, checkpoints = 0, ends = 0, folded = 0;
  while (pos < data.size()) {
    ASSERT_TRUE(varint(&len));
    proto::Record r;
    ASSERT_TRUE(r.ParseFromArray(data.data() + pos, static_cast<int>(len)));
    pos += len;
    ASSERT_NE(r.kind_case(), proto::Record::KIND_NOT_SET);
    if (r.has_checkpoint()) {
      ++checkpoints;
    } else if (r.has_end()) {
      ++ends;
      EXPECT_EQ(r.end().records(), records);
    } else if (r.has_sleep() && r.sleep().has_timer_dt_ns()) {
      records += 2;  // a sleep and its timer's start
      ++folded;
    } else {
      ++records;
    }
  }
  EXPECT_EQ(ends, 1u);
  EXPECT_GT(folded, 0u);
  const size_t every = Recorder::kCheckpointEvery;
  EXPECT_EQ(checkpoints, (records + every - 1) / every);
}

}  // namespace
}  // namespace trace
}  // namespace gevent
