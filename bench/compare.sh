#!/usr/bin/env bash
# Runs the peer benchmarks (bench/peers/run.sh: gevent, Go, Boost.Fiber) and
# geventpp's own (//bench:hub_bench, //bench:primitives_bench, //runtime:context_bench,
# //bench:sleepers_bench, //bench:sim_bench, built with -c opt) in one go,
# then prints Markdown tables: geventpp side by side with the peers, with
# ratios peer / geventpp (above 1: geventpp is faster or smaller), and every
# geventpp figure against its target.
#
#   bench/compare.sh                 # takes about 6 minutes
#   GEVENT_BENCH_OUT=dir bench/compare.sh   # keep the raw results in dir
#   bench/compare.sh --table dir     # only print the tables of a kept dir
#
# Progress goes to stderr, the tables to stdout. The raw results (peer
# lines, Google Benchmark JSON) stay in the directory named at the end.
# The tables are made by bench/compare_report.py DIR, next to this script.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
log() { printf '[compare] %s\n' "$*" >&2; }

tables_only=0
if [[ "${1:-}" == "--table" ]]; then
  tables_only=1
  out="${2:?usage: bench/compare.sh --table DIR}"
else
  out="${GEVENT_BENCH_OUT:-$(mktemp -d /tmp/geventpp-compare.XXXXXX)}"
  mkdir -p "$out"
fi

if ((!tables_only)); then

# --- machine --------------------------------------------------------------
{
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- runtime sim 2>/dev/null || echo '+dirty')"
  echo "nproc=$(nproc)"
  echo "cpu=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "kernel=$(uname -r)"
  echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/machine.txt"

# --- build ----------------------------------------------------------------
log "building //bench (-c opt)"
bazel build -c opt //bench:hub_bench //bench:primitives_bench //bench:sleepers_bench //bench:sim_bench \
  //runtime:context_bench >&2
bin="$(bazel info -c opt bazel-bin 2>/dev/null)/bench"

# --- peers ----------------------------------------------------------------
log "running the peers (bench/peers/run.sh)"
bench/peers/run.sh > "$out/peers.txt"

# --- geventpp -------------------------------------------------------------
gb() {  # gb <binary> <name> <filter> [more flags]
  local exe="$1" name="$2" filter="$3"
  shift 3
  log "running $exe --benchmark_filter=$filter $*"
  "$bin/$exe" --benchmark_filter="$filter" "$@" \
    --benchmark_out="$out/$name.json" --benchmark_out_format=json >&2
}
# The micro-benchmarks: median of 3 repetitions (the machine may be shared).
gb hub_bench hub . --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
gb primitives_bench primitives . --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
gb ../runtime/context_bench context . --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
# One process per run: the cold and memory figures need a fresh process.
gb sleepers_bench sleepers_epoll 'BM_Sleepers/epoll'
gb sleepers_bench sleepers_sim 'BM_Sleepers/sim'
gb sleepers_bench resident_epoll 'BM_Resident/epoll'
gb sleepers_bench resident_sim 'BM_Resident/sim'
gb sim_bench sim .

echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"
fi

# --- tables ---------------------------------------------------------------
/usr/bin/python3 "$here/compare_report.py" "$out"

log "raw results in $out"
