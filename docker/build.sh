#!/usr/bin/env bash
# Installs the dependencies for a profile (see install-deps.sh), then
# configures and builds everything into ./build (or $SCOPEBOX_BUILD_DIR).
#   docker/build.sh [build|test]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SCOPEBOX_BUILD_DIR:-$repo/build}

bash "$repo/docker/install-deps.sh" "${1:-build}"
# install-deps.sh may have put a Node >= 20 there.
node_prefix=${SCOPEBOX_NODE_PREFIX:-/opt/scopebox/node}
[ -x "$node_prefix/bin/node" ] && export PATH=$node_prefix/bin:$PATH
# The test build treats warnings as errors (cmake/warnings.cmake).
werror=OFF
[ "${1:-build}" = test ] && werror=ON
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" \
  -DSCOPEBOX_WERROR=$werror >/dev/null
cmake --build "$build" -j "$(nproc)"
