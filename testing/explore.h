// Schedule exploration: run a test body under many schedules on the
// simulator, fail loudly, and print a line that reproduces the failure.
//
// example-prelude: struct Cache { void put(const char*, int); int get(const char*); };
//   #include "testing/explore.h"
//
//   GEVENT_SIM_TEST(Cache, NoStaleRead) {     // a GoogleTest test
//     Cache cache;
//     auto writer = gevent::spawn([&] { cache.put("k", 2); });
//     auto reader = gevent::spawn([&] { EXPECT_NE(cache.get("k"), 1); });
//     gevent::joinall({writer, reader});
//   }
//
// The body runs once per schedule, each time on a fresh simulated hub
// (virtual time, seeded decisions), from its main greenlet: it is ordinary
// code, the same that runs on epoll. A run fails on
//   - a gtest assertion failing in the body or in any greenlet;
//   - an exception escaping the body, or an error escaping a greenlet
//     (unless ExploreOptions::expect_greenlet_errors);
//   - a deadlock: LoopExit in the body (the main greenlet blocked with
//     nothing left to wake it), or greenlets blocked when the body returns
//     and nothing is left to run;
//   - greenlets still alive (blocked, or not yet run) when the body
//     returns. The harness kills them.
//   - nondeterminism: the failing seed is run again, and every 64th passing
//     one: a different event hash is reported as a determinism bug.
// The first failing schedule is run again with a recorder (the trace, which
// replays with GEVENT_REPLAY= or `gtrace`), then shrunk: the fewest of its
// decisions that differ from the default order and still fail the same
// way, printed in words and saved as a second trace, with a timeline
// picture (SVG) of it where those decisions and the failure are marked.
//
// Environment (each overrides the option's default; a bad value is an
// error that names it):
// example: skip (environment variables)
//   GEVENT_RUNS=N              how many schedules (default 300)
//   GEVENT_EXPLORE_TIME=30s    a wall-clock budget instead of a count
//   GEVENT_STRATEGY=random|ties|pct:D|swarm  (ties: seeds 1-256 walk every order)
//   GEVENT_SEED=N              run exactly that schedule
//   GEVENT_REPLAY=path.gtrace  run the schedule of a trace
// Under Bazel sharding (TEST_TOTAL_SHARDS, TEST_SHARD_INDEX), each shard
// explores its own slice of the seeds: shard i of n runs seeds
// first_seed + i, first_seed + i + n, ... (see docs/testing.md). Sharded
// binaries should hold only GEVENT_SIM_TESTs: every test of the binary runs
// in every shard.
#ifndef GEVENTPP_TESTING_EXPLORE_H_
#define GEVENTPP_TESTING_EXPLORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/time.h"

namespace gevent {
namespace testing {

struct ExploreOptions {
  // For messages and file names ("Suite.Name"); GEVENT_SIM_TEST sets it.
  std::string name = "explore";
  // How many schedules; 0: GEVENT_RUNS, else 300.
  uint64_t runs = 0;
  // A wall-clock budget instead of a count (GEVENT_EXPLORE_TIME).
  absl::Duration time_budget = absl::ZeroDuration();
  // "random" (default), "ties", "pct:D", "swarm" (GEVENT_STRATEGY).
  std::string strategy;
  // Run exactly this seed (GEVENT_SEED).
  std::optional<uint64_t> seed;
  // Run the schedule of this trace (GEVENT_REPLAY).
  std::string replay;
  // The first seed of a sweep.
  uint64_t first_seed = 1;
  // The most a timer may fire late, for strategies that move timers.
  absl::Duration max_jitter = absl::Milliseconds(3);
  // Errors escaping greenlets are expected: they do not fail a run.
  bool expect_greenlet_errors = false;
  // Stop at the first failing schedule (else count every failure).
  bool stop_at_first_failure = true;
  // On failure: record its trace, and shrink it.
  bool save_trace = true;
  bool shrink = true;
  // Where traces go; "": TEST_UNDECLARED_OUTPUTS_DIR, else TMPDIR or /tmp.
  std::string trace_dir;
  // This shard's slice of the seeds; shard_count 0: from the environment.
  uint64_t shard_index = 0;
  uint64_t shard_count = 0;
  // Read GEVENT_* and the sharding variables (tests of the harness turn it
  // off).
  bool use_environment = true;
  // Print the progress line and the failure report on stderr.
  bool print = true;
  // When stderr is a terminal, the progress line shows after this long,
  // then updates 4 times a second; elsewhere only the final line is
  // printed.
  absl::Duration progress_after = absl::Seconds(2);
};

struct ExploreReport {
  uint64_t runs = 0;
  uint64_t failures = 0;
  // Distinct interleavings: distinct orders of switches between greenlets.
  uint64_t distinct_interleavings = 0;
  // Coverage, run by run: coverage[i] is the distinct interleavings seen
  // in the first i + 1 runs. When it stops growing, more seeds of this
  // strategy stop finding new orders.
  std::vector<uint64_t> coverage;
  // Strategy ties: the walk over every order of the ties ended within the
  // budget: every order was tried (runs is how many there are).
  bool every_order_tried = false;
  // Every seed run, in order.
  std::vector<uint64_t> seeds;
  std::optional<uint64_t> first_failing_seed;
  // What failed (one or more lines), and at what virtual time.
  std::string failure;
  absl::Duration failure_time = absl::ZeroDuration();
  // The strategy as given to GEVENT_STRATEGY.
  std::string strategy;
  // The command line that runs the failing schedule again.
  std::string repro;
  // The failing run's trace and the shrunk one (empty if not saved).
  std::vector<std::string> trace_paths;
  // A timeline picture (SVG) of the shrunk run, its decisive decisions
  // marked, next to its trace ("" if not saved).
  std::string timeline_path;
  // The default order's trace (it passes), when the shrunk schedule has
  // decisions: `gtrace diff` of it against the shrunk trace stops at the
  // first decisive decision.
  std::string default_trace_path;
  // Decisions of the failing run, and of the shrunk schedule, in words.
  uint64_t decisions = 0;
  std::vector<std::string> shrunk_decisions;
  // What shrinking took: runs of the body, and wall time.
  uint64_t shrink_runs = 0;
  absl::Duration shrink_time = absl::ZeroDuration();
  // The failing seed gave another event hash when run again.
  bool nondeterministic = false;
  // GEVENT_REPLAY: how the replay went ("identical", a divergence...).
  std::string replay_status;
  // The whole report as printed ("[ RACE  ] ..."), or "" if nothing failed.
  std::string text;
};

// Runs `body` under many schedules (see above) and says how it went.
// Throws std::invalid_argument for a bad option or environment value.
ExploreReport Explore(const ExploreOptions& options, std::function<void()> body);

namespace internal {
// GEVENT_SIM_TEST's test body: explores, and fails the current test with
// the report if a schedule failed.
void RunSimTest(const char* suite, const char* name, void (*body)());
}  // namespace internal

}  // namespace testing
}  // namespace gevent

// Defines a GoogleTest test, Suite.Name, whose body runs under many
// schedules on the simulator (see above).
#define GEVENT_SIM_TEST(Suite, Name)                                        \
  static void GeventSimTestBody_##Suite##_##Name();                         \
  TEST(Suite, Name) {                                                       \
    ::gevent::testing::internal::RunSimTest(#Suite, #Name,                  \
                                            &GeventSimTestBody_##Suite##_##Name); \
  }                                                                         \
  static void GeventSimTestBody_##Suite##_##Name()

#endif  // GEVENTPP_TESTING_EXPLORE_H_
