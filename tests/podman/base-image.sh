#!/usr/bin/env bash
# Makes the base image the Dockerfile starts FROM (debian:bookworm-slim) in
# podman's local storage, for machines that reach no image registry: a
# debootstrap'd bookworm, trimmed the way the official slim image is, plus
# the CA certificates this host trusts beyond Debian's (an egress proxy that
# signs TLS needs them for npm inside the build). The Dockerfile stays as it
# is; this is the test's workaround, not part of the image.
#
# The debootstrap (about 1.5 min) is cached as a tarball, once per machine;
# the certificates go in a small layer on top each time, so a rotated proxy
# CA is picked up without a new debootstrap.
#
#   tests/podman/base-image.sh PODMAN...   (the podman command, with its options)
# Environment:
#   SCOPEBOX_CACHE_DIR       where the tarball is kept (/var/cache/scopebox)
#   SCOPEBOX_DEBIAN_MIRROR   (http://deb.debian.org/debian)
#   SCOPEBOX_BASE_IMAGE      the name to give it (docker.io/library/debian:bookworm-slim)
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 PODMAN [OPTIONS...]" >&2; exit 2; }
podman=("$@")
cache=${SCOPEBOX_CACHE_DIR:-/var/cache/scopebox}
mirror=${SCOPEBOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
name=${SCOPEBOX_BASE_IMAGE:-docker.io/library/debian:bookworm-slim}
suite=bookworm
arch=$(dpkg --print-architecture)
tarball=$cache/debootstrap-$suite-minbase-$arch.tar

log() { printf 'base-image: %s\n' "$*" >&2; }

make_rootfs_tarball() {
  local root
  root=$(mktemp -d "$cache/rootfs.XXXXXX")
  log "debootstrap --variant=minbase $suite from $mirror (once per machine; cached as $tarball)"
  if ! debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.log" 2>&1; then
    tail -20 "$root.log" >&2
    rm -rf "$root" "$root.log"
    log "debootstrap failed"
    exit 1
  fi
  rm -f "$root.log"
  # What debian:bookworm-slim leaves out, and keeps out of later installs.
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/{man,groff,info,lintian,linda,locale}/* \
         "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
         "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/var/log/apt/*
  tar --numeric-owner --xattrs -C "$root" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$root"
}

# The host's extra trust: the local CA directory update-ca-certificates
# reads, and a file Node is told to trust (when it is not Debian's bundle,
# which the image makes itself from ca-certificates plus the local directory).
host_cas() {
  local f
  for f in /usr/local/share/ca-certificates/*.crt /usr/local/share/ca-certificates/*/*.crt; do
    [ -f "$f" ] && cat "$f" && echo
  done
  f=${NODE_EXTRA_CA_CERTS:-}
  if [ -n "$f" ] && [ -f "$f" ] && [ "$(readlink -f "$f")" != /etc/ssl/certs/ca-certificates.crt ]; then
    cat "$f"; echo
  fi
  return 0
}

mkdir -p "$cache"
exec 9>"$cache/.base-image.lock"
flock 9
[ -s "$tarball" ] || make_rootfs_tarball

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
host_cas >"$work/host-ca.crt"
key=$( (sha256sum <"$tarball"; sha256sum <"$work/host-ca.crt") | sha256sum | cut -c1-16)
if [ "$("${podman[@]}" image inspect --format '{{index .Labels "scopebox.test.base"}}' "$name" 2>/dev/null)" = "$key" ]; then
  log "$name is up to date ($key)"
  exit 0
fi

rootfs=localhost/scopebox-test/debootstrap:$suite
"${podman[@]}" import -q --change 'CMD ["bash"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  "$tarball" "$rootfs" >/dev/null
{
  echo "FROM $rootfs"
  if [ -s "$work/host-ca.crt" ]; then
    # update-ca-certificates (run when ca-certificates is installed) adds
    # this directory to /etc/ssl/certs; Node reads the file directly.
    echo "COPY host-ca.crt /usr/local/share/ca-certificates/scopebox-test-host-ca.crt"
    echo "ENV NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/scopebox-test-host-ca.crt"
  fi
  echo "LABEL scopebox.test.base=$key"
} >"$work/Containerfile"
"${podman[@]}" build --pull=never --format docker -q -t "$name" -f "$work/Containerfile" "$work" >/dev/null
log "$name made from $tarball ($(grep -c 'BEGIN CERT' "$work/host-ca.crt") extra CA certificates)"
