// The interpreter thread of a worker: boots Pyodide once, then runs each
// request through the Python-side runner (scopebox_worker), passing JSON strings
// across the JS/Python boundary because per-value conversion costs ~0.7 ms.
import { parentPort, workerData } from "node:worker_threads";
import { bootPython } from "./boot.mjs";

const started = performance.now();
let py;
try {
  py = await bootPython({ runtimeDir: workerData.runtimeDir });
} catch (e) {
  parentPort.postMessage({ type: "fatal", message: `boot failed: ${e?.stack ?? e}` });
  process.exit(1);
}
const runner = py.pyimport("scopebox_worker");
const runJson = runner.run_json;

parentPort.on("message", (msg) => {
  let json;
  try {
    json = runJson(msg.payload);
  } catch (e) {
    // The runner catches every Python exception itself; reaching here means
    // the interpreter is broken (e.g. a wasm stack overflow), so it must go.
    parentPort.postMessage({ type: "fatal", message: `interpreter failed: ${e?.message ?? e}` });
    return;
  }
  parentPort.postMessage({ type: "result", json });
});

parentPort.postMessage({
  type: "ready",
  info: {
    python: py.runPython("import sys; '.'.join(map(str, sys.version_info[:3]))"),
    pyodide: py.version,
    dynscope: py.runPython("import dynscope; dynscope.__version__"),
    boot_ms: Math.round(performance.now() - started),
  },
});
