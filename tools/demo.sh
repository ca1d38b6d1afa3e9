#!/usr/bin/env bash
# Installs what is missing, then builds and runs the demo (epoll, then sim).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
bazel run --ui_event_filters=-info,-stdout,-stderr --noshow_progress //examples:demo
