"""Start to ready, phase by phase, of one build or an A/B of several: a
server with --workers N started R times per build (the builds in turns,
the order rotated every round, so that a machine shared with other work
slows all alike), each timed from its start to its "ready on" line (as
bench_http.py times it). Beside it, per worker: the host's "ready after"
(spawn to ready frame), the worker's own phases (interp.mjs's "boot:" log
line: node start to the interpreter thread, Pyodide's load with the
snapshot's restore, dynscope and the runner, the lockdown, the warm-up
runs, the pristine capture), the CPU time of each of those phases ("CPU
..." rows, from the worker's "boot: CPU ms per phase:" line) and the CPU
time the worker had used when the server was ready (all its threads: V8's
compile threads too), which a loaded machine moves less than the wall
clock. Prints medians; asserts nothing.

    python3 bench_startup.py [NAME=BUILD_DIR[@NODE_ARG...] ...] [--workers N] [--rounds R]

A build directory holds scopebox-server and runtime/ (a copy of one made
before a change will do); each @NODE_ARG after it is passed to its server
as --node-arg (a V8 flag's A/B: new=build@--wasm-lazy-compilation).
Without builds: SCOPEBOX_SERVER's.
"""
import argparse
import os
import re
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "support"))
from proc_cpu import cpu_seconds  # noqa: E402
from scopebox_server import ScopeboxServer  # noqa: E402

READY = re.compile(r"worker (\d+) ready after (\d+) ms")
PHASES = re.compile(r"worker (\d+): boot: ms per phase: (.*)$")
# The same phases' CPU (all the worker's threads: V8's compile thread too).
CPU_PHASES = re.compile(r"worker (\d+): boot: CPU ms per phase: (.*)$")


def cpu_ms(pid):
    return 1000 * cpu_seconds(pid)


def one_start(binary, runtime, node_args, workers):
    t0 = time.monotonic()
    flags = [f"--node-arg={a}" for a in node_args]
    with ScopeboxServer("--workers", str(workers), "--runtime-dir", runtime, *flags, binary=binary) as s:
        ready_s = time.monotonic() - t0
        cpu = [cpu_ms(p) for p in s.worker_pids()]
        # The boot line follows the ready frame on the worker's stderr.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and sum(bool(PHASES.search(l)) for l in s.log_lines) < workers:
            time.sleep(0.05)
        # The CPU line comes right after it (a build from before it has none).
        deadline = min(deadline, time.monotonic() + 0.5)
        while time.monotonic() < deadline and sum(bool(CPU_PHASES.search(l)) for l in s.log_lines) < workers:
            time.sleep(0.05)
        after = [int(m.group(2)) for m in map(READY.search, s.log_lines) if m]
        phases = {}
        for prefix, pattern in (("", PHASES), ("CPU ", CPU_PHASES)):
            for m in filter(None, map(pattern.search, s.log_lines)):
                for item in m.group(2).split(", "):
                    name, ms = item.rsplit(" ", 1)
                    phases.setdefault(prefix + name, []).append(int(ms))
    return {"ready_s": ready_s, "ready_after_ms": after, "cpu_ms": cpu, "phases": phases}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("builds", nargs="*", help="NAME=BUILD_DIR")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    builds = [b.split("=", 1) for b in args.builds]
    if not builds:
        server = os.environ["SCOPEBOX_SERVER"]
        builds = [("build", os.path.dirname(os.path.abspath(server)))]
    names = [n for n, _ in builds]
    where = {}
    for n, spec in builds:
        d, *node_args = spec.split("@")
        where[n] = (os.path.join(d, "scopebox-server"), os.path.join(d, "runtime"), node_args)
    rows = {n: [] for n in names}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            one = one_start(*where[n], args.workers)
            rows[n].append(one)
            print(f"round {r + 1} {n}: start to ready {one['ready_s']:.2f} s, workers ready after "
                  f"{one['ready_after_ms']} ms, CPU {[round(c) for c in one['cpu_ms']]} ms", flush=True)
    med = statistics.median
    print(f"\nstart to ready, {args.workers} workers, medians of {args.rounds} rounds (per worker: "
          f"median over workers and rounds)")
    phase_names = []
    for n in names:
        for one in rows[n]:
            for p in one["phases"]:
                if p not in phase_names:
                    phase_names.append(p)
    cols = ["start to ready s", "ready after ms", "worker CPU ms"] + [f"{p} ms" for p in phase_names]
    print(f"{'':24s}" + "".join(f"{n:>12s}" for n in names))
    for c in cols:
        vals = []
        for n in names:
            rs = rows[n]
            if c == "start to ready s":
                vals.append(f"{med(r['ready_s'] for r in rs):12.2f}")
            elif c == "ready after ms":
                vals.append(f"{med(x for r in rs for x in r['ready_after_ms']):12.0f}")
            elif c == "worker CPU ms":
                vals.append(f"{med(x for r in rs for x in r['cpu_ms']):12.0f}")
            else:
                xs = [x for r in rs for x in r["phases"].get(c[:-3], [])]
                vals.append(f"{med(xs):12.0f}" if xs else f"{'-':>12s}")
        print(f"{c:24s}" + "".join(vals))


if __name__ == "__main__":
    main()
