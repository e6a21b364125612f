"""The host's own cost of an answer: CPU of the server process alone (not
its workers) per request, under wrk -c4, for the 100 KB-scope case, where
the host's JSON handling (parsing the body, encoding the worker frame,
parsing and forwarding the answer) is most of what it does. Prints figures,
asserts nothing.

    SCOPEBOX_SERVER=build/scopebox-server python3 tests/bench/http/bench_answer.py [seconds]

Run it with two binaries (e.g. main's and a branch's) to compare them.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "support"))
sys.path.insert(0, HERE)
from bench_http import SCENARIOS, WRK_LUA  # noqa: E402
from proc_cpu import cpu_seconds  # noqa: E402
from scopebox_server import ScopeboxServer  # noqa: E402


def own_cpu(pid):
    """utime + stime of the server process (its threads, not its workers)."""
    return cpu_seconds(pid)


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    tmp = tempfile.mkdtemp()
    with open(f"{tmp}/body.json", "w") as f:
        json.dump(SCENARIOS["100 KB scope"], f)
    with open(f"{tmp}/post.lua", "w") as f:
        f.write(WRK_LUA)
    env = dict(os.environ, BENCH_BODY=f"{tmp}/body.json")
    usage = subprocess.run([os.environ["SCOPEBOX_SERVER"], "--help"], capture_output=True, text=True).stdout
    extra = ["--max-connections-per-ip", "0"] if "--max-connections-per-ip" in usage else []  # older binaries
    with ScopeboxServer("--workers", "2", *extra) as s:
        s.wait_healthy(2)
        argv = ["wrk", "-t2", "-c4", "-s", f"{tmp}/post.lua", s.url + "/v1/run"]
        subprocess.run(argv[:1] + ["-d3s"] + argv[1:], env=env, capture_output=True, check=True)
        before = own_cpu(s.proc.pid)
        out = subprocess.run(argv[:1] + [f"-d{seconds}s"] + argv[1:], env=env, capture_output=True,
                             text=True, check=True).stdout
        used = own_cpu(s.proc.pid) - before
    m = re.search(r"^BENCH (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) (\d+)$", out, re.M)
    n = int(m.group(1))
    print(f"100 KB scope, wrk -c4 {seconds} s: {n / seconds:.0f} req/s, p50 {float(m.group(4)):.1f} ms, "
          f"p99 {float(m.group(5)):.1f} ms, non-2xx {m.group(2)}; "
          f"server process CPU {used * 1e6 / max(n, 1):.0f} us/request")


if __name__ == "__main__":
    main()
