#!/usr/bin/env bash
# Runs every benchmark in full and prints their tables (README: Performance).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${SCOPEBOX_BUILD_DIR:-$repo/build}
bash "$repo/docker/build.sh" test
ctest --test-dir "$build" -L bench --output-on-failure -V -E '^bench_http$'
cd "$build" && SCOPEBOX_SERVER="$build/scopebox-server" SCOPEBOX_RUNTIME_DIR="$build/runtime" \
  SCOPEBOX_NODE="$(grep -m1 '^SCOPEBOX_NODE:' CMakeCache.txt | cut -d= -f2)" \
  /usr/bin/python3.11 "$repo/tests/bench/http/bench_http.py"
