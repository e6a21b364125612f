"""What the tracked reset's build-time instrumentation (wasm/dirty/) costs
at start-up and at rest: the build's runtime beside the same runtime with
Pyodide's own files and the uninstrumented dynscope side module (as before
wasm/dirty/ existed; its snapshot made the same way), each started as a
server with two workers in turn, several rounds interleaved, so that a
shared machine's load falls on both alike. Prints, per runtime, the median
start to ready, the workers' own boot_ms, their idle RSS and the p50 of a
trivial run from one client, and the ratios. Asserts nothing.

SCOPEBOX_RESTORE=full does not make the plain runtime: it keeps the
instrumented code and only stops using the dirty map. The plain runtime
restores the whole heap after each run (no map), so its per-run CPU is not
comparable; the run p50 is (a run's answer goes out before its reset).

    SCOPEBOX_SERVER=build/scopebox-server python3 tests/bench/memory/instrumented_vs_plain.py [--rounds N]

Environment: SCOPEBOX_SERVER; SCOPEBOX_RUNTIME_DIR (default: the server's
build tree's runtime/); SCOPEBOX_NODE (default: node).
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "support"))
from scopebox_server import ScopeboxServer  # noqa: E402

BOOT = re.compile(r"ready after (\d+) ms \(boot_ms (\d+)")
TRIVIAL = {"code": "x*2", "mode": "eval", "scope": {"x": 21}}


def plain_runtime(runtime, node, into):
    """The build's runtime directory with Pyodide's files and dynscope as
    they are before instrumentation, and a snapshot of its own."""
    plain = os.path.join(into, "runtime")
    shutil.copytree(runtime, plain, ignore=shutil.ignore_patterns("pyodide.snapshot", "node_modules"))
    shutil.copytree(os.path.join(REPO, "node_modules", "pyodide"),
                    os.path.join(plain, "node_modules", "pyodide"))
    shutil.copyfile(os.path.join(os.path.dirname(runtime), "wasm", "dynscope.abi3.so"),
                    os.path.join(plain, "dynscope.abi3.so"))
    subprocess.run([node, os.path.join(plain, "make-snapshot.mjs"), plain], check=True,
                   capture_output=True)
    # Workers run as another user when the server is root: it must read this.
    for d, _, names in os.walk(into):
        os.chmod(d, 0o755)
        for n in names:
            os.chmod(os.path.join(d, n), 0o644)
    return plain


def rss_mb(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def one_round(runtime, runs):
    t0 = time.monotonic()
    with ScopeboxServer("--workers", "2", "--runtime-dir", runtime) as s:
        ready_s = time.monotonic() - t0
        s.wait_healthy(2)
        boots = [int(m.group(2)) for m in map(BOOT.search, s.log_lines) if m]
        time.sleep(2)  # idle, as the HTTP bench's figure is taken right after health
        rss = [rss_mb(p) for p in s.worker_pids()]
        lat = []
        for _ in range(runs):
            t = time.perf_counter()
            status, _, body = s.run(TRIVIAL)
            lat.append((time.perf_counter() - t) * 1000)
            assert status == 200 and body["result"] == 42, body
        return {"ready_s": ready_s, "boot_ms": statistics.median(boots), "rss_mb": max(rss),
                "run_p50_ms": statistics.median(lat[runs // 5:])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--runs", type=int, default=300, help="trivial runs per round (the first fifth warms up)")
    args = ap.parse_args()
    server = os.environ["SCOPEBOX_SERVER"]
    runtime = os.environ.get("SCOPEBOX_RUNTIME_DIR") or os.path.join(os.path.dirname(os.path.abspath(server)), "runtime")
    node = os.environ.get("SCOPEBOX_NODE", "node")
    tmp = tempfile.mkdtemp(prefix="scopebox-plain-")
    try:
        runtimes = {"instrumented (build)": runtime, "plain (no wasm/dirty)": plain_runtime(runtime, node, tmp)}
        rows = {name: [] for name in runtimes}
        for _ in range(args.rounds):
            for name, rt in runtimes.items():
                rows[name].append(one_round(rt, args.runs))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    keys = ["ready_s", "boot_ms", "rss_mb", "run_p50_ms"]
    med = {name: {k: statistics.median(r[k] for r in rs) for k in keys} for name, rs in rows.items()}
    print(f"Instrumented vs plain runtime, 2 workers, medians of {args.rounds} interleaved rounds")
    print(f"{'runtime':<24} {'start to ready s':>17} {'worker boot_ms':>15} {'idle RSS MB':>12} {'run p50 ms':>11}")
    for name, m in med.items():
        print(f"{name:<24} {m['ready_s']:>17.2f} {m['boot_ms']:>15.0f} {m['rss_mb']:>12.1f} {m['run_p50_ms']:>11.3f}")
    a, b = med.values()
    print(f"{'instrumented / plain':<24} {a['ready_s'] / b['ready_s']:>16.2f}x {a['boot_ms'] / b['boot_ms']:>14.2f}x "
          f"{a['rss_mb'] - b['rss_mb']:>+11.1f}  {a['run_p50_ms'] / b['run_p50_ms']:>10.2f}x")
    for name, rs in rows.items():
        print(f"  {name}: " + "; ".join(", ".join(f"{k}={r[k]:.3g}" for k in keys) for r in rs))


if __name__ == "__main__":
    main()
