#!/usr/bin/env bash
# The Dockerfile's build stage, after build.sh: installs the built tree into
# PREFIX (server, worker runtime with Pyodide and dynscope, web assets, the
# scopebox command line), with
# the Node >= 20 that the build was configured with copied to PREFIX/node, so
# that PREFIX alone is everything a runtime needs besides a few shared
# libraries (docker/setup-runtime.sh installs those).
#   docker/install.sh PREFIX          (build tree: ./build or $SCOPEBOX_BUILD_DIR)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SCOPEBOX_BUILD_DIR:-$repo/build}
prefix=${1:?usage: docker/install.sh PREFIX}

log() { printf 'install: %s\n' "$*" >&2; }

[ -f "$build/CMakeCache.txt" ] || { log "no build in $build: run docker/build.sh first"; exit 1; }
cmake --install "$build" --prefix "$prefix" >/dev/null
prefix=$(cd "$prefix" && pwd -P)

# The Node the build checked (>= 20, see cmake/toolchain-checks.cmake): a
# single self-contained executable (it links only libc, libstdc++, libgcc).
node=$(sed -n 's/^SCOPEBOX_NODE:FILEPATH=//p' "$build/CMakeCache.txt")
node=$(readlink -f "$node")
[ -x "$node" ] || { log "no node in $build/CMakeCache.txt"; exit 1; }
mkdir -p "$prefix/node/bin"
# In the image the fallback Node already lives at /opt/scopebox/node.
if [ "$node" != "$(readlink -f "$prefix/node/bin/node" 2>/dev/null || true)" ]; then
  install -m 0755 "$node" "$prefix/node/bin/node"
  for license in "$(dirname "$node")/../LICENSE" /usr/share/doc/nodejs/copyright; do
    if [ -f "$license" ]; then install -m 0644 "$license" "$prefix/node/LICENSE"; break; fi
  done
fi
# Official Node builds carry their symbol tables (12 MB of the 99); the
# runtime needs none of it (.dynsym stays, addons are refused anyway).
if command -v strip >/dev/null; then
  strip "$prefix/node/bin/node"
fi
# The playground serves Pyodide's browser files (web/pyodide): the same bytes
# as the worker runtime's copy, so they are links to it rather than a second
# copy (14 MB). Relative, so the tree can move (COPY --from, a test's prefix).
web_pyodide=$prefix/share/scopebox/web/pyodide
runtime_pyodide=$prefix/lib/scopebox/runtime/node_modules/pyodide
for f in "$web_pyodide"/*; do
  name=$(basename "$f")
  if [ -f "$f" ] && [ ! -L "$f" ] && cmp -s "$f" "$runtime_pyodide/$name"; then
    ln -sfn "../../../../lib/scopebox/runtime/node_modules/pyodide/$name" "$f"
  fi
done
# The scopebox command line (clients/python: standard library only) beside
# the server, its package under lib/scopebox/python.
rm -rf "$prefix/lib/scopebox/python/scopebox"
mkdir -p "$prefix/lib/scopebox/python/scopebox"
install -m 0644 "$repo"/clients/python/scopebox/*.py "$prefix/lib/scopebox/python/scopebox/"
install -m 0755 "$repo/clients/python/bin/scopebox" "$prefix/bin/scopebox"
log "installed into $prefix (node $("$prefix/node/bin/node" -v))"
