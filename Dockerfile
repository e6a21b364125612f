# syntax=docker/dockerfile:1
# scopebox's image. Every step is a script under docker/ that CI runs
# natively (tests/docker/: the same scripts, into a temporary prefix, and the
# result started the way this file starts it); the Dockerfile only copies
# files and calls them. See the README, "Run in Docker".
#
#   docker build -t scopebox .
#   docker run --rm -p 8080:8080 scopebox

# Dependencies: toolchain, emscripten, a Node >= 20 and `npm ci`. Only the
# files they come from are copied, so that this layer stays cached when
# sources change.
FROM debian:bookworm-slim AS deps
WORKDIR /src
COPY docker/install-deps.sh docker/
COPY package.json package-lock.json ./
RUN bash docker/install-deps.sh build

# Build: the whole build, installed into /opt/scopebox together with the
# Node >= 20 it was built against.
FROM deps AS build
COPY . .
RUN bash docker/build.sh build
RUN bash docker/install.sh /opt/scopebox

# Runtime: the server, Node, Pyodide with dynscope, the web assets, the
# shared libraries they link and tini; no compiler, no npm. The packages
# come first, so that they too stay cached when sources change.
FROM debian:bookworm-slim AS runtime
COPY docker/install-deps.sh docker/setup-runtime.sh /tmp/scopebox-setup/
RUN bash /tmp/scopebox-setup/install-deps.sh runtime-debs \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/scopebox /opt/scopebox
RUN bash /tmp/scopebox-setup/setup-runtime.sh /opt/scopebox \
 && rm -rf /tmp/scopebox-setup /var/lib/apt/lists/*
COPY --chmod=0755 docker/entrypoint.sh /opt/scopebox/bin/scopebox-entrypoint
COPY --chmod=0755 docker/healthcheck.sh /opt/scopebox/bin/scopebox-healthcheck

# Configured by environment only: each server flag --some-flag is
# SCOPEBOX_SOME_FLAG (the README lists them all). The entrypoint supplies the
# install's paths (node, runtime dir, web dir).
ENV SCOPEBOX_HOST=0.0.0.0 \
    SCOPEBOX_PORT=8080
# scopebox:scopebox, made by setup-runtime.sh; numeric so that Kubernetes'
# runAsNonRoot can check it.
USER 10001:10001
WORKDIR /
EXPOSE 8080
# The server quiesces on SIGTERM: stops accepting, lets runs in flight finish
# (at most 5 s), ends its workers and exits 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["/opt/scopebox/bin/scopebox-healthcheck"]
# tini reaps whatever a worker leaves behind and passes signals on.
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/scopebox/bin/scopebox-entrypoint"]
