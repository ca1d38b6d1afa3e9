#!/usr/bin/env bash
# Instructions per operation of the hot paths, exact (callgrind), for
# comparing two builds: bench/instruction_counts.cc says what each workload
# is. Usage: bench/instruction_counts.sh [WORKLOAD...]
set -euo pipefail
cd "$(dirname "$0")/.."
bazel build -c opt --noshow_progress //bench:instruction_counts >&2
bin=bazel-bin/bench/instruction_counts
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
count() {  # workload n -> instructions of the whole run
  valgrind --tool=callgrind --callgrind-out-file="$tmp/out" "$bin" "$1" "$2" \
    2>&1 | sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] ||
  workloads=(yield_sim yield_epoll event_sim event_epoll dense_sim dense_epoll dense_epoll_recorded
             echo_epoll echo_epoll_recorded)
for w in "${workloads[@]}"; do
  case $w in dense*) n=20000 ;; *) n=100000 ;; esac
  a=$(count "$w" "$n")
  b=$(count "$w" $((2 * n)))
  awk -v w="$w" -v a="$a" -v b="$b" -v n="$n" \
    'BEGIN { printf "%-22s %8.1f instructions/op\n", w, (b - a) / n }'
done
