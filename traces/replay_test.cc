// Replay: traces recorded on epoll and on the simulator replay on the SimHub
// to the identical event sequence; a different run stops with a divergence
// report at the first difference; truncated traces replay their prefix.
#include <stdlib.h>

#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "runtime/gevent.h"
#include "sim/simulation.h"
#include "traces/reader.h"
#include "traces/recorder.h"
#include "traces/replay.h"
#include "traces/test_programs.h"
#include "traces/trace.pb.h"
#include "traces/trace_testing.h"

namespace gevent {
namespace trace {
namespace {

using testing::FreshEpollHub;
using testing::ReadFile;
using testing::TempPath;
using testing::WriteFile;

template <typename F>
void RecordOnEpoll(const std::string& path, F program, RecorderOptions options = {}) {
  FreshEpollHub fresh;
  Recording rec(path, options);
  program();
}

template <typename F>
void RecordOnSim(const std::string& path, uint64_t seed, F program) {
  sim::SimOptions o;
  o.seed = seed;
  sim::Simulation sim(o);
  Recording rec(path);
  program();
}

// Replays `program` against `path`; returns the result (and any Divergence
// thrown into main, as text).
template <typename F>
ReplayResult ReplayRun(const std::string& path, F program,
                       std::string* thrown = nullptr,
                       const Divergence** unused = nullptr) {
  (void)unused;
  Replay replay(path);
  try {
    program();
  } catch (const Divergence& d) {
    if (thrown != nullptr) *thrown = d.what();
  }
  return replay.Finish();
}

TEST(EpollToSim, WorkersReplayIdentically) {
  const std::string path = TempPath("w.gtrace");
  int recorded = 0;
  RecordOnEpoll(path, [&] { recorded = programs::Workers(absl::Milliseconds(2)); });
  int replayed = 0;
  std::string thrown;
  ReplayResult r = ReplayRun(path, [&] { replayed = programs::Workers(absl::Milliseconds(2)); }, &thrown);
  EXPECT_EQ(r.status, ReplayStatus::kIdentical) << r.report;
  EXPECT_EQ(thrown, "");
  EXPECT_EQ(replayed, recorded);
  EXPECT_GT(r.matched, 80u);
}

// Hand-offs (a blocking greenlet running the hub's next steps itself) must
// report exactly what the hub would: an epoll recording replays on the
// simulator event for event.
TEST(EpollToSim, EventRelayReplaysIdentically) {
  const std::string path = TempPath("relay.gtrace");
  int recorded = 0;
  RecordOnEpoll(path, [&] { recorded = programs::EventRelay(3000); });
  int replayed = 0;
  ReplayResult r = ReplayRun(path, [&] { replayed = programs::EventRelay(3000); });
  EXPECT_EQ(r.status, ReplayStatus::kIdentical) << r.report;
  EXPECT_EQ(replayed, recorded);
  EXPECT_GT(r.matched, 6000u);
  // And with the callback records, which the hand-offs must report too.
  RecorderOptions with;
  with.callbacks = true;
  RecordOnEpoll(path, [&] { programs::EventRelay(500); }, with);
  r = ReplayRun(path, [&] { programs::EventRelay(500); });
  EXPECT_EQ(r.status, ReplayStatus::kIdentical) << r.report;
}

TEST(EpollToSim, WithCallbackRecordsToo) {
  const std::string path = TempPath("wc.gtrace");
  RecorderOptions with;
  with.callbacks = true;
  RecordOnEpoll(path, [&] { programs::Workers(absl::Milliseconds(1)); }, with);
  ReplayResult r = ReplayRun(path, [&] { programs::Workers(absl::Milliseconds(1)); });
  EXPECT_EQ(r.status, ReplayStatus::kIdentical) << r.report;
}

TEST(EpollToSim, ManyShortRunsReplayIdentically) {
  // Short naps make the epoll loop's timing as irregular as it gets.
  for (int i = 0; i < 10; ++i) {
    const std::string path = TempPath("many.gtrace");
    RecordOnEpoll(path, [&] {
      programs::Workers(absl::Microseconds(50 * (i + 1)));
      programs::Failing(absl::Microseconds(100));
      programs::Race();
      programs::PingPong(50);
    });
    ReplayResult r = ReplayRun(path, [&] {
      programs::Workers(absl::Microseconds(50 * (i + 1)));
      programs::Failing(absl::Microseconds(100));
      programs::Race();
      programs::PingPong(50);
    });
    ASSERT_EQ(r.status, ReplayStatus::kIdentical) << "run " << i << "\n" << r.report;
  }
}

TEST(EpollToSim, BusyLoopReplaysWhereEpollEndedEachPass) {
  // A sleep(0) busy loop keeps the callback FIFO full: epoll ends each pass
  // after the switch interval (here 100 us) so the timer can fire; the
  // replay ends its passes at the same callbacks.
  const std::string path = TempPath("busy.gtrace");
  int recorded = 0;
  RecordOnEpoll(path, [&] {
    recorded = programs::BusyUntilTimer(absl::Milliseconds(1), absl::Microseconds(100));
  });
  int replayed = 0;
  ReplayResult r = ReplayRun(path, [&] {
    replayed = programs::BusyUntilTimer(absl::Milliseconds(1), absl::Microseconds(100));
  });
  EXPECT_EQ(r.status, ReplayStatus::kIdentical) << r.report;
  EXPECT_EQ(replayed, recorded);
  EXPECT_GT(recorded, 256);
}

TEST(EpollToSim, ReplayFollowsRecordedTime) {
  const std::string path = TempPath("naps.gtrace");
  RecordOnEpoll(path, [] { programs::Naps(5, absl::Milliseconds(3)); });
  absl::Duration virtual_elapsed;
  {
    Replay replay(path);
    programs::Naps(5, absl::Milliseconds(3));
    virtual_elapsed = replay.hub()->elapsed();
    EXPECT_EQ(replay.Finish().status, ReplayStatus::kIdentical);
  }
  // The virtual clock went where epoll's clock went: at least the naps,
  // and not the simulator's exact 15 ms (epoll wakes late).
  EXPECT_GT(virtual_elapsed, absl::Milliseconds(15));
  TraceReader r;
  ASSERT_TRUE(r.Open(path));
  Event e, last_advance;
  while (r.Next(&e)) {
    if (e.kind == HubEventKind::kTimeAdvanced) last_advance = e;
  }
  EXPECT_EQ(absl::ToInt64Nanoseconds(virtual_elapsed), last_advance.time_ns);
}

// A long wait that a trace write fell due in was cut short for the write
// (Recorder::BeforeWait): the wake-up with no events is in the trace as a
// move of the clock, and the simulator replays it like any other.
TEST(EpollToSim, WakeUpForAWriteReplaysIdentically) {
  const std::string path = TempPath("write_wakeup.gtrace");
  // Longer than the interval between writes: one falls due within.
  const absl::Duration nap =
      absl::Nanoseconds(internal::FileSink::kWaitWriteIntervalNs) + absl::Milliseconds(100);
  auto program = [nap] {
    programs::Workers(absl::Milliseconds(1));
    sleep(nap);
    programs::Workers(absl::Milliseconds(1));
  };
  RecordOnEpoll(path, program);
  // Between the long sleep and its timer's firing the clock moved twice or
  // more: the wake-up for the write, then the timer's.
  TraceReader r;
  ASSERT_TRUE(r.Open(path));
  Event e;
  bool in_long_sleep = false;
  int advances = 0;
  while (r.Next(&e)) {
    if (e.kind == HubEventKind::kSleep && e.a == absl::ToInt64Nanoseconds(nap)) {
      in_long_sleep = true;
    }
    if (!in_long_sleep) continue;
    if (e.kind == HubEventKind::kTimeAdvanced) ++advances;
    if (e.kind == HubEventKind::kTimerFired) break;
  }
  EXPECT_TRUE(in_long_sleep);
  EXPECT_GE(advances, 2);
  ReplayResult result = ReplayRun(path, program);
  EXPECT_EQ(result.status, ReplayStatus::kIdentical) << result.report;
}

// Work on other threads: ThreadPool tasks of varying length, while a
// greenlet ticks on its own timer, and an Event set from a plain thread.
// Returns what the greenlets saw: the tasks' results and how many ticks
// had passed when each came back.
std::vector<int> PoolAndThreads() {
  ThreadPool pool(2);
  int ticks = 0;
  auto ticker = spawn([&] {
    for (int i = 0; i < 30; ++i) {
      sleep(absl::Milliseconds(1));
      ++ticks;
    }
  });
  std::vector<int> seen;
  std::vector<std::shared_ptr<AsyncResult<int>>> pending;
  for (int i = 0; i < 12; ++i) {
    pending.push_back(pool.spawn([i] {
      usleep(static_cast<useconds_t>(300 + 700 * (i % 3)));
      return i * i;
    }));
    if (i % 4 == 3) {  // a few at a time, in flight together
      for (auto& p : pending) seen.push_back(p->get() * 1000 + ticks);
      pending.clear();
    }
  }
  gevent::Event ready;
  std::thread setter([&ready] {
    usleep(3000);
    ready.set();  // handed over to the hub's thread
  });
  ready.wait();
  seen.push_back(ticks);
  setter.join();
  ticker->join();
  return seen;
}

// The points where the loop took the threads' callbacks are in the trace,
// and the replay takes them at the same points: the same schedule and the
// same results, with the tasks run again for real.
TEST(EpollToSim, WorkOnOtherThreadsReplaysIdentically) {
  const std::string path = TempPath("pool.gtrace");
  std::vector<int> recorded;
  RecordOnEpoll(path, [&] { recorded = PoolAndThreads(); });
  TraceReader reader;
  ASSERT_TRUE(reader.Open(path)) << reader.error();
  // One record per callback: the 12 tasks' results, tagged 1 to 12 in the
  // order they were spawned, and the Event's hand-over, untagged.
  std::vector<int64_t> tags;
  Event e;
  while (reader.Next(&e)) {
    if (e.kind == HubEventKind::kForeignWork) tags.push_back(e.a);
  }
  std::sort(tags.begin(), tags.end());
  EXPECT_EQ(tags, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
  for (int run = 0; run < 5; ++run) {
    std::vector<int> replayed;
    ReplayResult r = ReplayRun(path, [&] { replayed = PoolAndThreads(); });
    EXPECT_EQ(r.status, ReplayStatus::kIdentical) << r.report;
    EXPECT_EQ(replayed, recorded);
  }
}

// Each task's result is tagged, so the replay takes the same result where
// the trace did even when the threads finish in the other order: here the
// first task is the slow one when recorded and the fast one when replayed.
int TwoTasks(bool first_is_slow) {
  ThreadPool pool(2);
  int ticks = 0;
  auto ticker = spawn([&ticks] {
    for (int i = 0; i < 12; ++i) {
      sleep(absl::Milliseconds(1));
      ++ticks;
    }
  });
  auto first = pool.spawn([first_is_slow] {
    usleep(first_is_slow ? 8000 : 200);
    return 1;
  });
  auto second = pool.spawn([first_is_slow] {
    usleep(first_is_slow ? 200 : 8000);
    return 2;
  });
  const int a = first->get();
  const int at = ticks;
  const int b = second->get();
  ticker->join();
  return a * 1000 + b * 100 + at;
}

TEST(EpollToSim, ThreadsFinishingInAnotherOrderReplayIdentically) {
  const std::string path = TempPath("two_tasks.gtrace");
  int recorded = 0;
  RecordOnEpoll(path, [&] { recorded = TwoTasks(true); });
  int replayed = 0;
  ReplayResult r = ReplayRun(path, [&] { replayed = TwoTasks(false); });
  EXPECT_EQ(r.status, ReplayStatus::kIdentical) << r.report;
  EXPECT_EQ(replayed, recorded);
}

// A greenlet calling idle() in a loop while a task runs: on epoll the idle
// watchers run until the result comes (how many times depends on the
// thread's real time). The replay runs them exactly as often, however long
// the task takes this time.
int IdleWhileAThreadWorks(useconds_t task_us) {
  ThreadPool pool(1);
  int rounds = 0;
  bool done = false;
  auto idler = spawn([&] {
    while (!done) {
      idle();
      ++rounds;
    }
  });
  const int v = pool.spawn([task_us] {
    usleep(task_us);
    return 7;
  })->get();
  done = true;
  idler->join();
  return rounds * 10 + v;
}

TEST(EpollToSim, IdleWatchersReplayAsRecordedWhileAThreadWorks) {
  const std::string path = TempPath("idle_thread.gtrace");
  int recorded = 0;
  RecordOnEpoll(path, [&] { recorded = IdleWhileAThreadWorks(3000); });
  EXPECT_GT(recorded, 10 * 2 + 7);  // the idler ran while the task did
  for (useconds_t replay_us : {100u, 3000u, 9000u}) {
    int replayed = 0;
    ReplayResult r = ReplayRun(path, [&] { replayed = IdleWhileAThreadWorks(replay_us); });
    EXPECT_EQ(r.status, ReplayStatus::kIdentical) << replay_us << " us: " << r.report;
    EXPECT_EQ(replayed, recorded) << replay_us << " us";
  }
}

// A replayed program whose threads do not send what the trace took (here
// the Event is never set by another thread) is a divergence that says so,
// after ReplayOptions::foreign_wait, never a hang.
TEST(Divergence, WorkFromOtherThreadsThatNeverComes) {
  const std::string path = TempPath("foreign_missing.gtrace");
  // A sleeper keeps the loop alive while main waits for the thread.
  RecordOnEpoll(path, [] {
    auto sleeper = spawn([] { sleep(absl::Milliseconds(100)); });
    gevent::Event ready;
    std::thread setter([&ready] {
      usleep(2000);
      ready.set();
    });
    ready.wait();
    setter.join();
    sleeper->join();
  });
  ReplayOptions options;
  options.foreign_wait = absl::Milliseconds(200);
  Replay replay(path, options);
  bool thrown = false;
  try {
    auto sleeper = spawn([] { sleep(absl::Milliseconds(100)); });
    gevent::Event never;  // no thread will set it
    never.wait();
  } catch (const Divergence&) {
    thrown = true;
  }
  EXPECT_TRUE(thrown);
  const ReplayResult r = replay.Finish();
  EXPECT_EQ(r.status, ReplayStatus::kDiverged);
  EXPECT_NE(r.report.find("took a callback from another thread"), std::string::npos)
      << r.report;
  EXPECT_NE(r.report.find("no callback from other threads came in"), std::string::npos)
      << r.report;
}

TEST(SimToSim, SeededRunsReplayIdentically) {
  for (uint64_t seed : {1u, 7u, 42u}) {
    const std::string path = TempPath("race.gtrace");
    int recorded = 0;
    RecordOnSim(path, seed, [&] {
      recorded = programs::Race() * 1000 + programs::Workers();
    });
    int replayed = 0;
    ReplayResult r = ReplayRun(path, [&] {
      replayed = programs::Race() * 1000 + programs::Workers();
    });
    EXPECT_EQ(r.status, ReplayStatus::kIdentical) << "seed " << seed << "\n" << r.report;
    EXPECT_EQ(replayed, recorded) << "seed " << seed;
  }
}

TEST(SimToSim, DecisionsComeFromTheTrace) {
  // Find a seed whose race loses an increment and one that does not: the
  // replay of each reproduces its outcome though the code is the same.
  std::vector<int> outcomes;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    const std::string path = TempPath("race" + std::to_string(seed) + ".gtrace");
    int recorded = 0;
    RecordOnSim(path, seed, [&] { recorded = programs::Race(); });
    int replayed = 0;
    ReplayResult r = ReplayRun(path, [&] { replayed = programs::Race(); });
    EXPECT_EQ(r.status, ReplayStatus::kIdentical) << r.report;
    EXPECT_EQ(replayed, recorded);
    outcomes.push_back(recorded);
  }
  EXPECT_NE(*std::min_element(outcomes.begin(), outcomes.end()),
            *std::max_element(outcomes.begin(), outcomes.end()));
}

TEST(Divergence, AnotherProgramStopsAtTheFirstMismatch) {
  const std::string path = TempPath("workers_then_other.gtrace");
  RecordOnSim(path, 0, [] { programs::Workers(); });
  std::string thrown;
  bool threw = false;
  uint64_t index = 0;
  Replay replay(path);
  try {
    programs::PingPong(10);
  } catch (const Divergence& d) {
    threw = true;
    thrown = d.what();
    index = d.record_index();
    EXPECT_FALSE(d.trace_ended());
    EXPECT_NE(d.expected().find("#"), std::string::npos);
  }
  ReplayResult r = replay.Finish();
  ASSERT_TRUE(threw);
  EXPECT_EQ(r.status, ReplayStatus::kDiverged);
  EXPECT_EQ(thrown, r.report);
  // Both runs spawn g1 first; the second record differs (g2 spawned vs
  // main sleeping).
  EXPECT_EQ(index, 1u);
  std::vector<std::string> lines = absl::StrSplit(r.report, '\n');
  ASSERT_GE(lines.size(), 5u);
  EXPECT_EQ(lines[0], "replay of '" + path + "' diverged at record 1:");
  EXPECT_EQ(lines[1].rfind("  expected: #1 ", 0), 0u) << lines[1];
  EXPECT_NE(lines[1].find("spawn g2 by main"), std::string::npos) << lines[1];
  EXPECT_EQ(lines[2].rfind("  actual:   #1 ", 0), 0u) << lines[2];
  EXPECT_NE(lines[2].find("main sleeps 0"), std::string::npos) << lines[2];
  EXPECT_EQ(lines[3], "the last 1 events before it:");
  EXPECT_NE(lines[4].find("spawn g1 by main"), std::string::npos);
}

TEST(Divergence, ReportsTheLast20Events) {
  const std::string path = TempPath("naps10.gtrace");
  RecordOnSim(path, 0, [] { programs::Naps(10, absl::Milliseconds(1)); });
  std::string thrown;
  ReplayResult r = ReplayRun(path, [] {
    programs::Naps(8, absl::Milliseconds(1));
    programs::Naps(1, absl::Milliseconds(2));  // differs here
  }, &thrown);
  EXPECT_EQ(r.status, ReplayStatus::kDiverged);
  EXPECT_EQ(thrown, r.report);
  std::vector<std::string> lines = absl::StrSplit(r.report, '\n');
  // headline, expected, actual, "the last 20 events before it:", 20 events
  ASSERT_EQ(lines.size(), 24u) << r.report;
  EXPECT_EQ(lines[3], "the last 20 events before it:");
  EXPECT_NE(lines[1].find("main sleeps 1ms"), std::string::npos) << r.report;
  EXPECT_NE(lines[2].find("main sleeps 2ms"), std::string::npos) << r.report;
}

TEST(Divergence, SameIndexAsDiffOfTheTwoTraces) {
  const std::string a = TempPath("a.gtrace"), b = TempPath("b.gtrace");
  RecordOnSim(a, 0, [] { programs::Workers(absl::Milliseconds(1)); });
  RecordOnSim(b, 0, [] { programs::Workers(absl::Milliseconds(2)); });
  // Where the traces first differ.
  TraceReader ra, rb;
  ASSERT_TRUE(ra.Open(a));
  ASSERT_TRUE(rb.Open(b));
  Event ea, eb;
  uint64_t first = 0;
  while (ra.Next(&ea) && rb.Next(&eb) && SameEvent(ea, eb, true)) ++first;
  uint64_t index = 0;
  {
    Replay replay(a);
    try {
      programs::Workers(absl::Milliseconds(2));
    } catch (const Divergence& d) {
      index = d.record_index();
    }
    EXPECT_EQ(replay.Finish().status, ReplayStatus::kDiverged);
  }
  EXPECT_GT(first, 5u);
  EXPECT_EQ(index, first);
}

TEST(Divergence, EpollTraceOfAnotherRunDiverges) {
  const std::string path = TempPath("e.gtrace");
  RecordOnEpoll(path, [] { programs::Naps(3, absl::Milliseconds(1)); });
  std::string thrown;
  ReplayResult r = ReplayRun(path, [] { programs::Naps(3, absl::Milliseconds(5)); }, &thrown);
  EXPECT_EQ(r.status, ReplayStatus::kDiverged) << r.report;
  EXPECT_NE(thrown, "");
}

TEST(Divergence, RunEndingEarly) {
  const std::string path = TempPath("naps.gtrace");
  RecordOnSim(path, 0, [] { programs::Naps(10); });
  Replay replay(path);
  programs::Naps(5);
  ReplayResult r = replay.Finish();
  EXPECT_EQ(r.status, ReplayStatus::kRunEndedEarly);
  EXPECT_NE(r.report.find("the run ended after"), std::string::npos) << r.report;
}

TEST(Divergence, RunGoingOnAfterTheTrace) {
  const std::string path = TempPath("naps.gtrace");
  RecordOnSim(path, 0, [] { programs::Naps(3); });
  std::string thrown;
  ReplayResult r = ReplayRun(path, [] { programs::Naps(6); }, &thrown);
  EXPECT_EQ(r.status, ReplayStatus::kDiverged);
  EXPECT_NE(r.report.find("the run goes on after the trace ended"), std::string::npos)
      << r.report;
  EXPECT_NE(thrown, "");
}

TEST(Truncated, ReplaysTheCompletePrefixThenStops) {
  const std::string path = TempPath("pp.gtrace");
  RecordOnSim(path, 0, [] { programs::PingPong(300); });
  std::string data = ReadFile(path);
  const std::string cut = TempPath("pp_cut.gtrace");
  WriteFile(cut, data.substr(0, data.size() * 6 / 10));
  TraceReader r;
  ASSERT_TRUE(r.Open(cut));
  Event e;
  uint64_t readable = 0;
  while (r.Next(&e)) ++readable;
  ASSERT_FALSE(r.complete());
  bool threw = false;
  bool ended = false;
  Replay replay(cut);
  try {
    programs::PingPong(300);
  } catch (const Divergence& d) {
    threw = true;
    ended = d.trace_ended();
  }
  ReplayResult result = replay.Finish();
  EXPECT_TRUE(threw);
  EXPECT_TRUE(ended);
  EXPECT_EQ(result.status, ReplayStatus::kPrefixReplayed) << result.report;
  EXPECT_EQ(result.matched, readable);
  EXPECT_NE(result.report.find("is truncated at byte"), std::string::npos) << result.report;
}

// A trace another program, or another build of this one, recorded is
// refused before anything runs (its schedule is other code's), unless
// asked for.
TEST(BadInput, AnotherProgramsOrBuildsTraceIsRefusedUnlessAskedFor) {
  const std::string path = TempPath("other_build.gtrace");
  for (const auto& [program, build] :
       {std::pair<std::string, std::string>{"someone-else", ""},
        std::pair<std::string, std::string>{ProgramName(), "0123456789abcdef"}}) {
    if (build != "" && BuildId().empty()) continue;  // nothing to compare
    testing::TraceBuilder b(kFormatVersion, program, build);
    proto::Record spawn;
    spawn.mutable_spawn()->set_id(1);
    b.Add(spawn);
    WriteFile(path, b.End());
    try {
      Replay replay(path);
      ADD_FAILURE() << program << " " << build << ": replayed";
    } catch (const TraceError& e) {
      EXPECT_NE(std::string(e.what()).find("' was recorded by '" + program + "'"),
                std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find("GEVENT_REPLAY_ANY_BUILD=1"), std::string::npos);
    }
    ReplayOptions o;
    o.any_build = true;
    o.throw_in_main = false;
    {
      Replay replay(path, o);
      EXPECT_EQ(replay.status(), ReplayStatus::kReplaying);
    }
    // The same from the environment, for replays the user does not write.
    setenv("GEVENT_REPLAY_ANY_BUILD", "1", 1);
    o.any_build = false;
    try {
      Replay replay(path, o);
      EXPECT_EQ(replay.status(), ReplayStatus::kReplaying);
    } catch (const TraceError& e) {
      ADD_FAILURE() << e.what();
    }
    unsetenv("GEVENT_REPLAY_ANY_BUILD");
  }
}

TEST(BadInput, ReplayOfAMissingFileIsATraceError) {
  try {
    Replay replay(TempPath("does-not-exist.gtrace"));
    FAIL() << "no error";
  } catch (const TraceError& e) {
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos);
  }
}

}  // namespace
}  // namespace trace
}  // namespace gevent
