// A scopebox worker process: speaks wasm/runtime/PROTOCOL.md on stdin/stdout
// and runs snippets in a Pyodide interpreter on a worker thread (interp.mjs).
// The interpreter lives off this thread so that this one stays free to read
// the host and to watch the clock while Python runs. The interpreter thread
// reads the host's frames from stdin and writes its answers to stdout
// itself (no thread hop on a run's path: ~0.25 ms less per run); this
// thread keeps the clock (the watchdog) and ends the process.
//
//   node [sandbox flags] worker.mjs [--heap-mb N] [--files-mb N] [--insecure]
//                                   [--test-ctrl-delay-ms N] [--test-reset-delay-ms N]
//
// --heap-mb caps the wasm heap and the run's files together; --files-mb is
// the files' share of it (fsquota.mjs). --test-ctrl-delay-ms and
// --test-reset-delay-ms are for tests only (testCtrlDelay below; interp.mjs,
// testResetDelay).
//
// Unless --insecure, it refuses to run (fatal, exit 70) when the process
// sandbox it expects from the host (server/sandbox.c) is not in place: node's
// permission model without file writes, child processes or addons, no code
// generation from strings, an environment of malloc tunables alone.
import { Worker } from "node:worker_threads";
import { fstatSync, readFileSync } from "node:fs";
import { Socket } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FrameDecoder, parseMessage, writeFrameSync } from "./frames.mjs";
import { CTRL, CTRL_WORDS, claimRun, jobWord, releaseRun } from "./ctrl.mjs";

const runtimeDir = dirname(fileURLToPath(import.meta.url));
const EXIT_PROTOCOL = 70;
// The defaults and ranges of --heap-mb and --files-mb are the server's
// --worker-heap-mb and --worker-files-mb (server/openapi.yaml, made into
// limits.json at build time).
const LIMITS = JSON.parse(readFileSync(join(runtimeDir, "limits.json"), "utf8"));
const HEAP = LIMITS["worker-heap-mb"];
const FILES = LIMITS["worker-files-mb"];
// The interpreter thread's own limits: a deep stack for C-level recursion
// inside the interpreter (json.dumps of deep lists, ...), a bounded JS heap.
// A small young generation: the boot's allocations grew a 64 MB one's new
// space to 16 MB, all of it resident in an idle worker for good (no GC runs
// while idle), and runs with big scopes grew it further (a worker's RSS went
// from 163 to 207 MB over 400 runs of a 100 KB scope; 161 with this one).
// Python's objects live in the wasm heap, so the JS side of a run allocates
// little and short-lived: the extra scavenges cost no measurable CPU per run.
const INTERP_LIMITS = { stackSizeMb: 256, maxOldGenerationSizeMb: 512, maxYoungGenerationSizeMb: 4 };

function parseArgs(argv) {
  const out = { heapMb: HEAP.default, filesMb: FILES.default, insecure: false, testCtrlDelayMs: 0, testResetDelayMs: 0 };
  const ranges = {
    "heap-mb": ["heapMb", HEAP.minimum, HEAP.maximum],
    "files-mb": ["filesMb", FILES.minimum, FILES.maximum],
    "test-ctrl-delay-ms": ["testCtrlDelayMs", 0, 60000],
    "test-reset-delay-ms": ["testResetDelayMs", 0, 60000],
  };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--insecure") {
      out.insecure = true;
      continue;
    }
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m || !Object.hasOwn(ranges, m[1])) throw new Error(`worker.mjs: unknown argument ${JSON.stringify(argv[i])}`);
    const [key, lo, hi] = ranges[m[1]];
    const v = Number(m[2] ?? argv[++i]);
    if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`worker.mjs: --${m[1]} must be ${lo}..${hi}`);
    out[key] = v;
  }
  return out;
}
const args = parseArgs(process.argv.slice(2));

const MALLOC_TUNABLES = /^glibc\.malloc\.[a-z_]+=[0-9]+(:glibc\.malloc\.[a-z_]+=[0-9]+)*$/;

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
  // The host passes malloc tunables alone (server/sandbox.c, WORKER_ENV).
  const env = Object.keys(process.env);
  if (env.some((k) => k !== "GLIBC_TUNABLES") || (env.length && !MALLOC_TUNABLES.test(process.env.GLIBC_TUNABLES))) {
    return "the environment holds more than malloc tunables";
  }
  return null;
}

if (!args.insecure) {
  const gap = sandboxGap();
  if (gap) {
    writeFrameSync(1, JSON.stringify({ type: "fatal", message: `sandbox missing: ${gap}` }));
    process.exit(EXIT_PROTOCOL);
  }
}

const ctrl = new Int32Array(new SharedArrayBuffer(4 * CTRL_WORDS));

let watchdog = null;

// Tests only (--test-ctrl-delay-ms, PROTOCOL.md "Control words"; the host
// passes it only from its --worker-test-ctrl-delay-ms, off by default):
// stands for this thread being descheduled between deciding to stop the run
// in flight and flagging it, for that long or until the interpreter thread
// starts another run, whichever comes first: the worst case of that window
// (tests/e2e/test_ctrl_race.py).
function testCtrlDelay() {
  if (args.testCtrlDelayMs > 0) Atomics.wait(ctrl, CTRL.STARTS, Atomics.load(ctrl, CTRL.STARTS), args.testCtrlDelayMs);
}

// Flags run `run` (set() writes the flags, and may decline by returning
// false) if it is still the run in flight, under its claim (ctrl.mjs): the
// only way this thread writes a run's flags. False if it was over.
function flagRun(run, set) {
  if (!claimRun(ctrl, run)) return false;
  try {
    testCtrlDelay();
    return set() !== false;
  } finally {
    releaseRun(ctrl, run);
  }
}

function send(payload) {
  writeFrameSync(1, payload);
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
  workerData: {
    runtimeDir, limits: LIMITS, ctrl: ctrl.buffer, heapCapBytes: args.heapMb * 1024 * 1024, filesCapBytes: args.filesMb * 1024 * 1024,
    testResetDelayMs: args.testResetDelayMs,
  },
  stdout: true,
  stderr: false,
  resourceLimits: INTERP_LIMITS,
});
interp.stdout.pipe(process.stderr);

// The interpreter thread answers the host directly; it tells this thread
// only what ends the process.
interp.on("message", (msg) => {
  switch (msg.type) {
    case "drained": // every run handed over before stdin ended is answered
      process.exit(0);
      break;
    case "fatal":
      fatal(msg.message);
      break;
  }
});
interp.on("error", (err) => fatal(`interpreter thread failed: ${err?.stack ?? err}`));
interp.on("exit", (code) => fatal(`interpreter thread exited (${code})`));

// The soft limit: flag the run as timed out, then interrupt the interpreter
// (KeyboardInterrupt at the next bytecode, or at once inside time.sleep),
// and again every REINTERRUPT_MS while the run goes on (a snippet that
// catches one, or a cancelled task's clean-up that drags on). The hard limit
// is the host's: it kills this process a grace period later.
const REINTERRUPT_MS = 50;
function startWatchdog(run, ms) {
  if (watchdog) clearTimeout(watchdog);
  const fire = () => {
    const flagged = flagRun(run, () => {
      Atomics.store(ctrl, CTRL.TIMED_OUT, 1);
      Atomics.store(ctrl, CTRL.INTERRUPT, 2);
      Atomics.notify(ctrl, CTRL.INTERRUPT);
    });
    if (flagged) watchdog = setTimeout(fire, REINTERRUPT_MS);
  };
  // A run cancelled before the watchdog saw it start is stopped at once.
  watchdog = setTimeout(fire, Atomics.load(ctrl, CTRL.CANCELLED) === 1 ? 0 : ms);
}

// The host's `cancel` (PROTOCOL.md): stops the named run exactly as its
// time limit would, now. Recorded first, so that a run whose frame the
// interpreter thread has not read yet finds it when it starts (interp.mjs);
// a cancel of a run already over matches nothing.
function cancelRun(id) {
  const job = jobWord(id);
  Atomics.store(ctrl, CTRL.CANCEL_ID, job);
  const run = Atomics.load(ctrl, CTRL.RUN);
  const cancelled = flagRun(run, () => {
    // JOB is the claimed run's (set before RUN, changed only after its
    // end). A run already past its limit stays a timeout (the watchdog runs
    // on this thread: it cannot fire in between).
    if (Atomics.load(ctrl, CTRL.JOB) !== job || Atomics.load(ctrl, CTRL.TIMED_OUT) !== 0) return false;
    Atomics.store(ctrl, CTRL.CANCELLED, 1);
    Atomics.store(ctrl, CTRL.TIMED_OUT, 1);
    return true;
  });
  // Released, the run may end before this fires: fire claims it again.
  if (cancelled) startWatchdog(run, 0);
}

// fd 3 is the host's control pipe (server/worker.c): only `cancel` frames,
// read here because the interpreter thread, which reads stdin, is busy
// running the snippet exactly when a cancel matters. A worker started
// without one (tests that speak the protocol on stdin alone) has no cancel.
function readControl() {
  try {
    if (!fstatSync(3).isFIFO()) return;
  } catch {
    return;
  }
  const decoder = new FrameDecoder();
  const pipe = new Socket({ fd: 3, readable: true, writable: false });
  pipe.on("data", (chunk) => {
    try {
      for (const payload of decoder.push(chunk)) {
        const msg = parseMessage(payload);
        if (msg.type !== "cancel" || !Number.isSafeInteger(msg.id) || msg.id < 0) {
          throw new Error(`control pipe: unexpected ${JSON.stringify(payload.slice(0, 80))}`);
        }
        cancelRun(msg.id);
      }
    } catch (e) {
      fatal(e?.message ?? String(e));
    }
  });
  // The host closes it with the worker's stdin; stdin's end decides.
  pipe.on("end", () => {});
  pipe.on("error", () => {});
  pipe.unref();
}
readControl();

// Woken once per run started (CTRL.STARTS): arms the watchdog for it.
async function watchRuns() {
  let seen = 0;
  for (;;) {
    const wait = Atomics.waitAsync(ctrl, CTRL.STARTS, seen);
    if (wait.async) await wait.value;
    seen = Atomics.load(ctrl, CTRL.STARTS);
    const run = Atomics.load(ctrl, CTRL.RUN);
    if (run !== 0) startWatchdog(run, Atomics.load(ctrl, CTRL.TIMEOUT_MS));
  }
}
watchRuns();
