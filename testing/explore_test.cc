#include "testing/explore.h"

#include <fcntl.h>
#include <pty.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "runtime/gevent.h"
#include "testing/racy_programs.h"
#include "traces/reader.h"
#include "traces/tool.h"

namespace gevent {
namespace testing {
namespace {

using absl::Milliseconds;
using namespace racy;  // the programs under test

// Options for the harness's own tests: no environment, quiet, traces in the
// test's temporary directory.
ExploreOptions Quiet(const std::string& name, uint64_t runs = 200) {
  ExploreOptions o;
  o.name = name;
  o.runs = runs;
  o.use_environment = false;
  o.print = false;
  const char* tmp = getenv("TEST_TMPDIR");
  o.trace_dir = tmp != nullptr ? tmp : "/tmp";
  return o;
}

// The failing seed, run alone under the same strategy, as the repro line
// does.
ExploreReport Again(const ExploreOptions& base, const ExploreReport& failed,
                    const std::function<void()>& body) {
  ExploreOptions o = base;
  o.seed = *failed.first_failing_seed;
  o.strategy = failed.strategy;
  o.save_trace = false;
  o.shrink = false;
  return Explore(o, body);
}

// Explores `body` until a schedule fails with `what`, then runs that seed
// alone, as the repro line does: the same failure.
ExploreReport FoundAndReproduced(const std::string& name, void (*body)(), const std::string& what) {
  const ExploreOptions o = Quiet(name);
  ExploreReport r = Explore(o, body);
  EXPECT_TRUE(r.first_failing_seed.has_value()) << name << ": no schedule failed";
  if (!r.first_failing_seed.has_value()) return r;
  EXPECT_THAT(r.failure, ::testing::HasSubstr(what));
  EXPECT_EQ(Again(o, r, body).failure, r.failure) << name << ": the repro differs";
  return r;
}

TEST(Explore, TheGuidesExampleFailsAndShrinks) {
  ExploreReport r = FoundAndReproduced("Account.NeverOverdraws", Overdraw, "account.balance");
  printf("%s\n", r.text.c_str());
  EXPECT_FALSE(r.shrunk_decisions.empty());
}

// ---- each failure kind, caught and reproduced

TEST(Explore, PassingBodyRunsEverySchedule) {
  ExploreReport r = Explore(Quiet("Pass", 50), [] {
    auto g = spawn([] { sleep(Milliseconds(1)); return 7; });
    EXPECT_EQ(g->get(), 7);
  });
  EXPECT_EQ(r.runs, 50u);
  EXPECT_EQ(r.failures, 0u);
  EXPECT_FALSE(r.first_failing_seed.has_value());
  EXPECT_TRUE(r.text.empty());
  EXPECT_EQ(r.seeds.size(), 50u);
}

TEST(Explore, CatchesAnAssertionInAGreenletAndReproducesIt) {
  ExploreReport r = FoundAndReproduced("LostUpdate", LostUpdate, "an increment was lost");
  ASSERT_TRUE(r.first_failing_seed.has_value());
  EXPECT_THAT(r.text, ::testing::HasSubstr("[ RACE  ] LostUpdate: seed "));
  EXPECT_THAT(r.repro, ::testing::HasSubstr("GEVENT_SEED=" + std::to_string(*r.first_failing_seed)));
  EXPECT_THAT(r.repro, ::testing::HasSubstr("GEVENT_STRATEGY=random"));
}

TEST(Explore, CatchesAnExceptionEscapingTheBody) {
  auto body = [] {
    auto g = spawn([] { sleep(Milliseconds(1)); return 1; });
    auto h = spawn([] { sleep(Milliseconds(1)); return 2; });
    std::vector<int> done;
    for (auto& x : iwait(GreenletList{g, h})) done.push_back(x == g ? 1 : 2);
    if (done[0] == 2) throw std::runtime_error("h finished first");
  };
  const ExploreOptions o = Quiet("Throws");
  ExploreReport r = Explore(o, body);
  ASSERT_TRUE(r.first_failing_seed.has_value());
  EXPECT_THAT(r.failure, ::testing::HasSubstr("the body threw std::runtime_error: h finished first"));
  EXPECT_EQ(Again(o, r, body).failure, r.failure);
}

TEST(Explore, CatchesAnErrorEscapingAGreenletUnlessExpected) {
  auto body = [] {
    bool flag = false;
    auto a = spawn([&] { sleep(Milliseconds(1)); flag = true; });
    auto b = spawn([&] {
      sleep(Milliseconds(1));
      if (!flag) throw std::logic_error("b ran before a");
    });
    joinall(GreenletList{a, b});
  };
  ExploreOptions o = Quiet("GreenletError");
  ExploreReport r = Explore(o, body);
  ASSERT_TRUE(r.first_failing_seed.has_value());
  EXPECT_THAT(r.failure, ::testing::HasSubstr("failed with std::logic_error: b ran before a"));
  EXPECT_EQ(Again(o, r, body).failure, r.failure);
  o.expect_greenlet_errors = true;
  EXPECT_EQ(Explore(o, body).failures, 0u);
}

TEST(Explore, CatchesALockOrderDeadlock) {
  ExploreReport r = FoundAndReproduced("LockOrder", LockOrder, "deadlock");
  EXPECT_THAT(r.failure, ::testing::HasSubstr("Semaphore"));
}

TEST(Explore, CatchesALostWakeup) { FoundAndReproduced("LostWakeup", LostWakeup, "deadlock"); }

TEST(Explore, CatchesATimeoutRacingAReply) {
  FoundAndReproduced("TimeoutRace", TimeoutRacesReply, "a stale reply was taken for a new one");
}

TEST(Explore, CatchesGreenletsStillAliveWhenTheBodyReturns) {
  auto body = [] {
    auto forgotten = spawn([] { sleep(absl::Seconds(5)); });
    forgotten->set_name("forgotten");
    sleep(Milliseconds(1));
  };
  ExploreReport r = Explore(Quiet("Alive", 3), body);
  ASSERT_EQ(r.failures, 1u);
  EXPECT_THAT(r.failure, ::testing::HasSubstr("still alive when the body returned"));
  EXPECT_THAT(r.failure, ::testing::HasSubstr("forgotten is blocked in sleep"));
}

TEST(Explore, CatchesADeadlockLeftBehindByTheBody) {
  auto body = [] {
    auto waiter = spawn([] {
      Event never;
      never.wait();
    });
    waiter->set_name("waiter");
    sleep(Milliseconds(1));
  };
  ExploreReport r = Explore(Quiet("LeftBlocked", 3), body);
  ASSERT_EQ(r.failures, 1u);
  EXPECT_THAT(r.failure, ::testing::HasSubstr("deadlock: greenlets blocked with nothing left to run"));
  EXPECT_THAT(r.failure, ::testing::HasSubstr("waiter is blocked in Event.wait"));
}

// Greenlets blocked on the body's own locals when it returns are killed
// after those locals are gone: nothing may touch their memory (run under
// ASan by the suite).
TEST(Explore, KillsGreenletsBlockedOnTheBodysLocalsSafely) {
  auto body = [] {
    Semaphore lock(1);
    Event event;
    Queue<int> queue;
    lock.acquire();
    auto a = spawn([&] { lock.acquire(); });
    auto b = spawn([&] { event.wait(); });
    auto c = spawn([&] { queue.get(); });
    sleep(Milliseconds(1));
  };
  ExploreReport r = Explore(Quiet("Locals", 20), body);
  EXPECT_EQ(r.failures, 1u);
  EXPECT_THAT(r.failure, ::testing::HasSubstr("deadlock"));
}

TEST(Explore, ReportsNondeterminism) {
  // Reads the real clock: the schedule changes between two runs of a seed.
  auto body = [] {
    const auto ns = std::chrono::steady_clock::now().time_since_epoch().count();
    for (int i = 0; i < 1 + (ns / 100) % 97; ++i) sleep(Milliseconds(1));
    std::this_thread::sleep_for(std::chrono::microseconds(3));
  };
  ExploreReport r = Explore(Quiet("Clock", 2 * 64 + 1), body);
  EXPECT_TRUE(r.nondeterministic);
  EXPECT_THAT(r.failure, ::testing::HasSubstr("determinism bug: seed "));
  EXPECT_THAT(r.failure, ::testing::HasSubstr("split"));
}

// ---- the trace and the shrunk schedule

TEST(Explore, SavesATraceThatReplaysTheFailure) {
  const ExploreOptions o = Quiet("LockOrderTrace");
  ExploreReport r = Explore(o, LockOrder);
  ASSERT_TRUE(r.first_failing_seed.has_value());
  ASSERT_EQ(r.trace_paths.size(), 2u) << r.text;
  for (const std::string& path : r.trace_paths) {
    ExploreOptions replay = Quiet("LockOrderReplay");
    replay.replay = path;
    ExploreReport again = Explore(replay, LockOrder);
    EXPECT_EQ(again.failures, 1u) << path;
    EXPECT_THAT(again.failure, ::testing::HasSubstr("deadlock")) << path;
    EXPECT_THAT(again.replay_status, ::testing::StartsWith("identical")) << path;
  }
}

TEST(Explore, ShrinksToTheDecisionsThatMatter) {
  const ExploreOptions o = Quiet("LockOrderShrink");
  ExploreReport r = Explore(o, LockOrderInNoise);
  ASSERT_TRUE(r.first_failing_seed.has_value());
  // Jitter at every timer start: hundreds of decisions off the default;
  // one tie (or one timer late) is enough to deadlock.
  EXPECT_GE(r.decisions, 300u);
  ASSERT_FALSE(r.shrunk_decisions.empty()) << r.text;
  EXPECT_LE(r.shrunk_decisions.size(), 2u) << r.text;
  EXPECT_THAT(r.text, ::testing::HasSubstr("Shrunk: "));
  EXPECT_THAT(r.shrunk_decisions[0], ::testing::HasSubstr("t="));
}

TEST(Explore, DrawsTheShrunkRunWithItsDecisiveDecisionsMarked) {
  const ExploreOptions o = Quiet("LockOrderPicture");
  ExploreReport r = Explore(o, LockOrderInNoise);
  ASSERT_FALSE(r.shrunk_decisions.empty()) << r.text;
  ASSERT_FALSE(r.timeline_path.empty()) << r.text;
  EXPECT_THAT(r.text, ::testing::HasSubstr("Picture: " + r.timeline_path));
  EXPECT_THAT(r.timeline_path, ::testing::EndsWith(".svg"));
  std::ifstream in(r.timeline_path, std::ios::binary);
  const std::string svg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(svg, ::testing::StartsWith("<?xml"));
  EXPECT_THAT(svg, ::testing::EndsWith("</svg>\n"));
  // Each shrunk decision, in words, as a mark (the SVG escapes nothing in
  // these words).
  for (const std::string& d : r.shrunk_decisions) {
    EXPECT_THAT(svg, ::testing::HasSubstr("decisive: " + d));
  }
  EXPECT_THAT(svg, ::testing::HasSubstr("FAILURE at record"));
}

// `gtrace diff` of the default order's trace against the shrunk one stops
// at a decisive decision: there the default took option 0, the shrunk run
// another.
TEST(Explore, DiffOfTheDefaultOrderStopsAtTheDecisiveDecision) {
  ExploreReport r = Explore(Quiet("LockOrderDiff"), LockOrderInNoise);
  ASSERT_FALSE(r.shrunk_decisions.empty()) << r.text;
  ASSERT_FALSE(r.default_trace_path.empty()) << r.text;
  EXPECT_THAT(r.text, ::testing::HasSubstr("Compare: gtrace diff " + r.default_trace_path));
  trace::TraceReader a, b;
  ASSERT_TRUE(a.Open(r.default_trace_path)) << a.error();
  ASSERT_TRUE(b.Open(r.trace_paths.back())) << b.error();
  std::ostringstream out, err;
  EXPECT_EQ(trace::Diff(a, b, out, err), 1) << err.str();
  std::string expected, actual;
  for (absl::string_view line : absl::StrSplit(out.str(), '\n')) {
    if (expected.empty() && absl::StartsWith(line, "  expected: ")) expected = std::string(line);
    if (actual.empty() && absl::StartsWith(line, "  actual: ")) actual = std::string(line);
  }
  EXPECT_THAT(expected, ::testing::HasSubstr("decision ")) << out.str();
  EXPECT_THAT(expected, ::testing::HasSubstr(": option 0 of ")) << out.str();
  EXPECT_THAT(actual, ::testing::HasSubstr("decision ")) << out.str();
  EXPECT_THAT(actual, ::testing::Not(::testing::HasSubstr(": option 0 of "))) << out.str();
}

TEST(Explore, AFailedAssertionIsANoteInTheTrace) {
  ExploreOptions o = Quiet("AssertionNote");
  o.shrink = false;
  ExploreReport r = Explore(o, [] {
    auto g = spawn([] {
      sleep(absl::Milliseconds(1));
      EXPECT_EQ(1, 2) << "one is not two";
    });
    g->join();
  });
  ASSERT_EQ(r.trace_paths.size(), 1u) << r.text;
  trace::TraceReader reader;
  ASSERT_TRUE(reader.Open(r.trace_paths[0])) << reader.error();
  trace::Event e;
  std::string note;
  while (reader.Next(&e)) {
    if (e.kind == HubEventKind::kNote) note = e.text;
  }
  EXPECT_THAT(note, ::testing::StartsWith(trace::kFailureNotePrefix));
  EXPECT_THAT(note, ::testing::HasSubstr("one is not two"));
}

// ---- strategies

uint64_t RunsToFirstFailure(const std::string& strategy, void (*body)(), uint64_t budget,
                            absl::Duration jitter) {
  ExploreOptions o = Quiet("Strategy", budget);
  o.strategy = strategy;
  o.max_jitter = jitter;
  o.save_trace = false;
  o.shrink = false;
  ExploreReport r = Explore(o, body);
  return r.first_failing_seed.has_value() ? r.runs : 0;
}

TEST(Explore, PctFindsADepthThreeBugRandomDoesNot) {
  const uint64_t budget = 400;
  const uint64_t pct = RunsToFirstFailure("pct:3", DepthThree, budget, absl::ZeroDuration());
  const uint64_t random = RunsToFirstFailure("random", DepthThree, budget, absl::ZeroDuration());
  printf("depth-3 bug, runs to the first failure (0: none in %llu): pct:3 %llu, random %llu\n",
         static_cast<unsigned long long>(budget), static_cast<unsigned long long>(pct),
         static_cast<unsigned long long>(random));
  ASSERT_GT(pct, 0u) << "pct:3 did not find it in " << budget << " runs";
  // At most a tenth of random's runs: random needs more than the budget.
  EXPECT_TRUE(random == 0 || random >= 10 * pct) << "random " << random << ", pct " << pct;
}

TEST(Explore, EveryStrategyFindsTheSimpleRaces) {
  for (const char* s : {"random", "ties", "pct:2", "pct:3", "swarm"}) {
    for (auto* body : {&LostUpdate, &LostWakeup, &LockOrder}) {
      const uint64_t runs = RunsToFirstFailure(s, body, 300, Milliseconds(3));
      EXPECT_GT(runs, 0u) << s;
    }
  }
}

// Three sleepers due at the same instant: 3! orders of their wake-ups.
std::vector<int> ThreeTies() {
  std::vector<int> order;
  GreenletList gs;
  for (int id = 1; id <= 3; ++id) {
    gs.push_back(spawn([&order, id] {
      sleep(Milliseconds(1));
      order.push_back(id);
    }));
  }
  joinall(gs);
  return order;
}

TEST(Explore, TiesTriesEveryOrderWhenThereAreFew) {
  ExploreOptions o = Quiet("Ties", 100);
  o.strategy = "ties";
  std::set<std::vector<int>> seen;
  ExploreReport r = Explore(o, [&] { seen.insert(ThreeTies()); });
  EXPECT_TRUE(r.every_order_tried);
  EXPECT_EQ(r.runs, 6u);
  EXPECT_EQ(seen.size(), 6u);
  EXPECT_EQ(r.failures, 0u);
}

TEST(Explore, TiesFindsTheOneBadOrderAndItsSeedReproducesIt) {
  ExploreOptions o = Quiet("TiesBadOrder", 100);
  o.strategy = "ties";
  auto body = [] {
    const std::vector<int> order = ThreeTies();
    EXPECT_NE(order, (std::vector<int>{3, 1, 2})) << "the bad order";
  };
  ExploreReport r = Explore(o, body);
  ASSERT_EQ(r.failures, 1u) << r.text;
  EXPECT_LE(r.runs, 6u);
  EXPECT_EQ(Again(o, r, body).failure, r.failure);
  ExploreOptions beyond = o;
  beyond.seed = 7;  // only seeds 1..6 exist
  EXPECT_THROW(Explore(beyond, body), std::invalid_argument);
}

TEST(Explore, TiesMovesNoTimer) {
  // A bug that needs a timer late: ties cannot find it, random can.
  auto body = [] {
    std::vector<int> order;
    auto a = spawn([&] { sleep(Milliseconds(2)); order.push_back(1); });
    auto b = spawn([&] { sleep(Milliseconds(3)); order.push_back(2); });
    joinall(GreenletList{a, b});
    EXPECT_EQ(order.front(), 1);
  };
  EXPECT_EQ(RunsToFirstFailure("ties", body, 100, Milliseconds(3)), 0u);
  EXPECT_GT(RunsToFirstFailure("random", body, 100, Milliseconds(3)), 0u);
}

TEST(Explore, CountsDistinctInterleavings) {
  ExploreOptions o = Quiet("Interleavings", 100);
  o.strategy = "ties";
  ExploreReport r = Explore(o, [] {
    GreenletList gs;
    for (int i = 0; i < 3; ++i) gs.push_back(spawn([] { sleep(Milliseconds(1)); }));
    joinall(gs);
  });
  // Three timers due together: 3! orders of their switches.
  EXPECT_EQ(r.distinct_interleavings, 6u);
}

TEST(Explore, BadOptionsAreClearErrors) {
  ExploreOptions o = Quiet("Bad", 1);
  o.strategy = "pct:0";
  EXPECT_THROW(
      {
        try {
          Explore(o, [] {});
        } catch (const std::invalid_argument& e) {
          EXPECT_THAT(e.what(), ::testing::HasSubstr("pct:D"));
          throw;
        }
      },
      std::invalid_argument);
  o.strategy = "dfs";
  EXPECT_THROW(Explore(o, [] {}), std::invalid_argument);
  o.strategy = "random";
  EXPECT_THROW(Explore(o, nullptr), std::invalid_argument);
  o.shard_count = 2;
  o.shard_index = 2;
  EXPECT_THROW(Explore(o, [] {}), std::invalid_argument);
}

TEST(Explore, ShardsCoverDisjointSeedsWhoseUnionIsTheWhole) {
  std::set<uint64_t> all;
  size_t total = 0;
  for (uint64_t shard = 0; shard < 3; ++shard) {
    ExploreOptions o = Quiet("Shard", 10);
    o.shard_index = shard;
    o.shard_count = 3;
    ExploreReport r = Explore(o, [] { sleep(Milliseconds(1)); });
    total += r.seeds.size();
    all.insert(r.seeds.begin(), r.seeds.end());
  }
  EXPECT_EQ(total, 30u);
  EXPECT_EQ(all.size(), 30u) << "two shards ran the same seed";
  EXPECT_EQ(*all.begin(), 1u);
  EXPECT_EQ(*all.rbegin(), 30u) << "the union is not the whole";
}

TEST(Explore, PrintsASummaryLineAtTheEnd) {
  ExploreOptions o = Quiet("Summary", 5);
  o.print = true;
  ::testing::internal::CaptureStderr();
  Explore(o, [] { sleep(Milliseconds(1)); });
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, ::testing::HasSubstr("[ EXPLORE ] Summary: 5 runs"));
  EXPECT_THAT(err, ::testing::HasSubstr("0 failures"));
  EXPECT_THAT(err, ::testing::HasSubstr("distinct interleavings"));
  EXPECT_THAT(err, ::testing::Not(::testing::HasSubstr("\r"))) << "a progress line off a terminal";
}

// On a terminal, the progress line shows (rewritten in place with '\r')
// once progress_after has passed, then the final line replaces it.
TEST(Explore, ShowsAProgressLineOnATerminal) {
  int master = -1, slave = -1;
  if (openpty(&master, &slave, nullptr, nullptr, nullptr) != 0) {
    GTEST_SKIP() << "no pseudo-terminal here";
  }
  fflush(stderr);
  const int saved = dup(2);
  dup2(slave, 2);
  ExploreOptions o = Quiet("Progress", 256);
  o.print = true;
  o.progress_after = absl::ZeroDuration();
  Explore(o, [] { sleep(Milliseconds(1)); });
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(slave);
  std::string tty;
  char buf[4096];
  fcntl(master, F_SETFL, O_NONBLOCK);
  for (ssize_t n; (n = read(master, buf, sizeof buf)) > 0;) tty.append(buf, static_cast<size_t>(n));
  close(master);
  EXPECT_THAT(tty, ::testing::HasSubstr("\r[ EXPLORE ] Progress: 64 runs (")) << tty;
  EXPECT_THAT(tty, ::testing::HasSubstr("\r[ EXPLORE ] Progress: 256 runs (")) << tty;
  EXPECT_THAT(tty, ::testing::HasSubstr("(+")) << "no recent coverage: " << tty;
}

TEST(Explore, ReportsCoverageRunByRun) {
  ExploreReport r = Explore(Quiet("Coverage", 100), LostUpdate);
  ASSERT_EQ(r.coverage.size(), r.runs);
  EXPECT_EQ(r.coverage.front(), 1u);
  EXPECT_EQ(r.coverage.back(), r.distinct_interleavings);
  for (size_t i = 1; i < r.coverage.size(); ++i) {
    EXPECT_GE(r.coverage[i], r.coverage[i - 1]);
    EXPECT_LE(r.coverage[i], r.coverage[i - 1] + 1);
  }
}

// ---- the macro

GEVENT_SIM_TEST(ExploreMacro, RunsItsBodyUnderManySchedules) {
  auto g = spawn([] { sleep(Milliseconds(1)); return 1; });
  EXPECT_EQ(g->get(), 1);
}

void FailingBody() {
  int x = 0;
  auto a = spawn([&] { sleep(Milliseconds(1)); x = 1; });
  auto b = spawn([&] { sleep(Milliseconds(1)); EXPECT_EQ(x, 1) << "b before a"; });
  joinall(GreenletList{a, b});
}

TEST(ExploreMacro, AFailingScheduleFailsTheTestOnceWithTheReport) {
  EXPECT_NONFATAL_FAILURE(internal::RunSimTest("ExploreMacro", "Failing", &FailingBody),
                          "Repro:  GEVENT_SEED=");
}

}  // namespace
}  // namespace testing
}  // namespace gevent
