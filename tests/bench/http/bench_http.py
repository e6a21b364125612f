"""The HTTP benchmark: scopebox under wrk on loopback, beside its baselines,
measured in one run and printed as one table. It never asserts a timing;
it fails only if something could not be measured at all.

    bench_http.py [--quick]

Environment: SCOPEBOX_SERVER (the server binary), SCOPEBOX_NODE,
SCOPEBOX_RUNTIME_DIR (for the in-process and fresh-Pyodide baselines).
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "support"))
sys.path.insert(0, os.path.join(HERE, ".."))
import proc_cpu  # noqa: E402
from scopebox_server import ScopeboxServer  # noqa: E402
from figures import record  # noqa: E402

SCENARIOS = {
    "trivial eval": {"code": "x*2", "mode": "eval", "scope": {"x": 21}},
    "1000-iteration loop": {"code": "t = 0\nfor i in range(1000):\n    t += i\nt", "mode": "exec"},
    "100 KB scope": {"code": "len(blob)", "mode": "eval", "scope": {"blob": "x" * 100_000}},
}
CONCURRENCY = [1, 4, 16, 64]

WRK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("BENCH_BODY"), "rb")
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
                 + summary.errors.timeout
  io.write(string.format("BENCH %d %d %d %.3f %.3f %d\\n", summary.requests, summary.errors.status,
    errors, latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.duration))
end
"""


def cpu_seconds(server_pid, worker_pids):
    """CPU of the server, of its live workers, and of the workers it has
    reaped (recycled or replaced ones land in its cutime/cstime)."""
    return (proc_cpu.cpu_seconds(server_pid, reaped=True, gone=0.0)
            + sum(proc_cpu.cpu_seconds(p, gone=0.0) for p in worker_pids))


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except FileNotFoundError:
        return float("nan")


def wrk(url, body_path, conns, seconds, lua_path):
    env = dict(os.environ, BENCH_BODY=body_path)
    threads = min(conns, 2)
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{seconds}s", "--timeout", "30s",
         "-s", lua_path, url + "/v1/run"],
        env=env, capture_output=True, text=True, check=True).stdout
    m = re.search(r"^BENCH (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) (\d+)$", out, re.M)
    if not m:
        raise RuntimeError("wrk printed no summary:\n" + out)
    requests, non2xx, errors, p50, p99, duration_us = m.groups()
    return {"requests": int(requests), "non2xx": int(non2xx), "errors": int(errors),
            "p50_ms": float(p50), "p99_ms": float(p99), "rps": int(requests) / (int(duration_us) / 1e6)}


# The warm-up's rounds: at least WARM_MIN, at most WARM_MAX, until a
# round's CPU per request is within WARM_SETTLED of the round before.
WARM_ROUND_S = 2
WARM_MIN, WARM_MAX, WARM_SETTLED = 3, 10, 0.10


def warm_up(server, body_path, lua, quick):
    """Load, not measured, until the pool's CPU per request has settled: a
    warm pool is what a running server has (the first run on a fresh worker
    is bench_cpu's column). V8 compiles the interpreter's hot wasm and JS
    functions with its optimising tiers on a background thread while the
    load runs; a fixed 4 s of it left the tier-up going on into the
    1-connection row (2 workers: 4.2, 2.0, then 0.7-0.8 CPU ms per request
    in 2 s rounds), whose p50 then measured the compiles."""
    rounds = []
    for _ in range(1 if quick else WARM_MAX):
        cpu0 = cpu_seconds(server.proc.pid, server.worker_pids())
        r = wrk(server.url, body_path, 4, WARM_ROUND_S, lua)
        rounds.append((cpu_seconds(server.proc.pid, server.worker_pids()) - cpu0) * 1000
                      / max(r["requests"], 1))
        if len(rounds) >= WARM_MIN and abs(rounds[-1] - rounds[-2]) <= WARM_SETTLED * rounds[-2]:
            break
    print(f"warm-up: {len(rounds)} rounds of {WARM_ROUND_S} s at 4 connections, CPU ms/request "
          + ", ".join(f"{c:.2f}" for c in rounds), flush=True)


def measure_scopebox(args, tmp):
    lua = os.path.join(tmp, "post.lua")
    with open(lua, "w") as f:
        f.write(WRK_LUA)
    rows = []
    started = time.monotonic()
    # One load generator stands for many clients: no per-address limit.
    with ScopeboxServer("--workers", str(args.workers), "--queue-size", "1024",
                        "--max-connections-per-ip", "0") as server:
        ready_s = time.monotonic() - started
        server.wait_healthy(args.workers)
        ready_rss = [rss_mb(p) for p in server.worker_pids()]
        # Idle is stopped: right after ready V8 is still compiling the
        # boot's hot functions (its zones 5-30 MB of a worker's RSS).
        proc_cpu.wait_still(server.worker_pids())
        idle_rss = [rss_mb(p) for p in server.worker_pids()]
        warm = os.path.join(tmp, "warm.json")
        with open(warm, "w") as f:
            json.dump(SCENARIOS["trivial eval"], f)
        warm_up(server, warm, lua, args.quick)
        for name, body in SCENARIOS.items():
            path = os.path.join(tmp, "body.json")
            with open(path, "w") as f:
                json.dump(body, f)
            status, _, answer = server.run(body)
            assert status == 200 and answer["ok"], answer
            for conns in CONCURRENCY:
                cpu0 = cpu_seconds(server.proc.pid, server.worker_pids())
                r = wrk(server.url, path, conns, args.seconds, lua)
                cpu1 = cpu_seconds(server.proc.pid, server.worker_pids())
                r.update(scenario=name, conns=conns,
                         cpu_ms=(cpu1 - cpu0) * 1000 / max(r["requests"], 1),
                         rss=max(rss_mb(p) for p in server.worker_pids()))
                rows.append(r)
        # Overload: far more connections than workers and queue.
        with open(os.path.join(tmp, "body.json"), "w") as f:
            json.dump(SCENARIOS["trivial eval"], f)
    # With the default queue (server/config.c): clients that honour
    # Retry-After, as the API asks, and clients that ask again at once. The
    # probe is C (flood.c) like wrk, whose unloaded p99 the flood's is
    # divided by: the Node probe (overload.mjs, printed beside) adds its
    # own event loop's turn, tens of ms with 256 busy sockets, to every
    # answer it times.
    overload = {}
    flood = flood_probe()
    node = [os.environ["SCOPEBOX_NODE"], os.path.join(HERE, "overload.mjs")]
    with ScopeboxServer("--workers", str(args.workers), "--max-connections-per-ip", "0") as server:
        server.wait_healthy(args.workers)
        for mode, probe, extra in (("honouring Retry-After", [flood], ["--honour-retry-after"]),
                                   ("retrying at once", [flood], []),
                                   ("retrying at once (Node client)", node, [])):
            out = subprocess.run([*probe, server.url, os.path.join(tmp, "body.json"), "256",
                                  str(max(args.seconds, 4)), *extra],
                                 capture_output=True, text=True, check=True).stdout
            overload[mode] = json.loads(out)
    return ready_s, (ready_rss, idle_rss), rows, overload


def flood_probe():
    """The C overload probe: SCOPEBOX_BENCH_FLOOD, or built next to the server."""
    path = os.environ.get("SCOPEBOX_BENCH_FLOOD") or os.path.join(
        os.path.dirname(os.path.abspath(os.environ["SCOPEBOX_SERVER"])), "bench-flood")
    if not os.access(path, os.X_OK):
        sys.exit(f"{path}: the overload probe is not built (cmake --build: target bench-flood)")
    return path


NODE_RUNPYTHON = r"""
const { pathToFileURL } = require("node:url");
(async () => {
  const { loadPyodide } = await import(pathToFileURL(process.argv[2] + "/node_modules/pyodide/pyodide.mjs").href);
  const mode = process.argv[3];
  const n = Number(process.argv[4]);
  if (mode === "inproc") {
    const py = await loadPyodide();
    py.runPython("x = 21");
    for (let i = 0; i < 200; i++) py.runPython("x*2");
    const lat = [];
    for (let i = 0; i < n; i++) { const t = performance.now(); py.runPython("x*2"); lat.push(performance.now() - t); }
    console.log(JSON.stringify(lat));
  } else {
    const lat = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      const py = await loadPyodide();
      py.runPython("21*2");
      lat.push(performance.now() - t);
    }
    console.log(JSON.stringify(lat));
  }
})();
"""


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def measure_baselines(args, tmp):
    node, runtime = os.environ["SCOPEBOX_NODE"], os.environ["SCOPEBOX_RUNTIME_DIR"]
    script = os.path.join(tmp, "baseline.cjs")
    with open(script, "w") as f:
        f.write(NODE_RUNPYTHON)
    out = {}
    lat = json.loads(subprocess.run([node, script, runtime, "inproc", "2000"], capture_output=True,
                                    text=True, check=True).stdout)
    out["Pyodide runPython in-process"] = lat
    lat = []
    for _ in range(args.subprocess_runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "print(21*2)"], capture_output=True, check=True)
        lat.append((time.perf_counter() - t) * 1000)
    out["fresh `python3 -c` per request"] = lat
    lat = json.loads(subprocess.run([node, script, runtime, "fresh", str(args.fresh_runs)],
                                    capture_output=True, text=True, check=True).stdout)
    out["fresh Pyodide per request"] = lat
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="short runs (ctest)")
    args = ap.parse_args()
    args.seconds = 2 if args.quick else 5
    args.workers = os.cpu_count() or 2
    args.subprocess_runs = 20 if args.quick else 50
    args.fresh_runs = 2 if args.quick else 3
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (docker/install-deps.sh test installs it)")
    with tempfile.TemporaryDirectory() as tmp:
        baselines = measure_baselines(args, tmp)
        ready_s, (ready_rss, idle_rss), rows, overload = measure_scopebox(args, tmp)

    floor = statistics.median(baselines["Pyodide runPython in-process"])
    print(f"\nscopebox HTTP benchmark: {args.workers} workers, {os.cpu_count()} cores, "
          f"wrk {args.seconds}s per cell, loopback\n")
    print(f"{'scenario':<22} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'CPU ms/req':>10} {'worker RSS MB':>13} {'non-2xx':>7} {'errors':>6}")
    for r in rows:
        print(f"{r['scenario']:<22} {r['conns']:>5} {r['rps']:>9.0f} {r['p50_ms']:>8.3f} "
              f"{r['p99_ms']:>8.3f} {r['cpu_ms']:>10.3f} {r['rss']:>13.1f} {r['non2xx']:>7} "
              f"{r['errors']:>6}")
    print("\nbaselines (same machine, same run)")
    print(f"{'path':<34} {'p50 ms':>9} {'p99 ms':>9} {'n':>5}")
    for name, lat in baselines.items():
        print(f"{name:<34} {percentile(lat, 50):>9.3f} {percentile(lat, 99):>9.3f} {len(lat):>5}")
    trivial1 = next(r for r in rows if r["scenario"] == "trivial eval" and r["conns"] == 1)
    trivial16 = next(r for r in rows if r["scenario"] == "trivial eval" and r["conns"] == 16)
    scope16 = next(r for r in rows if r["scenario"] == "100 KB scope" and r["conns"] == 16)
    flood = overload["retrying at once"]
    others = {k: v for k, v in flood["statuses"].items() if k not in ("200", "503")}
    figures = [
        ("trivial_p50_1conn_ms", trivial1["p50_ms"], "ms", "trivial eval p50, 1 connection"),
        ("runpython_inproc_p50_ms", floor, "ms", "runPython in-process p50"),
        ("trivial_rps_16conn", trivial16["rps"], "req/s", "trivial eval, 16 connections"),
        ("trivial_cpu_ms_16conn", trivial16["cpu_ms"], "ms", "CPU/request"),
        ("scope100k_rps_16conn", scope16["rps"], "req/s", "100 KB scope, 16 connections"),
        ("scope100k_cpu_ms_16conn", scope16["cpu_ms"], "ms", "CPU/request"),
        ("idle_worker_rss_mb", max(idle_rss), "MB", "idle worker RSS (largest, once its CPU stood still)"),
        ("ready_worker_rss_mb", max(ready_rss), "MB", "at ready"),
        ("start_to_ready_s", ready_s, "s", f"start to ready, {args.workers} workers"),
        # A flood that loses requests or answers other than 200/503 has no
        # meaningful ratio: it is not measured, so it cannot pass.
        ("flood_p99_ratio", (flood["p99_ms"] or float("nan")) / max(trivial1["p99_ms"], 1e-3)
         if flood["lost"] == 0 and not others else float("nan"), "x",
         "flood, 256 connections retrying at once: accepted p99 / unloaded p99"),
        ("baseline_python_c_p50_ms", percentile(baselines["fresh `python3 -c` per request"], 50), "ms",
         "fresh `python3 -c` per request p50"),
        ("baseline_fresh_pyodide_p50_ms", percentile(baselines["fresh Pyodide per request"], 50), "ms",
         "fresh Pyodide per request p50"),
    ]
    print("\nfigures (tests/bench/summary.py compares them with their targets)")
    for key, value, unit, what in figures:
        print(f"  {what:<70} {value:10.3f} {unit}")
        record(key, value, unit, what)
    for mode, o in overload.items():
        answered = sum(o["statuses"].values())
        print(f"  overload, 256 connections {mode}: {answered} answered ({o['statuses'].get('200', 0)} "
              f"ran, {o['statuses'].get('503', 0)} got 503, other "
              f"{ {k: v for k, v in o['statuses'].items() if k not in ('200', '503')} or 0}), "
              f"{o['lost']} lost; p99 of accepted {o['p99_ms'] or float('nan'):.1f} ms")
    print("\n1 passed, 0 failed")


if __name__ == "__main__":
    main()
