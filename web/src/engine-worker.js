// The browser engine's interpreter: Pyodide with the dynscope side module
// and the scopebox runner package, installed by the installer the server's
// workers use (wasm/runtime/install.mjs), so both engines run the same
// Python. It runs in a Web Worker: the page stays responsive while Python
// runs, and the side module may be compiled synchronously (the main thread
// refuses over 8 MB).
//
// Messages in:  {type: "boot", interrupt: SharedArrayBuffer | null, heapCapBytes}
//               {type: "call", id, payload, fresh}   payload: a PROTOCOL.md request, as JSON text;
//                                                   fresh: a stateless run (its files go after it)
//               {type: "end-session", id}
// Messages out: {type: "ready", info} | {type: "failed", message}
//               {type: "output", id, stream, text}  a streamed run's output, as it is written
//               {type: "answer", id, json, ms} | {type: "crash", id, message}
import { capHeapGrowth, hookImports } from "../../wasm/runtime/heap-cap.mjs";
import { SIDE_MODULE, WORKER_PACKAGE, installRuntime, reseedRandom } from "../../wasm/runtime/install.mjs";
const base = new URL("./", self.location.href);

let py = null;
let runJson = null;
let interrupt = null;

// A streamed run's output goes to the page while the run runs, gathered as
// the server's worker gathers it (PROTOCOL.md `output`): at once after 50 ms
// without any, otherwise with the next write past 50 ms; the rest with the
// answer (which holds all of it anyway). The page reads messages while
// Python still runs here.
const GATHER_MS = 50;
let liveId = null, pending = [], sentAt = 0;
function flushOutput() {
  if (!pending.length) return;
  for (const [stream, text] of pending) self.postMessage({ type: "output", id: liveId, stream, text });
  pending = [];
  sentAt = performance.now();
}
function emit(stream, text) {
  if (liveId === null || !text) return;
  const last = pending[pending.length - 1];
  if (last && last[0] === stream) last[1] += text;
  else pending.push([stream, text]);
  if (performance.now() - sentAt >= GATHER_MS) flushOutput();
}

// The directories a run may write (wasm/runtime/isolation.mjs): what a
// stateless run or an ended session leaves there is removed, so the next
// run starts with what was there at boot, as on the server (which resets
// the whole file system; here the page is the user's own, and the files
// are what a run could see of another).
const WRITABLE_DIRS = ["/tmp", "/home/pyodide"];
const HOME = "/home/pyodide";
let bootEntries = null;

function entries(dir) {
  try {
    return py.FS.readdir(dir).filter((n) => n !== "." && n !== "..");
  } catch {
    return [];
  }
}

function removeTree(path) {
  const st = py.FS.lstat(path);
  if (py.FS.isDir(st.mode)) {
    py.FS.chmod(path, 0o777);
    for (const n of entries(path)) removeTree(`${path}/${n}`);
    py.FS.rmdir(path);
  } else {
    py.FS.unlink(path);
  }
}

function resetFiles() {
  for (const dir of WRITABLE_DIRS) {
    for (const n of entries(dir)) {
      if (bootEntries[dir].has(n)) continue;
      try {
        removeTree(`${dir}/${n}`);
      } catch {
        /* a run's oddity (a busy name); the next reset tries again */
      }
    }
  }
  py.FS.chdir(HOME);
}

async function fetchOk(url, as) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return as === "json" ? res.json() : new Uint8Array(await res.arrayBuffer());
}

// engine/manifest.json lists the runner package's files (written by the
// build from wasm/runtime/scopebox_worker).
async function fetchRuntime() {
  const manifest = await fetchOk(new URL("engine/manifest.json", base), "json");
  const files = await Promise.all(manifest.package.files.map(async (name) =>
    [name, await fetchOk(new URL(`engine/${manifest.package.name}/${name}`, base))]));
  return { sideModule: await fetchOk(new URL(`engine/${SIDE_MODULE}`, base)), files };
}

async function boot(msg) {
  const started = performance.now();
  const runtime = fetchRuntime(); // in parallel with Pyodide's own downloads
  const { loadPyodide } = await import(new URL("pyodide/pyodide.mjs", base).href);
  const asm = await import(new URL("pyodide/pyodide.asm.mjs", base).href);
  py = await loadPyodide({
    indexURL: new URL("pyodide/", base).href,
    // The server's heap cap, by the server's mechanism: past it a snippet
    // gets MemoryError instead of taking the tab's memory.
    createPyodideModule: hookImports(asm.default, (imports) => {
      capHeapGrowth(imports.env, () => msg.heapCapBytes ?? 0);
      return imports;
    }),
    // The runner captures the snippet's output; nothing else should print.
    stdout: () => {},
    stderr: () => {},
  });
  if (msg.interrupt) {
    interrupt = new Int32Array(msg.interrupt);
    py.setInterruptBuffer(interrupt);
  }
  const { sideModule, files } = await runtime;
  installRuntime(py, { sideModule, packageFiles: files });
  reseedRandom(py);
  // The run's own asyncio loops, as in the server's worker (aio.py).
  const runner = py.pyimport(WORKER_PACKAGE);
  runner.install(undefined, emit);
  runJson = runner.run_json;
  bootEntries = Object.fromEntries(WRITABLE_DIRS.map((d) => [d, new Set(entries(d))]));
  return {
    python: py.runPython("import sys; '.'.join(map(str, sys.version_info[:3]))"),
    pyodide: py.version,
    dynscope: py.runPython("import dynscope; dynscope.__version__"),
    boot_ms: Math.round(performance.now() - started),
  };
}

function call(msg) {
  if (interrupt) Atomics.store(interrupt, 0, 0);
  const t0 = performance.now();
  liveId = msg.id;
  pending = [];
  sentAt = 0;
  try {
    const json = runJson(msg.payload);
    flushOutput();
    liveId = null;
    const ms = performance.now() - t0;
    if (msg.fresh) resetFiles();
    self.postMessage({ type: "answer", id: msg.id, json, ms });
  } catch (e) {
    // The runner turns every exception of the snippet into data; reaching
    // here means the interpreter itself failed (or an interrupt landed
    // outside the snippet), and the page replaces this worker.
    liveId = null;
    self.postMessage({ type: "crash", id: msg.id, message: String(e?.message ?? e) });
  }
}

// A session's namespace lives in the runner between `persist` runs (one
// session per interpreter, as on a server session's dedicated worker);
// ending one forgets it.
function endSession(msg) {
  if (interrupt) Atomics.store(interrupt, 0, 0);
  try {
    py.runPython("import scopebox_worker.runner as _r; _r._session_globals = None; del _r");
    resetFiles();
    self.postMessage({ type: "answer", id: msg.id, json: "{}", ms: 0 });
  } catch (e) {
    self.postMessage({ type: "crash", id: msg.id, message: String(e?.message ?? e) });
  }
}

self.onmessage = async (e) => {
  const msg = e.data;
  switch (msg.type) {
    case "boot":
      try {
        self.postMessage({ type: "ready", info: await boot(msg) });
      } catch (err) {
        self.postMessage({ type: "failed", message: String(err?.message ?? err) });
      }
      break;
    case "call":
      call(msg);
      break;
    case "end-session":
      endSession(msg);
      break;
  }
};
