"""The "16 connections over 16 sessions" row of two builds, A/B: both
servers started side by side with the same flags (2 workers) and warmed as
bench_sessions.py warms its server, then measured in turns, one loaded at a
time (A's sessions then stateless, B's, then B first next round...), so that
a machine shared with other work slows both alike. Prints each round's
req/s and ratio, and each build's median ratio. Asserts nothing; not a
ctest (it needs two builds).

    python3 ab_sessions.py main=BUILD_DIR_A mine=BUILD_DIR_B [--rounds N] [--seconds S]

A build directory holds scopebox-server and runtime/ (a copy of one made
before a change will do).
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(__file__))
import bench_sessions as bench  # noqa: E402


def round_of(s):
    c = bench.Client(s.url)
    ids = [c.req("POST", "/v1/sessions", {"scope": {"n": 0}})[1]["id"] for _ in range(16)]
    before = bench.resumes(s.url)
    sess = bench.throughput(s.url, lambda i: (f"/v1/sessions/{ids[i]}/run", {"code": "n += 1"}), 16)
    applied, resident = (x - y for x, y in zip(bench.resumes(s.url), before))
    state = bench.throughput(s.url, lambda i: ("/v1/run", {"code": "n = 1"}), 16)
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
        for r in range(args.rounds):
            for name, s in (servers if r % 2 == 0 else servers[::-1]):
                sess, state, applied, resident = round_of(s)
                ratios[name].append(100 * sess / state)
                print(f"round {r} {name}: 16 sessions {sess:.0f} req/s ({applied} applied an image, "
                      f"{resident} resident), 16 stateless {state:.0f} req/s: {100 * sess / state:.1f}%",
                      flush=True)
        for name, rs in ratios.items():
            print(f"{name}: sessions/stateless {' '.join(f'{x:.1f}' for x in sorted(rs))} %, "
                  f"median {statistics.median(rs):.1f}%")
    finally:
        for _, s in servers:
            s.__exit__(None, None, None)


if __name__ == "__main__":
    main()
