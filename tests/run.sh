#!/usr/bin/env bash
# The README's test command: installs what the tests need, builds, and runs
# every suite under ctest.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SCOPEBOX_BUILD_DIR:-$repo/build}

bash "$repo/docker/build.sh" test
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" "$@"
