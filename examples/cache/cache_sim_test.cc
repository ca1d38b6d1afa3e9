// The cache on the simulated network, under the explorer:
// - as shipped, the explorer finds the stale read (within 1,000 schedules),
//   shrinks it to a handful of decisions and names them;
// - with the fix (CacheOptions::guard_fills), the same exploration passes.
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/str_join.h"
#include "examples/cache/scenario.h"
#include "testing/explore.h"

namespace {

using gevent::testing::Explore;
using gevent::testing::ExploreOptions;
using gevent::testing::ExploreReport;

void Race() { cache::ReadsSeeAcknowledgedWrites(/*guard_fills=*/false); }

ExploreOptions Options() {
  ExploreOptions o;
  o.name = "CacheRace.ReadsSeeAcknowledgedWrites";
  o.runs = 1000;
  o.use_environment = false;
  o.print = false;
  o.trace_dir = ::testing::TempDir();
  return o;
}

// What tools/demo.sh shows: found, shrunk, saved, drawn, replayed.
TEST(CacheRace, TheExplorerFindsTheStaleReadShrinksItAndReplaysIt) {
  const ExploreReport r = Explore(Options(), Race);
  ASSERT_EQ(r.failures, 1u) << "not found in " << r.runs << " schedules";
  EXPECT_NE(r.failure.find("a stale read"), std::string::npos) << r.failure;
  ASSERT_FALSE(r.shrunk_decisions.empty());
  EXPECT_LE(r.shrunk_decisions.size(), 10u) << absl::StrJoin(r.shrunk_decisions, "\n");
  // The decisive decisions are the network's, named by their hosts.
  EXPECT_NE(absl::StrJoin(r.shrunk_decisions, "\n").find("store -> cache"), std::string::npos)
      << absl::StrJoin(r.shrunk_decisions, "\n");
  EXPECT_FALSE(r.timeline_path.empty()) << r.text;

  ASSERT_EQ(r.trace_paths.size(), 2u) << r.text;
  for (const std::string& trace : r.trace_paths) {
    ExploreOptions replay = Options();
    replay.replay = trace;
    const ExploreReport again = Explore(replay, Race);
    EXPECT_EQ(again.failures, 1u) << trace;
    EXPECT_NE(again.failure.find("a stale read"), std::string::npos) << again.failure;
    EXPECT_EQ(again.replay_status.rfind("identical", 0), 0u) << again.replay_status;
  }
}

// The default schedule (seed 0's order: base latencies, no jitter) does not
// show the race: it takes the seed's choices.
TEST(CacheRace, TheDefaultScheduleDoesNotShowIt) {
  ExploreOptions o;
  o.name = "CacheRace.Default";
  o.seed = 0;
  o.use_environment = false;
  o.print = false;
  const ExploreReport r = Explore(o, [] { cache::ReadsSeeAcknowledgedWrites(false); });
  EXPECT_EQ(r.failures, 0u) << r.text;
}

}  // namespace

GEVENT_SIM_TEST(CacheFixed, ReadsSeeAcknowledgedWrites) {
  cache::ReadsSeeAcknowledgedWrites(/*guard_fills=*/true);
}
