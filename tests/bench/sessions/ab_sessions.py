"""The "16 connections over 16 sessions" row of two builds, A/B: both
servers started side by side with the same flags (2 workers) and warmed as
bench_sessions.py warms its server, then measured in turns, one loaded at a
time (A's sessions then stateless, B's, then B first next round...), so that
a machine shared with other work slows both alike. Prints each round's
req/s and ratio, and the CPU time a request took in all (client, server,
workers): on a 2-core machine the rows are CPU-bound, so the ratio of CPU
per request is what the req/s ratio is on a quiet machine, and others'
load moves it less. Then each build's median ratios. Asserts nothing; not
a ctest (it needs two builds).

    python3 ab_sessions.py main=BUILD_DIR_A mine=BUILD_DIR_B [--rounds N] [--seconds S]

A build directory holds scopebox-server and runtime/ (a copy of one made
before a change will do).
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import bench_sessions as bench  # noqa: E402


def cpu_ms(s):
    """CPU time so far of everything a request costs here: the server, its
    workers, and this client."""
    pids = [s.proc.pid, *bench.descendants(s.proc.pid)]
    return 1000 * (sum(bench.cpu_seconds(p) for p in pids) + time.process_time())


def measured(s, make_body):
    """req/s, and CPU ms per request (all of it: client, server, workers).
    Req/s on a machine others load says as much about them as about the
    build; CPU per request less so (a worker's exit while measured makes
    it miss that worker's share)."""
    t = cpu_ms(s)
    rps = bench.throughput(s.url, make_body, 16)
    return rps, (cpu_ms(s) - t) / max(1, rps * bench.SECONDS)


def round_of(s):
    c = bench.Client(s.url)
    ids = [c.req("POST", "/v1/sessions", {"scope": {"n": 0}})[1]["id"] for _ in range(16)]
    before = bench.resumes(s.url)
    sess = measured(s, lambda i: (f"/v1/sessions/{ids[i]}/run", {"code": "n += 1"}))
    applied, resident = (x - y for x, y in zip(bench.resumes(s.url), before))
    state = measured(s, lambda i: ("/v1/run", {"code": "n = 1"}))
    for x in ids:
        c.req("DELETE", f"/v1/sessions/{x}")
    return sess, state, applied, resident


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("builds", nargs="+", help="NAME=BUILD_DIR")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=int, default=5)
    args = ap.parse_args()
    bench.SECONDS = args.seconds
    servers = []
    try:
        for spec in args.builds:
            name, build = spec.split("=", 1)
            s = bench.ScopeboxServer("--workers", "2", "--runtime-dir", os.path.join(build, "runtime"),
                                     binary=os.path.join(build, "scopebox-server"))
            s.__enter__()
            servers.append((name, s))
            s.wait_healthy(2)
        for name, s in servers:
            first, last, waited = bench.warm_up(s)
            print(f"{name}: stateless p50 {first:.2f} ms just booted, {last:.2f} warm (waited {waited:.0f} s)")
        ratios = {name: [] for name, _ in servers}
        cpu = {name: [] for name, _ in servers}
        for r in range(args.rounds):
            for name, s in (servers if r % 2 == 0 else servers[::-1]):
                (sess, sess_cpu), (state, state_cpu), applied, resident = round_of(s)
                ratios[name].append(100 * sess / state)
                cpu[name].append(100 * state_cpu / sess_cpu)
                print(f"round {r} {name}: 16 sessions {sess:.0f} req/s, {sess_cpu:.2f} CPU ms each "
                      f"({applied} applied an image, {resident} resident); 16 stateless {state:.0f} req/s, "
                      f"{state_cpu:.2f} CPU ms each: {100 * sess / state:.1f}% by req/s, "
                      f"{100 * state_cpu / sess_cpu:.1f}% by CPU", flush=True)
        for name in ratios:
            print(f"{name}: sessions/stateless by req/s {' '.join(f'{x:.1f}' for x in sorted(ratios[name]))} %, "
                  f"median {statistics.median(ratios[name]):.1f}%; by CPU per request "
                  f"{' '.join(f'{x:.1f}' for x in sorted(cpu[name]))} %, median {statistics.median(cpu[name]):.1f}%")
    finally:
        for _, s in servers:
            s.__exit__(None, None, None)


if __name__ == "__main__":
    main()
