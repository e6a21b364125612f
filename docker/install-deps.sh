#!/usr/bin/env bash
# Installs what scopebox needs on Debian bookworm, and nothing it does not.
# The one dependency script: the README's commands, .ci/run and the
# Dockerfile all call it. Idempotent: a second run installs nothing and takes
# about a second.
#
#   docker/install-deps.sh build     toolchain + libraries + node_modules
#   docker/install-deps.sh test      build + what the test suite runs
#   docker/install-deps.sh runtime   only what a running server needs
#   docker/install-deps.sh runtime-debs  runtime's Debian packages only (the
#                                    image installs them before /opt/scopebox,
#                                    with its Node, is copied in)
set -euo pipefail

profile=${1:-build}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
node_min_major=20
# Pinned: the worker sandbox is tested against this Node line.
node_fallback_version=20.20.2
# Where the fallback Node goes (and where an installed image carries its own,
# see docker/install.sh); tests point it at a temporary directory.
node_prefix=${SCOPEBOX_NODE_PREFIX:-/opt/scopebox/node}

# python3: the scopebox command line (clients/python) installed beside the server.
runtime_pkgs=(ca-certificates libmicrohttpd12 libjansson4 libseccomp2 libhiredis0.14 util-linux tini python3)
build_pkgs=(build-essential cmake pkg-config emscripten binaryen libmicrohttpd-dev libjansson-dev
            libseccomp-dev libhiredis-dev python3.11 python3.11-dev python3-yaml)
test_pkgs=(python3-pytest python3-yaml python3-jsonschema valgrind nginx wrk chromium clang-14 libclang-rt-14-dev
           curl git redis-server)
# tests/lint/check-format.sh: the C style is checked with Debian's clang-format (14).
test_pkgs+=(clang-format)
# tests/lint/check-spans-wasm.sh: wasm-as (emscripten brings it too).
test_pkgs+=(binaryen)
# tests/bench/sessions: a Jupyter kernel's round trip is the baseline.
test_pkgs+=(python3-ipykernel python3-jupyter-client)
# tests/e2e/test_images.py: session image bodies are brotli (image.mjs).
test_pkgs+=(python3-brotli)
# tests/podman: the image built and run by a real engine. runc, not crun
# (crun refuses hybrid cgroup layouts); netavark + aardvark-dns for networks
# with names (compose); debootstrap makes the base image where no registry
# answers.
test_pkgs+=(podman runc netavark aardvark-dns iptables podman-compose debootstrap)

case "$profile" in
  runtime | runtime-debs) pkgs=("${runtime_pkgs[@]}") ;;
  build)   pkgs=("${runtime_pkgs[@]}" "${build_pkgs[@]}") ;;
  test)    pkgs=("${runtime_pkgs[@]}" "${build_pkgs[@]}" "${test_pkgs[@]}") ;;
  *) echo "usage: $0 [build|test|runtime|runtime-debs]" >&2; exit 2 ;;
esac

log() { printf 'install-deps: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else log "need root to run: $*"; exit 1
  fi
}

missing_debs() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
  done
}

apt_install() {
  local missing
  mapfile -t missing < <(missing_debs "$@")
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# Pyodide itself runs on Node 18, but the worker sandbox needs Node 20's
# permission model. Bookworm ships 18, so when no Node >= 20 is present we
# take the official build from the npm registry's node-linux-<arch> package.
# A runtime needs node only: npm is for building (npm ci) and for fetching
# the fallback.
need_npm() { [ "$profile" != runtime ] || return 0; command -v npm >/dev/null || apt_install npm; }

ensure_node() {
  local sys_node
  sys_node=$(command -v node || true)
  if [ -n "$sys_node" ] && [ "$(node_major "$sys_node")" -ge $node_min_major ]; then
    need_npm
    return 0
  fi
  if [ -x "$node_prefix/bin/node" ] && [ "$(node_major "$node_prefix/bin/node")" -ge $node_min_major ]; then
    export PATH=$node_prefix/bin:$PATH
    need_npm
    return 0
  fi
  command -v npm >/dev/null || apt_install nodejs npm
  local arch tmp
  case "$(dpkg --print-architecture)" in
    amd64) arch=x64 ;; arm64) arch=arm64 ;;
    *) log "no Node >= $node_min_major build for $(dpkg --print-architecture)"; exit 1 ;;
  esac
  tmp=$(mktemp -d)
  log "node >= $node_min_major missing: installing node-linux-$arch@$node_fallback_version into $node_prefix"
  (cd "$tmp" && npm pack --silent "node-linux-$arch@$node_fallback_version" >/dev/null)
  as_root mkdir -p "$node_prefix"
  as_root tar -xzf "$tmp"/node-linux-"$arch"-*.tgz -C "$node_prefix" --strip-components=1 package/bin package/LICENSE
  rm -rf "$tmp"
  export PATH=$node_prefix/bin:$PATH
}

# npm ci wipes node_modules; skip it when the lock file has not changed.
ensure_node_modules() {
  local stamp=$repo/node_modules/.scopebox-lock.sha256 want
  want=$(sha256sum "$repo/package-lock.json" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  log "npm ci"
  (cd "$repo" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$want" > "$stamp"
}

apt_install "${pkgs[@]}"
if [ "$profile" = runtime-debs ]; then log "ok ($profile)"; exit 0; fi
ensure_node
# A runtime image gets node_modules from the build stage, inside the runtime dir.
[ "$profile" = runtime ] || ensure_node_modules
log "ok ($profile): node $(node -v) at $(command -v node)"
