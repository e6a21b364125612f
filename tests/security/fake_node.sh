#!/bin/sh
# Stands in for node (--node) to look at the sandbox from native code: the
# server starts it exactly as it starts node. It uses shell built-ins only,
# since the sandbox allows no new process and no second execve; every line
# it prints goes to the server's log, prefixed by the worker's pid.
if [ "$1" = "--version" ]; then
  echo v20.99.0
  exit 0
fi
while read -r key value rest; do
  case "$key" in
    Uid:|Gid:|Seccomp:|NoNewPrivs:|CapEff:) echo "probe $key $value" >&2 ;;
  esac
done < /proc/self/status
while read -r line; do
  echo "probe netdev $line" >&2
done < /proc/net/dev
if echo x > /tmp/scopebox-sandbox-write-probe; then
  echo "probe write=ALLOWED" >&2
else
  echo "probe write=denied" >&2
fi
if read -r line < /etc/shadow; then
  echo "probe shadow=ALLOWED" >&2
else
  echo "probe shadow=denied" >&2
fi
echo "probe exec-attempt" >&2
exec /bin/echo "probe exec=ALLOWED" >&2
