#!/usr/bin/env bash
# Runs the benchmarks behind issue 16's targets in full, prints their tables
# and ends with the targets table (summary.py: each figure, its target, met
# or NOT met). A few minutes on a 2-core machine.
#   bash tests/bench/run.sh          the benches behind the targets
#   bash tests/bench/run.sh --all    also every other bench of the ctest label
# Each bench appends its figures to $SCOPEBOX_BENCH_FIGURES (figures.py); a
# bench that fails leaves its targets "not measured" and the script exits 1
# after the summary.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${SCOPEBOX_BUILD_DIR:-$repo/build}
bash "$repo/docker/build.sh" test || exit 1
figures=$(mktemp "${TMPDIR:-/tmp}/scopebox-figures.XXXXXX")
trap 'rm -f "$figures"' EXIT
export SCOPEBOX_BENCH_FIGURES=$figures
failed=0
if [ "${1:-}" = "--all" ]; then
  ctest --test-dir "$build" -L bench --output-on-failure -V -E '^bench_http$' || failed=1
else
  ctest --test-dir "$build" --output-on-failure -V \
    -R '^(bench_isolation|bench_dynscope_fallback_pyodide|bench_cpu)$' || failed=1
fi
(cd "$build" && SCOPEBOX_SERVER="$build/scopebox-server" SCOPEBOX_RUNTIME_DIR="$build/runtime" \
  SCOPEBOX_NODE="$(grep -m1 '^SCOPEBOX_NODE:' CMakeCache.txt | cut -d= -f2)" \
  /usr/bin/python3.11 "$repo/tests/bench/http/bench_http.py") || failed=1
# Where the idle RSS row's memory is, by kind of mapping (prints, asserts nothing).
SCOPEBOX_SERVER="$build/scopebox-server" /usr/bin/python3.11 "$repo/tests/bench/memory/worker_rss.py" || failed=1
/usr/bin/python3.11 "$repo/tests/bench/summary.py" "$figures" || failed=1
exit $failed
