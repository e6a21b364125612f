// The interpreter thread of a worker: boots Pyodide once, locks it down
// (lockdown.mjs), captures its pristine state (isolation.mjs), then runs each
// request through the Python-side runner (scopebox_worker), passing the
// frames' JSON across the JS/Python boundary as bytes (frames.mjs,
// frameRunner) because per-value conversion costs ~0.7 ms and a string's
// conversion goes one character at a time.
//
// Shared with the controlling thread (worker.mjs): `ctrl` (ctrl.mjs). This
// thread reads the host's frames (stdin) and writes every answer (stdout)
// itself; `fatal` goes through the controlling thread, which writes it and
// ends the process.
import { parentPort, workerData } from "node:worker_threads";
import { Socket } from "node:net";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { installRuntime, loadInterpreter, pyodideDir } from "./boot.mjs";
import {
  InterpreterBroke, cancelTimers, control, emptyGlobals, lockInterpreter, moduleHooks, prepareRealm, realTimers,
} from "./lockdown.mjs";
import { Isolation } from "./isolation.mjs";
import { ImageError, captureImage, parseImage, warmImage } from "./image.mjs";
import { CTRL, endRun, jobWord } from "./ctrl.mjs";
import { FrameDecoder, MAX_FRAME, ProtocolError, frameRunner, parseMessage, warmRuns, writeFrameSync } from "./frames.mjs";

const started = performance.now();
// The boot's phases, for the host's log (tests/bench/startup reads them),
// from the process's start to this thread's ("node": a worker thread's
// performance.now counts from the process's start) on; the clock itself,
// since the boot stops performance.now (freezeClocks).
const clock = performance.now.bind(performance);
const phases = [`node ${Math.round(started)}`];
let phaseAt = started;
// Beside each phase's wall time, the CPU the process spent in it (all its
// threads: V8 compiles wasm on its own): on a shared machine the steadier
// figure of the two.
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
let cpuAt = cpuMs();
const cpuPhases = [`node ${Math.round(cpuAt)}`];
function phase(name) {
  const now = clock();
  const cpu = cpuMs();
  phases.push(`${name} ${Math.round(now - phaseAt)}`);
  cpuPhases.push(`${name} ${Math.round(cpu - cpuAt)}`);
  phaseAt = now;
  cpuAt = cpu;
}
const ctrl = new Int32Array(workerData.ctrl);
const { INTERRUPT, TIMED_OUT, RUN, TIMEOUT_MS, STARTS, JOB, CANCEL_ID, CANCELLED } = CTRL;
// A run frame without timeout_ms gets the server's default (limits.json).
const DEFAULT_TIMEOUT_MS = workerData.limits["timeout-ms"].default;
const send = (...payloads) => writeFrameSync(1, ...payloads);
// Past this much heap growth above the pristine image, restores get slow
// (the grown part is zeroed each time): the worker asks to be replaced.
const RECYCLE_GROWTH = 64 * 1024 * 1024;
// Some JS-side tables only grow (Pyodide interns strings for good): after
// this many restores the worker asks to be replaced too. Measured growth is
// ~0.1 MB of JS heap per 5,000 restores, so this is a backstop for hosts
// that turned --recycle-after-runs off, not a routine event (at 5,000 it
// cost a ~1 s boot every ~15 s per worker under load).
const RECYCLE_RESTORES = 100000;
// Output written to fds 1/2 directly (os.write) bypasses the runner's
// capture and lands in the host's log: keep only this much per run.
const RAW_OUTPUT_PER_RUN = 8192;

let rawOutput = 0;
function rawLine(line) {
  if (rawOutput >= RAW_OUTPUT_PER_RUN) return;
  rawOutput += line.length + 1;
  process.stderr.write(`python: ${line.slice(0, 512)}${rawOutput >= RAW_OUTPUT_PER_RUN ? " [further output dropped]" : ""}\n`);
}

// A streamed run's output (PROTOCOL.md, `output`): what the snippet writes
// goes to the host in frames, at once when nothing went for OUTPUT_FLUSH_MS,
// otherwise gathered until that much time passed (checked at the next write),
// OUTPUT_FLUSH_BYTES are pending, the run sleeps, or it ends. A C loop that
// writes nothing more holds back at most what it wrote in its last 50 ms.
const OUTPUT_FLUSH_BYTES = 16384;
const OUTPUT_FLUSH_MS = 50;
let streamId = null; // the run whose output streams, or null
let pending = [];
let pendingBytes = 0;
let lastFlush = -Infinity;

function emitOutput(stream, text) {
  if (streamId === null) return;
  const last = pending[pending.length - 1];
  if (last && last.stream === stream) last.text += text;
  else pending.push({ stream, text });
  pendingBytes += text.length;
  if (pendingBytes >= OUTPUT_FLUSH_BYTES || performance.now() - lastFlush >= OUTPUT_FLUSH_MS) flushOutput();
}

function flushOutput() {
  if (streamId === null || pending.length === 0) return;
  // The host's JSON parser refuses lone surrogates, which a str may hold.
  for (const { stream, text } of pending) send(JSON.stringify({ type: "output", id: streamId, stream, text: text.toWellFormed() }));
  pending = [];
  pendingBytes = 0;
  lastFlush = performance.now();
}

// Interruptible, CPU-free sleep for time.sleep: blocks on the interrupt
// word, so the watchdog's interrupt wakes it. True when woken.
function sleepMs(ms) {
  flushOutput(); // what was printed before a wait is seen during it
  const t = Math.max(0, Math.min(Number(ms) || 0, 2 ** 31 - 1));
  return Atomics.wait(ctrl, INTERRUPT, 0, t) !== "timed-out";
}

// Every worker of a build must boot to the very same pristine heap (session
// images are relative to it, image.mjs): the boot reads the clocks (file
// times, import caches, freed floats), so they stand still until the boot's
// imports are done.
function freezeClocks() {
  const now = Date.now;
  const perf = performance.now;
  Date.now = () => 1e12;
  performance.now = () => 1000;
  return () => {
    Date.now = now;
    performance.now = perf;
  };
}

// While the boot awaits (Pyodide's import, loadPyodide, the snapshot's
// discardBuffer), this thread's event loop may have nothing alive in it; an
// empty loop makes Node wait for every V8 background task to finish before
// it goes on (NodePlatform::DrainTasks), here the wasm tier-up compiles
// queued so far, which kept the boot waiting 0.6-0.8 s at discardBuffer's
// 'close' (tests/bench/startup/bench_startup.py). A ref'd timer keeps the
// loop alive until the boot is done; the compiles go on beside it.
const bootAlive = realTimers.setInterval(() => {}, 2 ** 30);

let py, runFrame, isolation, info;
try {
  const thawClocks = freezeClocks();
  prepareRealm();
  const asm = await import(pathToFileURL(join(pyodideDir(workerData.runtimeDir), "pyodide.asm.mjs")).href);
  // From the build-time snapshot when there is one (snapshot.mjs): the
  // lockdown and the pristine capture below come after the restore, as they
  // touch JS objects that no snapshot holds.
  let fromSnapshot;
  ({ py, snapshot: fromSnapshot } = await loadInterpreter({
    runtimeDir: workerData.runtimeDir,
    stdout: rawLine,
    stderr: rawLine,
    loadOptions: {
      jsglobals: emptyGlobals(),
      env: { HOME: "/home/pyodide" },
      // Python's stdin is at end of file. Pyodide's default reads node's
      // stdin, which is the host's frame pipe (and, on this thread, has no
      // fd: opening /dev/stdin for writing threw inside Pyodide and ended
      // the worker).
      stdin: () => null,
      createPyodideModule: moduleHooks({
        heapCapBytes: workerData.heapCapBytes,
        filesCapBytes: workerData.filesCapBytes,
        createPyodideModule: asm.default,
      }),
    },
  }));
  phase("pyodide");
  installRuntime(py, workerData.runtimeDir);
  phase("runtime");
  info = {
    snapshot: fromSnapshot,
    python: py.runPython("import sys; '.'.join(map(str, sys.version_info[:3]))"),
    pyodide: py.version,
    dynscope: py.runPython("import dynscope; dynscope.__version__"),
  };
  py.setInterruptBuffer(ctrl);
  const runner = py.pyimport("scopebox_worker");
  // The runner's SIGINT handler asks this: 0 no run in flight (between runs),
  // 1 a run is (also while settle() runs its callbacks), 2 it is past its
  // limit (scopebox_worker/limit.py).
  runner.install(() => (Atomics.load(ctrl, RUN) === 0 ? 0 : 1 + Atomics.load(ctrl, TIMED_OUT)), emitOutput);
  runFrame = frameRunner(runner);
  runner.warm();
  thawClocks();
  phase("runner");
  const lock = lockInterpreter(py, { sleepMs });
  phase("lockdown");
  warmRuns(runFrame, runner);
  phase("warm-up");
  isolation = new Isolation(py);
  const snap = isolation.capture();
  warmImage();
  phase("capture");
  realTimers.clearInterval(bootAlive);
  process.stderr.write(
    `sandbox: removed built-ins ${lock.removed.join(",") || "-"}; scrubbed reference slots ` +
      `${lock.scrubbed.join(",") || "-"}; froze ${lock.frozen} intrinsics; pristine heap ` +
      `${(snap.heapBytes / 1048576).toFixed(1)} MiB (${(snap.keptBytes / 1048576).toFixed(1)} MiB not zero, kept), ` +
      `${snap.slots} reference slots, ` +
      `${snap.stripped} paths made read-only\n`,
  );
  process.stderr.write(`boot: ms per phase: ${phases.join(", ")}\n`);
  process.stderr.write(`boot: CPU ms per phase: ${cpuPhases.join(", ")}\n`);
} catch (e) {
  parentPort.postMessage({ type: "fatal", message: `boot failed: ${e?.stack ?? e}` });
  process.exit(1);
}

// Errors from a broken interpreter (a wasm stack overflow, "Pyodide already
// fatally failed") are not Python exceptions: the instance must go.
function isPythonError(e) {
  return e?.constructor?.name === "PythonError" && !String(e?.message).includes("fatally failed");
}

function errorResult(id, error) {
  return JSON.stringify({
    type: "result", id, ok: false, result: null, stdout: "", stderr: "", output: [], files: [],
    truncated: { stdout: false, stderr: false, output: false, files: 0 },
    error: { line: null, source: null, traceback: [], ...error },
    scope: {}, definitions: {}, changes: { added: [], changed: [], removed: [] },
    dynamic: { final: [], returned: null, snapshots: [], snapshots_omitted: 0 }, tasks_cancelled: 0,
  });
}

function escapedError(id, e) {
  const type = typeof e.type === "string" ? e.type : "Exception";
  return errorResult(id, { type, message: `${type} while reporting the run's results` });
}

// The run broke the interpreter (InterpreterBroke): what it printed and
// made lived in the heap that is being put back, so the answer says only how
// it ended.
function brokenResult(id, e) {
  if (e.kind === "fault") {
    return errorResult(id, {
      type: "InterpreterFault",
      message: `the run broke the interpreter (${e.message.slice(0, 300)}); its state was discarded`,
    });
  }
  return errorResult(id, {
    type: "SystemExit",
    message: `${e.message}: the run ended with exit code ${e.exitCode}; its state was discarded`,
    exit_code: e.exitCode,
  });
}

// The runner's answer turned into the `timeout` frame (PROTOCOL.md): the run
// as far as it got, and where it was interrupted.
// A cancelled run's `cancelled` frame is the same, under its own type.
function timeoutAnswer(id, answer, type = "timeout") {
  let r = null;
  try {
    r = answer === undefined ? null : JSON.parse(Buffer.from(answer.buffer, answer.byteOffset, answer.byteLength).toString("utf8"));
  } catch {}
  if (r === null || r.type !== "result") return JSON.stringify({ type, id });
  const { type: _t, id: _i, ok: _o, result: _r, ...rest } = r;
  return JSON.stringify({ ...rest, type, id });
}

// A stateless run's reset; false when it failed (the worker is ending: a
// fatal is on its way). A `recycle` frame it decides on goes into `after`,
// the frames sent behind the run's answer (PROTOCOL.md: after an answer,
// before its idle).
let recycleAsked = false;
// Tests only (worker.mjs --test-reset-delay-ms, from the host's
// --worker-test-reset-delay-ms): the reset takes that much longer, so that a
// test can act while the next run's frame waits in the pipe for the `idle`
// (tests/e2e/test_pipelined.py). A blocking wait, as the reset itself is: no
// frame is read during it.
const RESET_DELAY_MS = workerData.testResetDelayMs ?? 0;
const resetDelayWord = new Int32Array(new SharedArrayBuffer(4));
function testResetDelay() {
  if (RESET_DELAY_MS > 0) Atomics.wait(resetDelayWord, 0, 0, RESET_DELAY_MS);
}

function restoreNow(after) {
  testResetDelay();
  try {
    isolation.restore();
  } catch (e) {
    parentPort.postMessage({ type: "fatal", message: `state restore failed: ${e?.stack ?? e}` });
    return false;
  }
  if (recycleAsked) return true;
  let reason = null;
  if (isolation.grownBytes() > RECYCLE_GROWTH) {
    reason = `wasm heap grew ${(isolation.grownBytes() / 1048576).toFixed(0)} MiB past its pristine size`;
  } else if (isolation.stats.restores >= RECYCLE_RESTORES) {
    reason = `${isolation.stats.restores} restores`;
  }
  if (reason) {
    recycleAsked = true;
    after.push(JSON.stringify({ type: "recycle", reason }));
  }
  return true;
}

// Unhandled rejections from a snippet's leftover promises must not end the
// thread (Node's default); they are the snippet's business.
process.on("unhandledRejection", () => {});

let runs = 0; // numbers the runs for ctrl[RUN]
let busy = false; // from a frame's arrival to its `idle`
let drainPending = false; // stdin ended while busy

// A run or inspect frame from the host (its payload's bytes): checked, then
// run at once (the host sends the next one only after this one's `idle`).
function onFrame(payload) {
  if (busy) throw new ProtocolError("a frame arrived before the worker said idle");
  const msg = parseMessage(payload);
  if (msg.type !== "run" && msg.type !== "inspect") {
    throw new ProtocolError(`unknown message type ${JSON.stringify(msg.type)}`);
  }
  if (!Number.isSafeInteger(msg.id) || msg.id < 0) throw new ProtocolError(`${msg.type} without an unsigned integer id`);
  const timeout = msg.timeout_ms ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isSafeInteger(timeout) || timeout <= 0 || timeout > 0x7fffffff) {
    throw new ProtocolError("timeout_ms must be a positive integer below 2^31");
  }
  const memoryMb = msg.memory_mb;
  if (memoryMb !== undefined && (!Number.isSafeInteger(memoryMb) || memoryMb < 1 || memoryMb > 4096)) {
    throw new ProtocolError("memory_mb must be an integer from 1 to 4096");
  }
  const resume = msg.image;
  if (resume !== undefined && typeof resume !== "string") throw new ProtocolError("image must be a string");
  const persist = msg.persist === true || msg.type === "inspect" || resume !== undefined;
  // Cancelled before its frame was read (worker.mjs, cancelRun): answered
  // without running, so no line of it runs and nothing needs resetting;
  // what a run would have made is unknown, i.e. absent (the host says null).
  if (msg.type === "run" && Atomics.load(ctrl, CANCEL_ID) === jobWord(msg.id)) {
    send(JSON.stringify({
      type: "cancelled", id: msg.id, stdout: "", stderr: "", output: [],
      error: { type: "KeyboardInterrupt", message: "cancelled before it started", line: null, source: null, traceback: [] },
    }));
    send(IDLE);
    return;
  }
  busy = true;
  if (resume !== undefined) {
    // A session resumed from its image (or a new one, ""): checked before
    // anything is reset, so that a refused image costs nothing.
    try {
      isolation.resume(resume === "" ? null : parseImage(isolation, Buffer.from(resume, "base64")));
    } catch (e) {
      if (!(e instanceof ImageError)) throw e;
      send(JSON.stringify({ type: "rejected", id: msg.id, error: { code: e.code, message: e.message } }));
      send(IDLE);
      busy = false;
      return;
    }
    delete msg.image;
    msg.persist = true; // the runner continues the session's namespace
    payload = Buffer.from(JSON.stringify(msg));
  }
  rawOutput = 0;
  control.broken = null;
  runs = runs >= 0x7fffffff ? 1 : runs + 1;
  Atomics.store(ctrl, TIMED_OUT, 0);
  Atomics.store(ctrl, CANCELLED, 0);
  Atomics.store(ctrl, INTERRUPT, 0);
  Atomics.store(ctrl, TIMEOUT_MS, timeout);
  Atomics.store(ctrl, JOB, jobWord(msg.id));
  Atomics.store(ctrl, RUN, runs);
  // Cancelled before its frame was read (worker.mjs, cancelRun): the
  // runner starts none of its code (scopebox_worker/runner.py, _body), and
  // the watchdog, armed below, interrupts at once and every 50 ms.
  if (Atomics.load(ctrl, CANCEL_ID) === jobWord(msg.id)) {
    Atomics.store(ctrl, TIMED_OUT, 1);
    Atomics.store(ctrl, CANCELLED, 1);
    Atomics.store(ctrl, INTERRUPT, 2);
    if (msg.type === "run") payload = Buffer.from(JSON.stringify({ ...msg, cancelled: true }));
  }
  Atomics.add(ctrl, STARTS, 1);
  Atomics.notify(ctrl, STARTS); // the watchdog (worker.mjs)
  streamId = msg.type === "run" && msg.stream === true ? msg.id : null;
  pending = [];
  pendingBytes = 0;
  lastFlush = -Infinity;
  run(msg.id, persist, payload, msg.capture === true, memoryMb).then(
    () => {
      busy = false;
      if (drainPending) parentPort.postMessage({ type: "drained" });
    },
    (e) => protocolFailure(e),
  );
}

// The session's state after its run, as an `image` frame (the host stores
// it before it answers the client), sent after the answer and before `idle`:
// the run's leftover callbacks have run (settle), timers are cancelled.
// The worker keeps the state: the host may send the session's next run
// without an image.
function sendImage(id) {
  const t0 = performance.now();
  let image;
  try {
    image = captureImage(isolation);
  } catch (e) {
    send(JSON.stringify({ type: "image", id, image: null, error: `capture failed: ${e?.message ?? e}` }));
    return;
  }
  const text = image.toString("base64");
  if (text.length > MAX_FRAME - 4096) {
    send(JSON.stringify({ type: "image", id, image: null, error: `session state too large (${image.length} bytes as an image)` }));
    return;
  }
  send(`{"type":"image","id":${id},"bytes":${image.length},"capture_ms":${(performance.now() - t0).toFixed(3)},"image":"${text}"}`);
}

// One turn of the event loop: the promise reactions (microtasks) the run
// queued run before it; its timers are cancelled on both sides. What runs
// here is the run's code, under its limit (the watchdog is still armed).
async function settle() {
  cancelTimers();
  await new Promise((resolve) => realTimers.setImmediate(resolve));
  cancelTimers();
}

// A run, start to end (PROTOCOL.md, "Runs and asyncio"): its code and
// everything it scheduled finish under its time limit; then its answer; then,
// for a stateless run, the reset; and only then `idle`. Nothing of the run
// executes after its answer.
async function run(id, persist, payload, capture, memoryMb) {
  const seq = runs; // ctrl[RUN] while it is in flight
  isolation.beforeRun(persist);
  limitMemory(memoryMb);
  let answer, pyError;
  try {
    answer = runFrame(payload);
  } catch (e) {
    if (!(e instanceof InterpreterBroke) && !isPythonError(e)) {
      parentPort.postMessage({ type: "fatal", message: `interpreter failed: ${e?.message ?? e}` });
      return;
    }
    if (!(e instanceof InterpreterBroke)) pyError = e;
  }
  if (!control.broken) await settle();
  // The output before the answer, and none after it.
  if (!control.broken) flushOutput();
  streamId = null;
  pending = [];
  // End the run (ctrl.mjs, endRun): a stop the controlling thread is
  // flagging now lands first; none lands afterwards, here or in the next run.
  endRun(ctrl, seq);
  const timedOut = Atomics.load(ctrl, TIMED_OUT) === 1;
  const cancelled = Atomics.load(ctrl, CANCELLED) === 1;
  Atomics.store(ctrl, INTERRUPT, 0);
  const broken = control.broken;
  if (broken && persist) {
    // A session's namespace lived in the broken heap: the session ends.
    parentPort.postMessage({ type: "fatal", message: `a session's run broke the interpreter: ${broken.message}` });
    return;
  }
  let text;
  if (broken) {
    isolation.distrust();
    text = brokenResult(id, broken);
  } else if (timedOut) {
    text = timeoutAnswer(id, answer, cancelled ? "cancelled" : "timeout");
  } else if (pyError) {
    // An exception escaped the runner itself (typically MemoryError while
    // it encoded a huge scope): the interpreter is fine, the answer is an
    // error result without scope.
    text = escapedError(id, pyError);
  } else {
    text = answer;
  }
  if (capture && !timedOut && !broken) {
    // The image is the run's last frame: the session's state stays resident,
    // nothing is reset, so no `idle` follows (the host takes the image as it).
    send(text);
    sendImage(id);
    return;
  }
  if (persist) {
    send(text, IDLE);
    return;
  }
  // Stateless: the answer, then the reset, then `idle`. The host may write
  // the next stateless run's frame as soon as it has the answer (PROTOCOL.md,
  // "idle"); from here to `idle` nothing awaits, so that frame waits in the
  // pipe until the reset is done, and the reset overlaps the answer's way to
  // its client and the next request's way back. Resetting first and then
  // answering with `idle` (the previous order) put the whole reset on every
  // request's path.
  // A broken run's reset is the full restore (a copy of the whole heap).
  send(text);
  const after = [];
  if (!restoreNow(after)) return;
  control.broken = null;
  send(...after, IDLE);
}
const IDLE = JSON.stringify({ type: "idle" });

// A run's own memory limit (`memory_mb`, at most the worker's --heap-mb):
// dlmalloc's footprint limit, i.e. what malloc may take from the heap in
// all, the interpreter's own share included. Exact even on a heap an
// earlier run grew (it never shrinks), which the growth cap alone would
// not see. The limit lives in malloc's state in the heap: set at every run
// (off when the run names none), and put back by a stateless reset.
const FOOTPRINT_OFF = -1; // SIZE_MAX as a wasm i32: no limit
function limitMemory(mb) {
  const set = control.exports?.malloc_set_footprint_limit;
  if (typeof set !== "function") return;
  set(mb === undefined || mb >= 4096 ? FOOTPRINT_OFF : mb * 1048576);
}

function protocolFailure(e) {
  parentPort.postMessage({ type: "fatal", message: e instanceof ProtocolError ? e.message : String(e?.stack ?? e) });
}

// stdin is the host's pipe; nothing else in the process reads it.
const decoder = new FrameDecoder({ bytes: true });
const input = new Socket({ fd: 0, readable: true, writable: false });
input.on("data", (chunk) => {
  try {
    const frames = decoder.push(chunk);
    // The host waits for each answer: two frames at once break the protocol.
    if (frames.length > 1) throw new ProtocolError(`${frames.length} frames sent before an answer`);
    if (frames.length === 1) onFrame(frames[0]);
  } catch (e) {
    input.pause();
    protocolFailure(e);
  }
});
input.on("end", () => {
  if (decoder.midFrame) protocolFailure(new ProtocolError("stdin ended inside a frame"));
  else if (busy) drainPending = true; // answered when the run ends
  else parentPort.postMessage({ type: "drained" }); // every run read is answered
});
input.on("error", (e) => protocolFailure(new Error(`stdin: ${e?.message ?? e}`)));

send(
  JSON.stringify({
    ...info,
    type: "ready",
    pid: process.pid,
    boot_ms: Math.round(performance.now() - started),
    heap_cap_mb: Math.round(control.heapCap / 1048576),
    files_cap_mb: Math.round(control.filesCap / 1048576),
    fingerprint: isolation.fingerprint.toString("hex"),
  }),
);
