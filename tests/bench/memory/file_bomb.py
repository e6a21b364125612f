"""Peak resident memory of a worker under the file bomb of issue 12 (a 5 s
run writing 16 MiB files to /tmp, then to /dev/shm, then into a pipe), next
to its resident size when idle. Prints a table; asserts nothing.

    SCOPEBOX_SERVER=build/scopebox-server python3 tests/bench/memory/file_bomb.py
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "support"))
from scopebox_server import ScopeboxServer  # noqa: E402

BOMBS = {
    "/tmp files": "d = '/tmp'",
    "/dev/shm files": "d = '/dev/shm'",
}
BODY = """
import os, time
chunk = b'x' * (16 << 20)
n = 0
end = time.monotonic() + 5
while time.monotonic() < end:
    try:
        with open(f'{d}/f{n}', 'wb') as f:
            f.write(chunk)
        n += 1
    except OSError as e:
        err = e.errno
        break
n
"""
PIPE = """
import os, time
r, w = os.pipe()
chunk = b'y' * (1 << 20)
n = 0
end = time.monotonic() + 5
while time.monotonic() < end:
    try:
        os.write(w, chunk)
        n += 1
    except OSError:
        break
n
"""


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) // 1024
    return -1


def main():
    print(f"{'bomb':<16} {'idle RSS MiB':>12} {'peak RSS MiB':>12} {'answer':>32}")
    for name, code in [*BOMBS.items(), ("pipe", None)]:
        with ScopeboxServer("--workers", "1", *sys.argv[1:]) as s:
            s.wait_healthy(1)
            s.run({"code": "1"})
            pid = s.worker_pids()[0]
            idle = status(pid, "VmRSS")
            st, _, out = s.run({"code": (code + BODY) if code else PIPE, "timeout_ms": 20000})
            peak = status(pid, "VmHWM")
            err = out.get("error") or {}
            answer = f"{st} {out['result'] if out.get('ok') else err.get('code') or err.get('type')}"
            print(f"{name:<16} {idle:>12} {peak:>12} {answer:>32}")


if __name__ == "__main__":
    main()
