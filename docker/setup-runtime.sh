#!/usr/bin/env bash
# The Dockerfile's runtime stage: makes a machine able to run an installed
# scopebox (PREFIX, from docker/install.sh) and checks that it can. Installs
# the runtime's shared libraries and tini (install-deps.sh runtime: no
# compiler, no npm), creates the unprivileged user the container runs as
# (scopebox, uid/gid 10001, no home, no shell), and leaves PREFIX owned by
# root and read-only to everyone else.
#   docker/setup-runtime.sh PREFIX
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prefix=$(cd "${1:?usage: setup-runtime.sh PREFIX}" && pwd -P)
# The Dockerfile's USER line names this uid and gid; keep them in step.
uid=10001

log() { printf 'setup-runtime: %s\n' "$*" >&2; }

SCOPEBOX_NODE_PREFIX=$prefix/node bash "$here/install-deps.sh" runtime

if ! getent group scopebox >/dev/null; then
  groupadd --system --gid $uid scopebox
fi
if ! getent passwd scopebox >/dev/null; then
  useradd --system --uid $uid --gid scopebox --no-create-home --home-dir /nonexistent \
          --shell /usr/sbin/nologin scopebox
fi
if [ "$(id -u scopebox)" != $uid ] || [ "$(id -g scopebox)" != $uid ]; then
  log "user scopebox exists with uid:gid $(id -u scopebox):$(id -g scopebox), not $uid:$uid"
  exit 1
fi

# Nothing under PREFIX is writable by the user the server runs as, and all
# of it is readable. Only what is not so already is changed: in an image
# every file touched here (even chown to the owner it has) is copied whole
# into this layer, which would double /opt/scopebox (160 MB).
find "$prefix" \( ! -user 0 -o ! -group 0 \) -exec chown -h 0:0 {} +
find "$prefix" ! -type l \( -perm /022 -o ! -perm -644 -o \( -perm /111 ! -perm -111 \) \
                            -o \( -type d ! -perm -755 \) \) -exec chmod u+rwX,go+rX,go-w {} +

# Fail the image build, not the first request, when something is missing.
"$prefix/bin/scopebox-server" --help >/dev/null
"$prefix/bin/scopebox" --help >/dev/null
"$prefix/node/bin/node" -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' ||
  { log "$prefix/node/bin/node is not Node >= 20"; exit 1; }
for f in lib/scopebox/runtime/worker.mjs lib/scopebox/runtime/node_modules/pyodide/pyodide.mjs \
         lib/scopebox/runtime/dynscope.abi3.so share/scopebox/web/index.html; do
  [ -f "$prefix/$f" ] || { log "$prefix/$f is missing"; exit 1; }
done
log "ok: $prefix runs as scopebox ($uid:$uid)"
