#!/usr/bin/env bash
# Installs every Debian package geventpp needs. Idempotent and quiet when
# nothing is missing; safe to re-run. Used by README commands and .ci/run.
# Extra package names given as arguments are installed too (the benchmark
# scripts ask for their peers' packages this way).
set -euo pipefail

PACKAGES=(
  bazel-bootstrap        # Bazel 4.2.3, the build
  g++                    # the compiler (g++ 12 on Debian 12)
  libabsl-dev            # Abseil: time, status, containers, flags
  libgtest-dev           # GoogleTest
  libgmock-dev           # GoogleMock (matchers in tests)
  libbenchmark-dev       # Google Benchmark
  libprotobuf-dev        # Protobuf runtime (traces)
  protobuf-compiler      # protoc
  libboost-context-dev   # Boost.Context: fcontext switch
  valgrind               # valgrind.h (stack registration) and memcheck runs
  "$@"
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
