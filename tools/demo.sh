#!/usr/bin/env bash
# The README's first command. Installs what is missing, builds, then shows
# the whole loop on a real service (examples/cache: a cache with request
# coalescing in front of a slow store, over TCP):
#   1. the service on epoll, serving real connections; its ordinary tests pass
#   2. the explorer runs it on a simulated network until a schedule breaks
#      its promise, and prints the seed, a repro line and the trace
#   3. the shrunk schedule: the decisions that cause the bug, in words
#   4. the saved trace replayed: identical, with the same failure
#   5. a timeline picture (SVG) of the failing run, the decisive event marked
#   6. the fix, and the same exploration passing
# Files go to $GEVENT_DEMO_DIR (default /tmp/geventpp-demo).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh

out=${GEVENT_DEMO_DIR:-/tmp/geventpp-demo}
runs=${GEVENT_RUNS:-1000}
rm -rf "$out"
mkdir -p "$out"

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }

bold "Building (the first build takes a few minutes)..."
bazel build --ui_event_filters=-info,-stdout,-stderr --noshow_progress \
  //examples/cache:cache_service //examples/cache:cache_test \
  //examples/cache:cache_race_test //traces:gtrace
bin=$(bazel info bazel-bin 2>/dev/null)
race_test=$bin/examples/cache/cache_race_test
start=$(date +%s)

bold "1. The service on epoll: a store (1 ms a request), a cache in front of it, 20 clients"
"$bin/examples/cache/cache_service" demo --seconds 3 | sed 's/^/   /'
say "Its ordinary tests (examples/cache/cache_test.cc), on the epoll hub and the simulated one:"
"$bin/examples/cache/cache_test" --gtest_brief=1 2>&1 | grep -E '^\[  (PASSED|FAILED)' | sed 's/^/   /'

bold "2. Exploring schedules on a simulated network (GEVENT_SIM_TEST, examples/cache/scenario.cc)"
say "Hosts store, cache, reader-a, reader-b, writer; every latency, split send and timer"
say "is a seeded decision. The promise checked: a GET that starts after a SET was"
say "acknowledged returns that value or a newer one."
echo
report=$out/report.txt
# The repro line names the Bazel target, as `bazel test` would.
set +e
TMPDIR=$out GEVENT_RUNS=$runs TEST_TARGET=//examples/cache:cache_race_test \
  "$race_test" --gtest_filter='CacheRace.*' >"$out/explore.log" 2>&1
set -e
sed -n '/^\[ EXPLORE \]/p; /^\[ RACE/,/^  Trace:/p' "$out/explore.log" | sed 's/^/   /' | tee "$report"
grep -q '^\[ RACE' "$out/explore.log" || { echo "demo: the explorer found nothing (see $out/explore.log)"; exit 1; }

bold "3. The shrunk schedule: what it takes to break the promise"
sed -n '/^  Shrunk:/,/^  Picture:/p' "$out/explore.log" | grep -v '^  Picture:' | sed 's/^/ /'
say "That is the race: the cache read user:1 from the store; the writer's SET reached"
say "the store after that read, was applied and acknowledged. The read's answer, held"
say "up on the network, came back after the acknowledgement: the cache kept the value"
say "from before the write, and served it to every later GET."

bold "4. Replaying the saved trace"
trace=$(sed -n 's/^  Trace:  //p' "$out/explore.log")
set +e
GEVENT_REPLAY=$trace "$race_test" --gtest_filter='CacheRace.*' >"$out/replay.log" 2>&1
set -e
grep -E '^  Replay:|a stale read' "$out/replay.log" | sed 's/^ */   /'
say "(GEVENT_REPLAY=$trace runs it again under a debugger the same way;"
say " bazel run //traces:gtrace -- dump $trace lists every event)"

bold "5. The picture of the failing run"
svg=$(sed -n 's/^  Picture: //p' "$out/explore.log")
say "$svg"
say "One lane per greenlet (named after its host or client); the purple band is the"
say "decisive decision, the red cross the failed check. Open it in a browser."

bold "6. The fix (CacheOptions::guard_fills, examples/cache/cache.cc)"
sed -n '/if (options_.guard_fills) {/,/^  }$/p' examples/cache/cache.cc | sed 's/^/   /'
say "plus, where the read comes back: if (!fill->stale) ... keep the value."
echo
TMPDIR=$out GEVENT_RUNS=$runs "$race_test" --gtest_filter='CacheFixed.*' 2>&1 |
  grep -E '^\[ EXPLORE \]|^\[ RACE' | sed 's/^/   /'
say "The same $runs schedules, the same seeds: no stale read."

bold "Done in $(($(date +%s) - start)) s after the build. Files: $out"
