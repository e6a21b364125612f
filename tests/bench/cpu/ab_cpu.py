"""bench_cpu's programs through two or more builds, A/B: one server per
build (one worker each) started side by side, each warmed with every
program, then the programs run in turns (each program on A, B, ..., the
order rotated every round) so that a machine shared with other work slows
all alike. Prints each build's median run_ms per program (the host's
timing of the stateless run: the snippet alone, not the reset after it)
and its ratio to the first build. For the dirty-page marks' cost
(wasm/dirty/instrument.c): an instrumented build against another, or
against a plain runtime (instrumented_vs_plain.py's plain_runtime makes
one). Asserts nothing; not a ctest (it needs two builds).

    python3 ab_cpu.py base=BUILD_OR_RUNTIME_DIR new=BUILD_OR_RUNTIME_DIR [--rounds N]

A build directory holds scopebox-server and runtime/ (a copy of one made
before a change will do); a bare runtime directory is run by the first
build's server.
"""
import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "support"))
sys.path.insert(0, HERE)
from scopebox_server import ScopeboxServer  # noqa: E402
from bench_cpu import PROGRAMS, run_ms  # noqa: E402


def locate(path, server):
    """(server binary, runtime dir) of a build dir or a bare runtime dir."""
    if os.path.exists(os.path.join(path, "scopebox-server")):
        return os.path.join(path, "scopebox-server"), os.path.join(path, "runtime")
    return server, path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("builds", nargs="+", help="NAME=DIR")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    builds = [b.split("=", 1) for b in args.builds]
    first_server = None
    servers = {}
    try:
        for name, path in builds:
            binary, runtime = locate(os.path.abspath(path), first_server)
            first_server = first_server or binary
            s = ScopeboxServer("--workers", "1", "--runtime-dir", runtime, binary=binary)
            servers[name] = s.__enter__()
        for s in servers.values():
            s.wait_healthy(1)
            for src in PROGRAMS.values():
                run_ms(s, src)  # the first run of each: V8 tiers up
        times = {(n, p): [] for n, _ in builds for p in PROGRAMS}
        names = [n for n, _ in builds]
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for prog, src in PROGRAMS.items():
                for n in order:
                    times[n, prog].append(run_ms(servers[n], src))
            print(f"round {r + 1}: " + "; ".join(
                f"{n} " + " ".join(f"{times[n, p][-1]:.0f}" for p in PROGRAMS) for n in names), flush=True)
    finally:
        for s in servers.values():
            s.__exit__(None, None, None)
    print(f"\nmedian run_ms over {args.rounds} rounds")
    print(f"{'program':40s}" + "".join(f"{n:>12s}" for n in names) + "".join(
        f"{n + '/' + names[0]:>14s}" for n in names[1:]))
    for prog in PROGRAMS:
        med = [statistics.median(times[n, prog]) for n in names]
        print(f"{prog:40s}" + "".join(f"{m:12.1f}" for m in med) + "".join(
            f"{m / med[0]:14.3f}" for m in med[1:]))


if __name__ == "__main__":
    main()
