#!/usr/bin/env bash
# Builds (and optionally runs) the libFuzzer target for the trace reader and
# the gtrace commands. Needs clang++; without it this script says so and
# exits 0 (the target is not part of the Bazel build).
#
#   traces/fuzz/build.sh                    # build into $OUT (default /tmp/gevent_trace_fuzz)
#   FUZZ_SECONDS=60 traces/fuzz/build.sh    # build, then fuzz for 60 s
#
# The build defines FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, which makes the
# reader accept records whose checksum does not match, so that the fuzzer
# gets past the checksums into the parsing and the tools.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v clang++ >/dev/null 2>&1; then
  echo "traces/fuzz/build.sh: clang++ is not installed; not building the libFuzzer target" >&2
  exit 0
fi
out=${OUT:-/tmp/gevent_trace_fuzz}
mkdir -p "$out/gen" "$out/corpus"
protoc --cpp_out="$out/gen" traces/trace.proto

srcs=()
for f in runtime/*.cc runtime/internal/*.cc sim/*.cc traces/*.cc traces/internal/*.cc; do
  case "$f" in
    *_test.cc|*_main.cc|traces/test_programs.cc) continue ;;
  esac
  srcs+=("$f")
done
absl_libs=$(grep -o '"-labsl_[a-z0-9_]*"' third_party/system/BUILD.system | tr -d '"' | tr '\n' ' ')

echo "building $out/trace_fuzzer (${#srcs[@]} sources)..." >&2
# shellcheck disable=SC2086
clang++ -std=c++17 -O1 -g -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -DGEVENT_ASAN=1 \
  -I. -I"$out/gen" \
  "${srcs[@]}" "$out/gen/traces/trace.pb.cc" traces/fuzz/trace_fuzzer.cc \
  -lprotobuf -lboost_context $absl_libs -pthread \
  -o "$out/trace_fuzzer"
echo "built $out/trace_fuzzer" >&2

# A seed corpus: traces of the example program, if it was built.
if [ -x bazel-bin/traces/example ] && [ -z "$(ls -A "$out/corpus")" ]; then
  GEVENT_TRACE="$out/corpus/workers_epoll" bazel-bin/traces/example workers >/dev/null
  GEVENT_HUB=sim GEVENT_SEED=3 GEVENT_TRACE="$out/corpus/race_sim" bazel-bin/traces/example race >/dev/null
  GEVENT_HUB=sim GEVENT_TRACE="$out/corpus/failing_sim" bazel-bin/traces/example failing >/dev/null 2>&1
fi

if [ "${FUZZ_SECONDS:-0}" -gt 0 ]; then
  "$out/trace_fuzzer" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=4096 \
    -artifact_prefix="$out/" "$out/corpus"
fi
