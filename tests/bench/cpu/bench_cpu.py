"""Python's own speed in wasm (issue 16): a few CPU-bound programs, each
through scopebox (the host's run_ms of a stateless run), in native
python3.11 and in Pyodide in-process (boot.mjs's interpreter, plain exec
with the real builtins), the ratios printed, and the first run on a freshly
started worker or interpreter against the steady state (the best of the
runs after it: on a shared machine the best is the least disturbed). Each program gets a fresh server and a fresh Pyodide, so
that its first run is a first run. Prints figures; never asserts a time.

    bench_cpu.py [--runs N]

Environment: SCOPEBOX_SERVER, SCOPEBOX_NODE, SCOPEBOX_RUNTIME_DIR.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "support"))
sys.path.insert(0, os.path.join(HERE, ".."))
from scopebox_server import ScopeboxServer  # noqa: E402
from figures import record  # noqa: E402

PROGRAMS = {
    "n-body, 5 bodies, 10,000 steps": """
import math
PI = math.pi
SOLAR_MASS = 4 * PI * PI
DAYS_PER_YEAR = 365.24
BODIES = [
    ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], SOLAR_MASS),
    ([4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01],
     [1.66007664274403694e-03 * DAYS_PER_YEAR, 7.69901118419740425e-03 * DAYS_PER_YEAR,
      -6.90460016972063023e-05 * DAYS_PER_YEAR], 9.54791938424326609e-04 * SOLAR_MASS),
    ([8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01],
     [-2.76742510726862411e-03 * DAYS_PER_YEAR, 4.99852801234917238e-03 * DAYS_PER_YEAR,
      2.30417297573763929e-05 * DAYS_PER_YEAR], 2.85885980666130812e-04 * SOLAR_MASS),
    ([1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01],
     [2.96460137564761618e-03 * DAYS_PER_YEAR, 2.37847173959480950e-03 * DAYS_PER_YEAR,
      -2.96589568540237556e-05 * DAYS_PER_YEAR], 4.36624404335156298e-05 * SOLAR_MASS),
    ([1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01],
     [2.68067772490389322e-03 * DAYS_PER_YEAR, 1.62824170038242295e-03 * DAYS_PER_YEAR,
      -9.51592254519715870e-05 * DAYS_PER_YEAR], 5.15138902046611451e-05 * SOLAR_MASS),
]
def advance(bodies, pairs, dt, n):
    for _ in range(n):
        for (r1, v1, m1), (r2, v2, m2) in pairs:
            dx = r1[0] - r2[0]; dy = r1[1] - r2[1]; dz = r1[2] - r2[2]
            mag = dt * ((dx * dx + dy * dy + dz * dz) ** -1.5)
            b1 = m1 * mag; b2 = m2 * mag
            v1[0] -= dx * b2; v1[1] -= dy * b2; v1[2] -= dz * b2
            v2[0] += dx * b1; v2[1] += dy * b1; v2[2] += dz * b1
        for r, (vx, vy, vz), m in bodies:
            r[0] += dt * vx; r[1] += dt * vy; r[2] += dt * vz
def main():
    bodies = [([*r], [*v], m) for r, v, m in BODIES]
    pairs = [(bodies[i], bodies[j]) for i in range(5) for j in range(i + 1, 5)]
    advance(bodies, pairs, 0.01, 10000)
    return bodies[0][0][0]
main()
""",
    "JSON round trip, ~2 MB": """
import json
data = [{"id": i, "name": "item %d" % i, "tags": ["alpha", "beta", str(i % 7)],
         "score": i * 0.25, "ok": i % 3 == 0, "child": {"n": i, "s": "x" * (i % 13)}}
        for i in range(16000)]
text = json.dumps(data)
back = json.loads(text)
assert len(text) > 1_800_000 and back[-1]["id"] == 15999
""",
    "regex scan of 0.6 MB": """
import re
line = "user%d@example.com sent 1234 bytes to 10.0.%d.7 at 12:34:56, status OK; "
text = "".join(line % (i, i % 256) for i in range(8000))
emails = re.findall(r"[\\w.]+@[\\w.]+\\.\\w+", text)
ips = re.findall(r"\\b\\d{1,3}(?:\\.\\d{1,3}){3}\\b", text)
words = len(re.findall(r"\\b[a-z]+\\b", text))
assert len(emails) == 8000 and len(ips) == 8000 and words > 0
""",
    "dict-heavy loop": """
def main():
    counts = {}
    index = {}
    for i in range(150000):
        k = i % 2000
        counts[k] = counts.get(k, 0) + 1
        s = "k%d" % (i % 500)
        if s in index:
            index[s].append(i)
        else:
            index[s] = [i]
    return len(counts), sum(len(v) for v in index.values())
main()
""",
    "builtin-heavy loop (len 10^6 times)": """
def f(x):
    t = 0
    for i in range(1000000):
        t += len(x)
    return t
f("abc")
""",
}
BUILTIN_LOOP = "builtin-heavy loop (len 10^6 times)"

DRIVER = """
import json, sys, time
def _bench(src, runs):
    code = compile(src, "<bench>", "exec")
    out = []
    for _ in range(runs):
        g = {"__name__": "__main__"}
        t = time.perf_counter()
        exec(code, g)
        out.append((time.perf_counter() - t) * 1e3)
    return json.dumps(out)
"""

PYODIDE = r"""
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
const [runtimeDir, srcFile, driverFile, runs] = process.argv.slice(2);
const { bootPython } = await import(pathToFileURL(join(resolve(runtimeDir), "boot.mjs")).href);
const py = await bootPython({ runtimeDir: resolve(runtimeDir), stdout: () => {}, stderr: (l) => console.error(l) });
py.runPython(readFileSync(driverFile, "utf8"));
py.globals.set("_src", readFileSync(srcFile, "utf8"));
console.log(py.runPython(`_bench(_src, ${Number(runs)})`));
"""


def native(src, runs):
    code = DRIVER + f"\nprint(_bench(sys.stdin.read(), {runs}))\n"
    out = subprocess.run(["/usr/bin/python3.11", "-c", code], input=src, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)


def pyodide(src, runs, tmp):
    paths = {}
    for name, text in (("prog.py", src), ("driver.py", DRIVER), ("run.mjs", PYODIDE)):
        paths[name] = os.path.join(tmp, name)
        with open(paths[name], "w") as f:
            f.write(text)
    out = subprocess.run([os.environ["SCOPEBOX_NODE"], paths["run.mjs"], os.environ["SCOPEBOX_RUNTIME_DIR"],
                          paths["prog.py"], paths["driver.py"], str(runs)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# The same program run by a snippet under exec() with the real builtins
# dict: the anchor of the fallback's cost (issue 16), in the same worker.
REAL_BUILTINS = """
import builtins
exec(compile({src!r}, "<bench>", "exec"), {{"__name__": "__main__", "__builtins__": builtins.__dict__}})
"""


def run_ms(server, code):
    status, _, answer = server.run({"code": code, "mode": "exec", "timeout_ms": 60000}, timeout=120)
    if status != 200 or not answer.get("ok"):
        raise RuntimeError(f"scopebox could not run the program: {status} {answer}")
    return answer["timing"]["run_ms"]


def scopebox(src, runs, anchor=False):
    """run_ms of each run, and with `anchor` also of the program under the
    real builtins: twice the runs, the two in turns whose order flips every
    round (snippet, real, real, snippet, ...), so that neither always runs
    later than the other. V8 is still tiering the worker's code up over its
    first seconds; with the snippet always first, each of its runs was the
    less warmed of a pair (1.05x one run, 1.01x another)."""
    out, real = [], []
    with ScopeboxServer("--workers", "1") as server:
        server.wait_healthy(1)
        for i in range(2 * runs if anchor else runs):
            pair = [(out, src), (real, REAL_BUILTINS.format(src=src))] if anchor else [(out, src)]
            for into, code in (pair if i % 2 == 0 else pair[::-1]):
                into.append(run_ms(server, code))
    return out, real


def main():
    import tempfile
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=6, help="runs per program and place (the first is the cold one)")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, src in PROGRAMS.items():
            sb, real = scopebox(src, args.runs, anchor=name == BUILTIN_LOOP)
            got = {"scopebox": sb, "pyodide": pyodide(src, args.runs, tmp), "native": native(src, args.runs)}
            rows.append((name, {k: (v[0], min(v[1:])) for k, v in got.items()}))
            if real:
                anchor = (name, min(sb[1:]), min(real[1:]))
    print(f"\nCPU-bound programs: ms, first run on a fresh worker/interpreter and steady state "
          f"(best of the {args.runs - 1} runs after it)")
    print(f"{'program':<38} {'scopebox':>17} {'Pyodide in-proc':>17} {'native 3.11':>17} "
          f"{'sb/pyo':>7} {'pyo/nat':>7} {'sb/nat':>7} {'sb 1st/steady':>13}")
    for name, r in rows:
        (sf, ss), (pf, ps), (nf, ns) = r["scopebox"], r["pyodide"], r["native"]
        print(f"{name:<38} {sf:8.1f} {ss:8.1f} {pf:8.1f} {ps:8.1f} {nf:8.1f} {ns:8.1f} "
              f"{ss / ps:7.2f} {ps / ns:7.2f} {ss / ns:7.2f} {sf / ss:13.2f}")
        slug = name.split(",")[0].split(" (")[0].replace(" ", "_").replace("-", "_").lower()
        record(f"cpu_{slug}_scopebox_ms", ss, "ms", f"{name}: scopebox, steady")
        record(f"cpu_{slug}_scopebox_first_ms", sf, "ms", f"{name}: scopebox, first run")
        record(f"cpu_{slug}_pyodide_ms", ps, "ms", f"{name}: Pyodide in-process")
        record(f"cpu_{slug}_native_ms", ns, "ms", f"{name}: native python3.11")
    print("(sb/pyo: scopebox, FallbackBuiltins and the request included, against plain exec in Pyodide)")
    name, plain, real = anchor
    print(f"\n{name} in one scopebox worker: as the snippet {plain:.1f} ms, under exec() with the real "
          f"builtins {real:.1f} ms: {plain / real:.2f}x")
    record("builtin_loop_ratio", plain / real, "x",
           "builtin-heavy loop in scopebox: as a snippet / under exec with the real builtins")


if __name__ == "__main__":
    main()
