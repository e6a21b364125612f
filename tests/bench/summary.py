"""The targets table of issue 16: for each target, the figure the benches
measured in this run (from the JSON lines in the figures file, the last
line of a key winning), the target, and "met" or "NOT met"; a target no
bench measured is printed as "not measured", never left out.

    python3 tests/bench/summary.py FIGURES_FILE
"""
import json
import math
import os
import sys

# key, what, comparison, target, unit, the figure printed beside it
TARGETS = [
    ("trivial_p50_1conn_ms", "trivial eval p50, 1 connection", "<=", 0.8, "ms",
     "runpython_inproc_p50_ms"),
    ("trivial_rps_16conn", "trivial eval, 16 connections", ">=", 1500, "req/s",
     "trivial_cpu_ms_16conn"),
    ("scope100k_rps_16conn", "100 KB scope, 16 connections", ">=", 600, "req/s",
     "scope100k_cpu_ms_16conn"),
    ("reset_ms", "per-request reset (1+1)", "<=", 0.3, "ms", "reset_run_ms"),
    ("idle_worker_rss_mb", "idle worker RSS", "<=", 150, "MB", "ready_worker_rss_mb"),
    ("builtin_loop_ratio", "builtin-heavy loop vs real builtins", "<=", 1.05, "x", None),
    ("start_to_ready_s", "start to ready, 2 workers", "<=", 1.5, "s", None),
    ("flood_p99_ratio", "flood at 256 connections: accepted p99 / unloaded p99", "<=", 10, "x",
     None),
]
BASELINES = ["baseline_python_c_p50_ms", "baseline_fresh_pyodide_p50_ms"]


def load(path):
    figures = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                fig = json.loads(line)
                figures[fig["key"]] = fig
            except (ValueError, KeyError, TypeError):
                print(f"summary: {path}:{n}: not a figure, skipped", file=sys.stderr)
    return figures


def fmt(fig):
    v = fig["value"]
    if not isinstance(v, (int, float)) or math.isnan(v):
        return "n/a"
    digits = 0 if abs(v) >= 100 else 2 if abs(v) >= 1 else 3
    return f"{v:.{digits}f} {fig['unit']}"


def verdict(value, op, target):
    if not isinstance(value, (int, float)) or math.isnan(value):
        return "not measured"
    ok = value <= target if op == "<=" else value >= target
    return "met" if ok else "NOT met"


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: summary.py FIGURES_FILE")
    try:
        figures = load(argv[1])
    except OSError as e:
        sys.exit(f"summary: cannot read the figures: {e}")
    print("\ntargets (issue 16), figures from this run")
    try:
        with open("/proc/loadavg") as f:
            avg = [float(x) for x in f.read().split()[:3]]
        cores = os.cpu_count() or 1
        print(f"load average {avg[0]:.1f} / {avg[1]:.1f} / {avg[2]:.1f} (1/5/15 min) on {cores} cores"
              + (": the machine was shared, the times are not the service's own" if avg[1] > cores else ""))
    except OSError:
        pass
    print(f"{'target':<56} {'figure':>12} {'target':>12}  {'verdict':<12} beside it")
    for key, what, op, target, unit, beside in TARGETS:
        fig = figures.get(key)
        shown = fmt(fig) if fig else "-"
        state = verdict(fig["value"], op, target) if fig else "not measured"
        extra = ""
        if beside and beside in figures:
            extra = f"{figures[beside]['what']} {fmt(figures[beside])}"
        print(f"{what:<56} {shown:>12} {op + ' ' + str(target) + ' ' + unit:>12}  {state:<12} {extra}")
    print("\nbaselines (same run)")
    for key in BASELINES:
        fig = figures.get(key)
        print(f"  {(fig['what'] if fig else key):<54} {fmt(fig) if fig else 'not measured':>12}")


if __name__ == "__main__":
    main(sys.argv)
