# syntax=docker/dockerfile:1
# Every step here is a script that CI also runs natively (docker/*.sh);
# the Dockerfile only calls them.

FROM debian:bookworm-slim AS build
WORKDIR /src
COPY . .
RUN bash docker/build.sh build \
 && cmake --install build --prefix /opt/scopebox

FROM debian:bookworm-slim AS runtime
COPY docker/install-deps.sh /tmp/install-deps.sh
RUN bash /tmp/install-deps.sh runtime && rm -f /tmp/install-deps.sh
COPY --from=build /opt/scopebox /opt/scopebox
RUN useradd --system --no-create-home --shell /usr/sbin/nologin scopebox
USER scopebox
ENV PATH=/opt/scopebox/node/bin:$PATH
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/opt/scopebox/bin/scopebox-server", "--host", "0.0.0.0", "--node", "node", \
            "--runtime-dir", "/opt/scopebox/lib/scopebox/runtime", \
            "--web-dir", "/opt/scopebox/share/scopebox/web"]
