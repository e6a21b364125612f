#!/bin/sh
# The image's entrypoint (tini runs it as its only child): fills in where this
# install keeps Node, the worker runtime and the web assets, then becomes
# scopebox-server, so that SIGTERM reaches the server itself.
#
# Configuration is the server's own: every flag --some-flag has an environment
# variable SCOPEBOX_SOME_FLAG (see `scopebox-server --help` and the README),
# and arguments given to the container are passed on as flags
# (docker run IMAGE --workers 4). Flags win over the environment.
set -eu
prefix=$(cd "$(dirname "$0")/.." && pwd -P)

: "${SCOPEBOX_HOST:=0.0.0.0}"
: "${SCOPEBOX_NODE:=$prefix/node/bin/node}"
: "${SCOPEBOX_RUNTIME_DIR:=$prefix/lib/scopebox/runtime}"
: "${SCOPEBOX_WEB_DIR:=$prefix/share/scopebox/web}"
export SCOPEBOX_HOST SCOPEBOX_NODE SCOPEBOX_RUNTIME_DIR SCOPEBOX_WEB_DIR

# API keys are on when a keys file is mounted at the conventional path
# (docker run -v ./api-keys:/opt/scopebox/etc/api-keys:ro ...) or named by
# SCOPEBOX_API_KEYS_FILE; off otherwise (README, "API keys").
if [ -z "${SCOPEBOX_API_KEYS_FILE:-}" ] && [ -e "$prefix/etc/api-keys" ]; then
    SCOPEBOX_API_KEYS_FILE=$prefix/etc/api-keys
    export SCOPEBOX_API_KEYS_FILE
fi

exec "$prefix/bin/scopebox-server" "$@"
