#!/usr/bin/env bash
# Installs what is missing, then runs the whole test suite: once as is and
# once under AddressSanitizer + UndefinedBehaviorSanitizer (skip that with
# GEVENT_SKIP_ASAN=1). Ends with a line "N passed, N failed" (test targets,
# counted per configuration) and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh || exit 1

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

# The lines that say what failed: Bazel's per-target results, and each gtest
# failure with the 4 lines after it (its message).
failure_lines() {
  awk '/: Failure$/ { after = 5 }
       after > 0 { print; after--; next }
       /^\/\/|^(FAIL|ERROR)|Test output for |^\[  FAILED/ { print }'
}

run() {
  echo "== bazel test $* //..." >&2
  # A failing test's own lines (its gtest failures) are shown too, so that a
  # failure that does not repeat can still be read in the CI log.
  bazel test --keep_going --noshow_progress --test_output=errors "$@" //... 2>&1 |
    tee -a "$log" |
    failure_lines >&2
  local rc=${PIPESTATUS[0]}
  # 4 = no tests found; anything else non-zero is a failure.
  if [ "$rc" -ne 0 ]; then status=1; fi
}

run
if [ "${GEVENT_SKIP_ASAN:-0}" != 1 ]; then
  run --config=asan
fi

# examples/consumer is a separate workspace that uses geventpp the way
# another project would (deps.bzl); its test results count here too, as
# //examples/consumer/... lines.
echo "== bazel test //... in examples/consumer" >&2
(cd examples/consumer && bazel test --keep_going --noshow_progress --test_output=errors //... 2>&1) |
  sed -E 's|^//:|//examples/consumer:|' | tee -a "$log" |
  grep -E '^//|^(FAIL|ERROR)|: Failure$|^\[  FAILED' >&2
if [ "${PIPESTATUS[0]}" -ne 0 ]; then status=1; fi

passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")
failed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|FLAKY|INCOMPLETE)|FAILED TO BUILD' "$log")
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
