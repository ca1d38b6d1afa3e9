#!/usr/bin/env bash
# TCP echo round trips per second: examples/echo_server (a StreamServer
# handler doing recv then sendall) beside the reference servers of
# ../shared/bench/echo/run.sh (raw epoll, Asio, Go, gevent), in one run, at
# 1, 10 and 100 connections with 64-byte messages.
#
#   bench/echo.sh [SECS] [ROUNDS]     # defaults: 3 s per point, 2 rounds
#
# The rounds alternate the servers (this machine is noisy); compare figures
# within a round. Installs the peers' packages if missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
secs=${1:-3}
rounds=${2:-2}
runner="${GEVENT_ECHO_RUN:-$here/../../shared/bench/echo/run.sh}"
if [ ! -x "$runner" ]; then
  echo "echo.sh: no load runner at $runner (set GEVENT_ECHO_RUN)" >&2
  exit 2
fi
tools/setup.sh golang-go libasio-dev python3-gevent
bazel build -c opt //examples:echo_server >&2
server="$(bazel info -c opt bazel-bin 2>/dev/null)/examples/echo_server"
for ((r = 1; r <= rounds; ++r)); do
  echo "== round $r"
  "$runner" "$secs" "geventpp=$server {PORT}"
done
