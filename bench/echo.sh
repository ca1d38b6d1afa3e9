#!/usr/bin/env bash
# TCP echo round trips per second: examples/echo_server (a StreamServer
# handler doing recv then sendall) against the raw epoll reference server of
# ../shared/bench/echo, at 1, 10 and 100 connections with 64-byte messages.
#
#   bench/echo.sh [SECS] [ROUNDS]     # defaults: 3 s per point, 3 rounds
#   bench/echo.sh --peers [SECS]      # the shared run.sh table: raw epoll,
#                                     # Asio, Go, gevent and geventpp
#   bench/echo.sh --recorded [SECS] [ROUNDS]
#                                     # what recording costs: the server
#                                     # linked with //traces, plain against
#                                     # itself under GEVENT_TRACE (socket
#                                     # calls and every byte received)
#
# This machine's speed drifts by tens of percent within a minute, so the two
# servers run side by side and each point alternates them (raw, geventpp,
# raw, ...; which goes first alternates by round); the ratios are per
# round, the table shows every round: round trips per second, and the
# server's CPU time (all its threads) per round trip. Server on
# core 0, load client on core 1. Installs the peers' packages if missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
shared="${GEVENT_ECHO_DIR:-$here/../../shared/bench/echo}"
if [ ! -f "$shared/load.cc" ]; then
  echo "echo.sh: no echo load client in $shared (set GEVENT_ECHO_DIR)" >&2
  exit 2
fi
if [ "${1:-}" = "--peers" ]; then
  tools/setup.sh golang-go libasio-dev python3-gevent
  bazel build -c opt //examples:echo_server >&2
  server="$(bazel info -c opt bazel-bin 2>/dev/null)/examples/echo_server"
  exec "$shared/run.sh" "${2:-3}" "geventpp=$server {PORT}"
fi
recorded=0
if [ "${1:-}" = "--recorded" ]; then
  recorded=1
  shift
fi
secs=${1:-3}
rounds=${2:-3}
target=echo_server
[ $recorded = 1 ] && target=echo_server_traced
bazel build -c opt //examples:$target >&2
server="$(bazel info -c opt bazel-bin 2>/dev/null)/examples/$target"
out=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$out"' EXIT
g++ -O2 -o "$out/load" "$shared/load.cc"
if [ $recorded = 1 ]; then
  # The same binary twice: plain, and recording (about 120 bytes of trace
  # a round trip, into the temporary directory).
  taskset -c 0 "$server" 19801 >/dev/null 2>&1 &
  pids=($!)
  GEVENT_TRACE="$out/echo.gtrace" taskset -c 0 "$server" 19802 >/dev/null 2>&1 &
  pids+=($!)
  labels=(plain recorded)
else
  g++ -O2 -o "$out/raw" "$shared/raw_epoll_server.cc"
  taskset -c 0 "$out/raw" 19801 >/dev/null 2>&1 &
  pids=($!)
  taskset -c 0 "$server" 19802 >/dev/null 2>&1 &
  pids+=($!)
  labels=(raw-epoll geventpp)
fi
sleep 0.7
# Prints the round trips per second of the server on port $1 (process $3)
# with $2 connections, and its CPU time (all its threads) per round trip
# in microseconds.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
rate() {
  local pid=$3 before after rt
  before=$(cpu_ticks "$pid")
  rt=$(taskset -c 1 "$out/load" "$1" "$2" 64 "$secs" | awk '{print $1}')
  after=$(cpu_ticks "$pid")
  awk -v t=$((after - before)) -v hz="$hz" -v rt="$rt" -v s="$secs" \
    'BEGIN { printf "%s %.2f\n", rt, (rt > 0 ? t * 1e6 / hz / (rt * s) : 0) }'
}
# Two figures per round: round trips per second (ratio: b over a) and the
# server's CPU per round trip (ratio: a over b, so that above 100% is
# again b ahead). The order alternates by round, so drift cancels.
printf '%-6s %-6s %12s %12s %7s %9s %9s %7s\n' conns round "${labels[0]}" "${labels[1]}" ratio \
  "cpu-us" "cpu-us" ratio
for c in ${CONNS:-1 10 100}; do
  for ((r = 1; r <= rounds; ++r)); do
    if (( r % 2 )); then
      read -r a a_cpu < <(rate 19801 "$c" "${pids[0]}")
      read -r b b_cpu < <(rate 19802 "$c" "${pids[1]}")
    else
      read -r b b_cpu < <(rate 19802 "$c" "${pids[1]}")
      read -r a a_cpu < <(rate 19801 "$c" "${pids[0]}")
    fi
    printf '%-6s %-6s %12s %12s %6.1f%% %9s %9s %6.1f%%\n' "$c" "$r" "$a" "$b" \
      "$(awk -v x="$b" -v y="$a" 'BEGIN { print 100 * x / y }')" "$a_cpu" "$b_cpu" \
      "$(awk -v x="$a_cpu" -v y="$b_cpu" 'BEGIN { print (y > 0 ? 100 * x / y : 0) }')"
  done
done
