// A scopebox worker process: speaks wasm/runtime/PROTOCOL.md on stdin/stdout
// and runs snippets in a Pyodide interpreter on a worker thread (interp.mjs).
// The interpreter lives off this thread so that this one stays free to read
// the host and to watch the clock while Python runs.
//
//   node [sandbox flags] worker.mjs [--heap-mb N] [--insecure]
//
// Unless --insecure, it refuses to run (fatal, exit 70) when the process
// sandbox it expects from the host (server/sandbox.c) is not in place: node's
// permission model without file writes, child processes or addons, no code
// generation from strings, an empty environment.
import { Worker } from "node:worker_threads";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { FrameDecoder, ProtocolError, encodeFrame, parseMessage } from "./frames.mjs";

const runtimeDir = dirname(fileURLToPath(import.meta.url));
const EXIT_PROTOCOL = 70;
const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_HEAP_MB = 256;
// The interpreter thread's own limits: a deep stack for C-level recursion
// inside the interpreter (json.dumps of deep lists, ...), a bounded JS heap.
const INTERP_LIMITS = { stackSizeMb: 256, maxOldGenerationSizeMb: 512, maxYoungGenerationSizeMb: 64 };

function parseArgs(argv) {
  const out = { heapMb: DEFAULT_HEAP_MB, insecure: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--insecure") {
      out.insecure = true;
      continue;
    }
    const m = /^--heap-mb(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`worker.mjs: unknown argument ${JSON.stringify(argv[i])}`);
    const v = Number(m[1] ?? argv[++i]);
    if (!Number.isInteger(v) || v < 64 || v > 4096) throw new Error("worker.mjs: --heap-mb must be 64..4096");
    out.heapMb = v;
  }
  return out;
}
const args = parseArgs(process.argv.slice(2));

// What the host's sandbox must have given this process; null when it holds.
function sandboxGap() {
  const perm = process.permission;
  if (!perm) return "node's permission model is off";
  for (const scope of ["fs.write", "child", "addon"]) {
    if (perm.has(scope)) return `the permission model allows ${scope}`;
  }
  try {
    new Function("return 1");
    return "code generation from strings is allowed";
  } catch {}
  if (Object.keys(process.env).length > 0) return "the environment is not empty";
  return null;
}

if (!args.insecure) {
  const gap = sandboxGap();
  if (gap) {
    process.stdout.write(encodeFrame(JSON.stringify({ type: "fatal", message: `sandbox missing: ${gap}` })));
    process.exit(EXIT_PROTOCOL);
  }
}

// ctrl[0]: Pyodide's interrupt word; ctrl[1]: "the run in flight timed out".
const ctrl = new Int32Array(new SharedArrayBuffer(8));

let inFlight = null; // id of the run the interpreter is busy with
let watchdog = null;
let stdinEnded = false;

function send(payload) {
  process.stdout.write(encodeFrame(payload));
}

function fatal(message) {
  try {
    send(JSON.stringify({ type: "fatal", message }));
  } finally {
    process.exit(EXIT_PROTOCOL);
  }
}

// Keep every byte of interpreter output off stdout, which carries frames.
const interp = new Worker(new URL("./interp.mjs", import.meta.url), {
  workerData: { runtimeDir, ctrl: ctrl.buffer, heapCapBytes: args.heapMb * 1024 * 1024 },
  stdout: true,
  stderr: false,
  resourceLimits: INTERP_LIMITS,
});
interp.stdout.pipe(process.stderr);

function runEnded() {
  inFlight = null;
  if (watchdog) clearTimeout(watchdog);
  watchdog = null;
}

interp.on("message", (msg) => {
  switch (msg.type) {
    case "ready":
      send(JSON.stringify({ ...msg.info, type: "ready", pid: process.pid }));
      break;
    case "result":
      runEnded();
      send(msg.json);
      if (stdinEnded) process.exit(0);
      break;
    case "timeout":
      runEnded();
      send(JSON.stringify({ type: "timeout", id: msg.id }));
      if (stdinEnded) process.exit(0);
      break;
    case "recycle":
      send(JSON.stringify({ type: "recycle", reason: msg.reason }));
      break;
    case "fatal":
      fatal(msg.message);
      break;
  }
});
interp.on("error", (err) => fatal(`interpreter thread failed: ${err?.stack ?? err}`));
interp.on("exit", (code) => fatal(`interpreter thread exited (${code})`));

// The soft limit: flag the run as timed out, then interrupt the interpreter
// (KeyboardInterrupt at the next bytecode, or at once inside time.sleep).
// The hard limit is the host's: it kills this process a grace period later.
function startWatchdog(id, ms) {
  watchdog = setTimeout(() => {
    if (inFlight !== id) return;
    Atomics.store(ctrl, 1, 1);
    Atomics.store(ctrl, 0, 2);
    Atomics.notify(ctrl, 0);
  }, ms);
}

function onMessage(msg) {
  if (msg.type !== "run" && msg.type !== "inspect") {
    throw new ProtocolError(`unknown message type ${JSON.stringify(msg.type)}`);
  }
  if (!Number.isSafeInteger(msg.id) || msg.id < 0) throw new ProtocolError(`${msg.type} without an unsigned integer id`);
  if (inFlight !== null) throw new ProtocolError(`${msg.type} ${msg.id} sent while ${inFlight} is in flight`);
  const timeout = msg.timeout_ms ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isSafeInteger(timeout) || timeout <= 0) throw new ProtocolError("timeout_ms must be a positive integer");
  inFlight = msg.id;
  Atomics.store(ctrl, 1, 0);
  Atomics.store(ctrl, 0, 0);
  startWatchdog(msg.id, timeout);
  return { persist: msg.persist === true || msg.type === "inspect" };
}

const decoder = new FrameDecoder();
process.stdin.on("data", (chunk) => {
  try {
    for (const payload of decoder.push(chunk)) {
      const msg = parseMessage(payload);
      const { persist } = onMessage(msg);
      interp.postMessage({ type: "run", id: msg.id, persist, payload });
    }
  } catch (e) {
    fatal(e instanceof ProtocolError ? e.message : String(e?.stack ?? e));
  }
});
process.stdin.on("end", () => {
  if (decoder.midFrame) fatal("stdin ended inside a frame");
  stdinEnded = true;
  if (inFlight === null) process.exit(0);
});
