"""The three host-path rows of issue 16 ("trivial eval p50, 1 connection",
"trivial eval, 16 connections" and "100 KB scope, 16 connections") for two
or more builds, A/B: the servers
are started side by side with the same flags (2 workers, each build's own
runtime) and warmed, then loaded one at a time under wrk, in turns (A then
B, B then A next round...), so that a machine shared with other work slows
them alike. Per cell: req/s, the CPU a request took in all (server,
workers, wrk) and the server process's own share (its HTTP and dispatcher
threads). On a 2-core machine the rows are CPU-bound, so CPU per request
is what req/s is on a quiet machine, and others' load moves it less.
Prints each round, then each build's medians (p50 too: the 1-connection
row's figure). Asserts nothing; not a
ctest (it needs two builds).

    python3 ab_http.py main=BUILD_DIR_A mine=BUILD_DIR_B [--rounds N] [--seconds S]

A build directory holds scopebox-server and runtime/ (a copy of one made
before a change will do).
"""
import argparse
import contextlib
import json
import os
import resource
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "support"))
sys.path.insert(0, HERE)
from bench_http import SCENARIOS, WRK_LUA, wrk  # noqa: E402
from proc_cpu import cpu_seconds  # noqa: E402
from scopebox_server import ScopeboxServer, descendants  # noqa: E402

# (scenario, connections)
CELLS = (("trivial eval", 1), ("trivial eval", 16), ("100 KB scope", 16))


def cpu_s(pid):
    return cpu_seconds(pid, gone=0.0)


def children_cpu_s():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it has exited
    return r.ru_utime + r.ru_stime


def cell(server, body, conns, seconds, lua):
    pids = [server.proc.pid, *descendants(server.proc.pid)]
    host0, all0, wrk0 = cpu_s(server.proc.pid), sum(cpu_s(p) for p in pids), children_cpu_s()
    r = wrk(server.url, body, conns, seconds, lua)
    host1, all1, wrk1 = cpu_s(server.proc.pid), sum(cpu_s(p) for p in pids), children_cpu_s()
    n = max(r["requests"], 1)
    bad = r["non2xx"] + r["errors"]
    return {"rps": r["rps"], "p50_ms": r["p50_ms"], "cpu_ms": (all1 - all0 + wrk1 - wrk0) * 1000 / n,
            "host_ms": (host1 - host0) * 1000 / n, "bad": bad}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("builds", nargs="+", help="NAME=BUILD_DIR")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=int, default=5)
    args = ap.parse_args()
    builds = [b.split("=", 1) for b in args.builds]
    results = {name: {c: [] for c in CELLS} for name, _ in builds}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        lua = os.path.join(tmp, "post.lua")
        with open(lua, "w") as f:
            f.write(WRK_LUA)
        bodies = {}
        for c, _ in CELLS:
            bodies[c] = os.path.join(tmp, c.replace(" ", "_") + ".json")
            with open(bodies[c], "w") as f:
                json.dump(SCENARIOS[c], f)
        servers = {}
        for name, d in builds:
            s = stack.enter_context(ScopeboxServer(
                "--queue-size", "1024", "--max-connections-per-ip", "0",
                "--runtime-dir", os.path.join(d, "runtime"), binary=os.path.join(d, "scopebox-server")))
            s.wait_healthy(2)
            servers[name] = s
        for name, s in servers.items():  # V8 tiers the hot wasm up
            for c in bodies:
                wrk(s.url, bodies[c], 4, 3, lua)
        for rnd in range(args.rounds):
            order = list(servers.items())
            if rnd % 2:
                order.reverse()
            for name, s in order:
                line = []
                for c, conns in CELLS:
                    r = cell(s, bodies[c], conns, args.seconds, lua)
                    results[name][(c, conns)].append(r)
                    line.append(f"{c} x{conns} {r['rps']:.0f} req/s p50 {r['p50_ms']:.3f} ms "
                                f"{r['cpu_ms']:.2f} CPU ms (host {r['host_ms']:.3f})"
                                f"{' BAD ' + str(r['bad']) if r['bad'] else ''}")
                print(f"round {rnd + 1} {name:<8} " + "; ".join(line), flush=True)
    md = statistics.median
    print(f"\nmedians of {args.rounds} rounds, {args.seconds} s a cell, "
          f"loadavg {os.getloadavg()[0]:.1f}")
    print(f"{'build':<10} " + " ".join(f"{f'{c} x{n} req/s':>22} {'p50 ms':>7} {'CPU ms':>7} {'host ms':>8}"
                                       for c, n in CELLS))
    for name, cells in results.items():
        print(f"{name:<10} " + " ".join(
            f"{md(r['rps'] for r in cells[k]):>22.0f} {md(r['p50_ms'] for r in cells[k]):>7.3f} "
            f"{md(r['cpu_ms'] for r in cells[k]):>7.3f} {md(r['host_ms'] for r in cells[k]):>8.3f}"
            for k in CELLS))


if __name__ == "__main__":
    main()
