#!/usr/bin/env bash
# The image's HEALTHCHECK: GET /healthz on the server's own port and succeed
# only on 200 (at least one worker ready, not shutting down). Bash's /dev/tcp
# keeps curl out of the image.
set -uo pipefail
host=${SCOPEBOX_HOST:-0.0.0.0}
port=${SCOPEBOX_PORT:-8080}
case $host in
  0.0.0.0 | "") host=127.0.0.1 ;;
  :: | "[::]") host=::1 ;;
esac
host=${host#[}
host=${host%]}

if ! exec 3<>"/dev/tcp/$host/$port"; then
  echo "unhealthy: nothing listens on $host port $port"
  exit 1
fi
printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
status=
IFS= read -r -t 3 status <&3
status=${status%$'\r'}
case $status in
  "HTTP/1."?" 200 "*) exit 0 ;;
  *) echo "unhealthy: ${status:-no answer} from http://$host:$port/healthz"; exit 1 ;;
esac
