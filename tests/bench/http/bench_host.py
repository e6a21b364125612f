"""The host's own share (issue 16, "The host path" and "Overload"): CPU of the
server process alone, not its workers, per request, for the scenarios the
targets name, and the flood's accepted p99 against the unloaded p99. Given
several server binaries (e.g. main's and a branch's) it runs them in turn,
round after round, so that a loaded machine's drift falls on all of them
alike. Prints figures, asserts nothing.

    python3 tests/bench/http/bench_host.py [--rounds N] [--seconds S] BINARY...

Environment: SCOPEBOX_NODE (for overload.mjs; default `node`).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "support"))
sys.path.insert(0, HERE)
from bench_http import SCENARIOS, WRK_LUA, wrk  # noqa: E402
from proc_cpu import cpu_seconds  # noqa: E402
from scopebox_server import ScopeboxServer  # noqa: E402

CELLS = (("trivial eval", 1), ("trivial eval", 16), ("100 KB scope", 16))


def own_cpu(pid):
    """utime + stime of the server process (its threads, not its workers)."""
    return cpu_seconds(pid)


def one_round(binary, tmp, seconds):
    lua, bodies = os.path.join(tmp, "post.lua"), {}
    for name in ("trivial eval", "100 KB scope"):
        bodies[name] = os.path.join(tmp, name.replace(" ", "_") + ".json")
        with open(bodies[name], "w") as f:
            json.dump(SCENARIOS[name], f)
    out = {}
    with ScopeboxServer("--queue-size", "1024", "--max-connections-per-ip", "0", binary=binary) as s:
        s.wait_healthy(2)
        wrk(s.url, bodies["trivial eval"], 4, 3, lua)  # V8's tiers warm up
        wrk(s.url, bodies["100 KB scope"], 4, 3, lua)
        for name, conns in CELLS:
            before = own_cpu(s.proc.pid)
            r = wrk(s.url, bodies[name], conns, seconds, lua)
            out[(name, conns)] = ((own_cpu(s.proc.pid) - before) * 1000 / max(r["requests"], 1), r)
    # The flood: the default queue, 256 clients asking again at once.
    with ScopeboxServer("--max-connections-per-ip", "0", binary=binary) as s:
        s.wait_healthy(2)
        wrk(s.url, bodies["trivial eval"], 4, 2, lua)
        unloaded = wrk(s.url, bodies["trivial eval"], 1, 3, lua)
        before = own_cpu(s.proc.pid)
        o = json.loads(subprocess.run(
            [os.environ.get("SCOPEBOX_NODE", "node"), os.path.join(HERE, "overload.mjs"), s.url,
             bodies["trivial eval"], "256", str(max(seconds, 4))],
            capture_output=True, text=True, check=True).stdout)
        answered = max(sum(o["statuses"].values()), 1)
        out["flood"] = ((own_cpu(s.proc.pid) - before) * 1e6 / answered,
                        (o["p99_ms"] or float("nan")) / max(unloaded["p99_ms"], 1e-3), o)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("binaries", nargs="+")
    args = ap.parse_args()
    results = {b: [] for b in args.binaries}
    with tempfile.TemporaryDirectory() as tmp:
        open(os.path.join(tmp, "post.lua"), "w").write(WRK_LUA)
        for _ in range(args.rounds):
            for b in args.binaries:
                results[b].append(one_round(b, tmp, args.seconds))
    md = statistics.median
    print(f"\nhost CPU per request (server process only), median of {args.rounds} rounds, "
          f"{os.cpu_count()} cores, loadavg {os.getloadavg()[0]:.1f}\n")
    print(f"{'binary':<40} " + " ".join(f"{n[:12] + ' c' + str(c):>18}" for n, c in CELLS)
          + f" {'flood us/answer':>16} {'flood ratio':>12}")
    for b, rounds in results.items():
        cells = [md([r[cell][0] for r in rounds]) for cell in CELLS]
        print(f"{b[-40:]:<40} " + " ".join(f"{c:>15.3f} ms" for c in cells)
              + f" {md([r['flood'][0] for r in rounds]):>16.0f}"
              + f" {md([r['flood'][1] for r in rounds]):>11.1f}x")
        for r in rounds:
            print("    req/s: " + ", ".join(f"{n} c{c} {r[(n, c)][1]['rps']:.0f}" for n, c in CELLS)
                  + f"; flood {r['flood'][2]['statuses']}, lost {r['flood'][2]['lost']}, "
                  f"accepted p99 {r['flood'][2]['p99_ms'] or float('nan'):.0f} ms")


if __name__ == "__main__":
    main()
