// What "no shared state between stateless requests" costs (isolation.mjs):
// boots the worker's interpreter exactly as interp.mjs does (lockdown,
// pristine capture), then times, per workload, the run itself and the
// restore that follows it. Prints figures; asserts nothing about time.
//   node bench_isolation.mjs <runtimeDir> [runs]
import { appendFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { bootSandboxed } from "../../support/sandboxed_boot.mjs";

const runtimeDir = resolve(process.argv[2] ?? "runtime");
const N = Number(process.argv[3] ?? 200);
const mod = (f) => import(pathToFileURL(join(runtimeDir, f)).href);
const { lockInterpreter } = await mod("lockdown.mjs");
const { Isolation } = await mod("isolation.mjs");

// The boot includes loading Pyodide's JS: replacing a worker pays it too.
let t = performance.now();
const py = await bootSandboxed(runtimeDir);
const bootMs = performance.now() - t;
const ctrl = new Int32Array(new SharedArrayBuffer(8));
py.setInterruptBuffer(ctrl);
const runJson = py.pyimport("scopebox_worker").run_json;
t = performance.now();
lockInterpreter(py, { sleepMs: (ms) => Atomics.wait(ctrl, 0, 0, ms) !== "timed-out" });
const lockMs = performance.now() - t;
const iso = new Isolation(py);
t = performance.now();
const snap = iso.capture();
const captureMs = performance.now() - t;

const workloads = {
  "1+1": "1+1",
  "import json + dumps": "import json\njson.dumps(list(range(1000)))",
  "write a file": "open('/tmp/f', 'w').write('x' * 10000)",
  "monkeypatch builtins": "import builtins\nbuiltins.x = 1",
  "20 MB of objects": "x = [str(i) for i in range(300000)]",
};

// Figures for tests/bench/summary.py (see tests/bench/figures.py).
const record = (key, value, unit, what) => {
  const path = process.env.SCOPEBOX_BENCH_FIGURES;
  if (path) appendFileSync(path, JSON.stringify({ key, value, unit, what }) + "\n");
};

const stats = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return { median: s[Math.floor(s.length / 2)], p95: s[Math.floor(s.length * 0.95)] };
};
const f = (x) => x.toFixed(3).padStart(8);

console.log(`pyodide boot ${bootMs.toFixed(0)} ms; lockdown ${lockMs.toFixed(1)} ms; capture ${captureMs.toFixed(1)} ms`);
console.log(`pristine heap ${(snap.heapBytes / 1048576).toFixed(1)} MiB, ${snap.slots} reference slots`);
console.log(`${"workload".padEnd(24)} ${"run med".padStart(8)} ${"run p95".padStart(8)} ${"rst med".padStart(8)} ${"rst p95".padStart(8)}  (ms, ${N} runs)`);
let id = 0;
for (const [name, code] of Object.entries(workloads)) {
  const run = [], restore = [];
  for (let i = 0; i < N; i++) {
    const payload = JSON.stringify({ type: "run", id: ++id, code, mode: "exec", scope: {} });
    iso.beforeRun(false);
    let t0 = performance.now();
    runJson(payload);
    run.push(performance.now() - t0);
    t0 = performance.now();
    iso.restore();
    restore.push(performance.now() - t0);
  }
  const r = stats(run), s = stats(restore);
  console.log(`${name.padEnd(24)} ${f(r.median)} ${f(r.p95)} ${f(s.median)} ${f(s.p95)}`);
  if (name === "1+1") {
    record("reset_ms", s.median, "ms", "per-request reset after 1+1, median");
    record("reset_run_ms", r.median, "ms", "the run itself");
  }
}
console.log(`heap now ${(iso.grownBytes() / 1048576).toFixed(1)} MiB above pristine`);
console.log("For comparison, replacing the worker instead costs a boot:", bootMs.toFixed(0), "ms of CPU");
