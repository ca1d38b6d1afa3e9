#!/usr/bin/env bash
# Build and run the peer benchmarks (gevent, Go, Boost.Fiber).
# Result lines go to stdout in the form
#   peer=<gevent|go|boost_fiber> bench=<name> value=<number> unit=<ns|s|KiB>
# Everything else (install/build chatter) goes to stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf '[peers] %s\n' "$*" >&2; }

# --- dependencies -----------------------------------------------------------
need_pkgs=(python3-gevent golang-go libboost-fiber-dev g++)
missing=()
for p in "${need_pkgs[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  log "installing missing packages: ${missing[*]}"
  sudo_cmd=()
  if [[ "$(id -u)" -ne 0 ]]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq >&2
  "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >&2
fi

# --- scratch space ----------------------------------------------------------
tmp="$(mktemp -d /tmp/geventpp-peers.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
export GOCACHE="${GOCACHE:-/tmp/gocache}"
export GOPATH="${GOPATH:-$tmp/gopath}"
export GO111MODULE=auto
export GOFLAGS=
mkdir -p "$GOCACHE"

# --- build ------------------------------------------------------------------
log "building go_bench"
(cd "$tmp" && /usr/bin/go build -o "$tmp/go_bench" "$here/go_bench.go") >&2

log "building boost_fiber_bench"
g++ -O2 -std=c++17 -o "$tmp/boost_fiber_bench" "$here/boost_fiber_bench.cc" \
  -lboost_fiber -lboost_context -pthread >&2

/usr/bin/python3 -c 'import gevent' >&2

# --- run --------------------------------------------------------------------
log "nproc=$(nproc)"
log "running gevent"
(cd "$tmp" && /usr/bin/python3 "$here/gevent_bench.py")
log "running go (GOMAXPROCS=1)"
(cd "$tmp" && GOMAXPROCS=1 "$tmp/go_bench")
log "running boost_fiber"
(cd "$tmp" && "$tmp/boost_fiber_bench")
log "done"
