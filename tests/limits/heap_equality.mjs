// The reset is exact (issue 16): after each of thousands of varied
// stateless runs and its restore, the whole wasm heap is compared with the
// pristine image, byte for byte: the image's non-zero pages and zero
// everywhere else, the part a run grew the heap by included. Any mismatch
// fails. The interpreter is booted and captured exactly as
// bench_isolation.mjs does (boot.mjs, lockdown, Isolation.capture), so a
// cheaper reset (high-water marks, tracked pages) must pass this first.
// On the instrumented build the restore is the tracked one (isolation.mjs):
// most restores must take it. With SCOPEBOX_DIRTY_BREAK set (one marking
// path switched off) and --expect-mismatch, the test must see a mismatch.
//   node heap_equality.mjs <runtimeDir> [runs] [--expect-mismatch]
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { bootSandboxed } from "../support/sandboxed_boot.mjs";

const runtimeDir = resolve(process.argv[2] ?? "runtime");
const RUNS = Number(process.argv[3] ?? 2000);
const EXPECT_MISMATCH = process.argv[4] === "--expect-mismatch";
// --tamper: every tenth run, after it and before its restore, wasm code (the
// interpreter's own memset, as a memory-safety bug in it would) clears the
// map's marks of the grains the run changed. The instrumentation sees a store
// into the map, and the restore must then be the full one: the heap still
// equals the image. --tamper-glue: the same through the JS glue (its
// zeroMemory, as a read() into a buffer the broken interpreter points at
// the map would): the glue must see its write land in the map.
const TAMPER_GLUE = process.argv[4] === "--tamper-glue";
const TAMPER = process.argv[4] === "--tamper" || TAMPER_GLUE;
// SCOPEBOX_RESTORE=full: the full copy, which the worker falls back to,
// must be exact too.
const FULL = globalThis.process.env.SCOPEBOX_RESTORE === "full";
const mod = (f) => import(pathToFileURL(join(runtimeDir, f)).href);
const { lockInterpreter, control } = await mod("lockdown.mjs");
const { Isolation } = await mod("isolation.mjs");
const { captureImage, parseImage } = await mod("image.mjs");
const { frameRunner } = await mod("frames.mjs");

const py = await bootSandboxed(runtimeDir);
const ctrl = new Int32Array(new SharedArrayBuffer(8));
py.setInterruptBuffer(ctrl);
// Both ways a request crosses into Python, in alternate passes over the
// snippets: the worker's (its bytes written into the heap by the glue's
// to_bytes, the answer read out as bytes; frames.mjs) and as a JS string
// (run_json, the playground's: the glue writes it character by character,
// indexed writes that nothing else in a run makes as many of).
// A frame ends in 64 KiB of whitespace, which the parse skips without
// making anything: most of the frame's bytes are then written by the
// glue's copy alone, in every run (the `glue:set` break). Without it,
// whether some part of them outlived the strings the parse makes, each
// written by wasm, hung on the heap's layout: CI saw 120 runs pass with
// that marking path off.
const FRAME_PAD = " ".repeat(65536);
const runner = py.pyimport("scopebox_worker");
const runFrame = frameRunner(runner);
const runJson = (text, i = 0) =>
  Math.floor(i / SNIPPETS.length) % 2 ? runner.run_json(text) : runFrame(Buffer.from(text + FRAME_PAD));
lockInterpreter(py, { sleepMs: (ms) => Atomics.wait(ctrl, 0, 0, ms) !== "timed-out" });
const iso = new Isolation(py);
iso.capture();

// Each writer of the heap gets exercised: the interpreter (objects, the
// allocator growing the break and the heap), the wasm stack (deep C and
// Python recursion), the JS glue (strings, syscalls, entropy, files,
// timers), exceptions and tracebacks, module imports, builtins patched.
const SNIPPETS = [
  (i) => `${i}+1`,
  (i) => `x = [str(j) for j in range(${(i % 7) * 40000})]`,
  (i) => `import json\njson.dumps({str(k): [k] * 3 for k in range(${(i % 5) * 2000})})`,
  (i) => `open('/tmp/f${i % 3}', 'w').write('x' * ${(i % 11) * 5000})`,
  (i) => `import os\nos.urandom(${16 + (i % 64)})`,
  (i) => `import builtins\nbuiltins.leak${i % 4} = ${i}`,
  (i) => `def f(n):\n    return 0 if n == 0 else 1 + f(n - 1)\nf(${200 + (i % 9) * 100})`,
  (i) => `import re\nlen(re.findall(r'a+b', 'aab' * ${(i % 13) * 1000}))`,
  (i) => `raise ValueError('boom ${i}' * ${i % 50})`,
  (i) => `import random, time\nrandom.random() + time.time() + ${i}`,
  (i) => `b = bytearray(${(i % 9) * 1 << 20})\nb[::4096] = b'y' * len(b[::4096])`,
  (i) => `import sys\nsys.modules['m${i % 3}'] = object()\nsys.setrecursionlimit(${500 + (i % 5) * 100})`,
  (i) => `import asyncio\nasync def g():\n    await asyncio.sleep(0)\n    return ${i}\nasyncio.ensure_future(g())`,
  (i) => `import decimal, fractions, collections\nstr(decimal.Decimal(${i}) / 7) + str(fractions.Fraction(${i}, 9))`,
  (i) => `import json\njson.loads('[' * ${(i % 4) * 300} + ']' * ${(i % 4) * 300})`,
  // C recursion that takes the wasm stack below anything boot reached.
  (i) => `import pickle\nx = y = []\nfor _ in range(${1000 + (i % 5) * 500}):\n    y.append([])\n    y = y[-1]\npickle.dumps(x)`,
  // The glue's writers (syscalls filling structs and buffers): reads of
  // files (fd_read, into buffers of every size), directory listings
  // (getdents), stat, readlink, getcwd, clocks, entropy.
  (i) => `import os\nlen(os.urandom(${(1 + (i % 5)) * 40000}))`,
  (i) => `import os\nopen('/tmp/r', 'wb').write(os.urandom(${1 + (i % 7) * 9000}))\nlen(open('/tmp/r', 'rb').read()) + len(open('/tmp/r', 'rb').read(${1 + (i % 3) * 5000}))`,
  (i) => `import os\nos.makedirs('/tmp/d${i % 4}/e', exist_ok=True)\n[os.stat(p).st_size for p in ['/tmp', '/lib', '/tmp/d${i % 4}']] + sorted(os.listdir('/tmp')) + os.listdir('/lib/python3.14')[:3]`,
  (i) => `import os, time\nos.symlink('/tmp', '/tmp/l${i}')\n(os.readlink('/tmp/l${i}'), os.getcwd(), time.monotonic(), time.perf_counter_ns(), time.localtime(${i}), time.strftime('%c'))`,
  // Big strings and bytes crossing JS and Python both ways, unicode wide.
  // `esc` arrives as twice its length in escapes: the request's bytes
  // (copied in by the glue, frames.mjs) outsize every string the run then
  // makes, so part of them is written by that copy alone.
  () => "del esc",
  (i) => `s = n_big * ${1 + (i % 3)}\nt = s.upper() + '\\u00e9\\u4e2d\\U0001f600' * ${(i % 5) * 3000}\nt`,
  (i) => `b'\\xff' * ${(i % 6) * 70000}`,
  // Exceptions crossing the runner, tracebacks formatted.
  (i) => `import traceback\ntry:\n    {}['k${i}']\nexcept KeyError:\n    x = traceback.format_exc() * ${1 + (i % 20)}\nraise RuntimeError(x)`,
  // dynscope (the side module) binding, reading, snapshotting.
  (i) => `import dynscope\ndef f():\n    return dynscope.get('v') + len(dynscope.snapshot())\nwith dynscope.bind(v=${i}, w='x' * ${(i % 9) * 1000}):\n    r = f()\nr`,
  // Imports of modules not in the pristine image.
  (i) => `import ${["fractions", "statistics", "textwrap", "difflib", "heapq", "bisect", "uuid", "hashlib"][i % 8]} as m\nm.__name__`,
];

const mismatch = () => {
  const heap = new Uint8Array(control.exports.memory.buffer);
  let at = 0;
  let end = 0;
  const firstNonZero = (from, to) => {
    for (let j = from; j < to; j++) if (heap[j] !== 0) return j;
    return -1;
  };
  for (const [off, len] of iso.runs) {
    // Zero between the image's runs: scanned word by word would be slower
    // than this compare against a zero page; a hit is then located exactly.
    const gap = firstNonZeroFast(heap, end, off);
    if (gap >= 0) return firstNonZero(gap, off);
    if (Buffer.compare(Buffer.from(heap.buffer, off, len), Buffer.from(iso.pristine.buffer, at, len)) !== 0) {
      for (let j = 0; j < len; j++) if (heap[off + j] !== iso.pristine[at + j]) return off + j;
    }
    at += len;
    end = off + len;
  }
  return firstNonZeroFast(heap, end, heap.length);
};

const ZERO = Buffer.alloc(65536);
function firstNonZeroFast(heap, from, to) {
  for (let o = from; o < to; o += ZERO.length) {
    const n = Math.min(ZERO.length, to - o);
    if (Buffer.compare(Buffer.from(heap.buffer, o, n), ZERO.subarray(0, n)) !== 0) {
      for (let j = o; j < o + n; j++) if (heap[j] !== 0) return j;
    }
  }
  return -1;
}

// A session's runs (every 25th iteration): created, run, captured, resumed
// from its image, run again, reset. The capture scans only the dirty pages
// (isolation.mjs): its image must equal the one a scan of every page makes.
let failures = 0;
let tampered = 0;
const sessionRun = (i, code) => {
  runJson(JSON.stringify({ type: "run", id: i + 1, code, mode: "exec", persist: true, scope: {} }));
  const image = captureImage(iso);
  const full = captureImage(iso, { fullScan: true });
  if (!image.equals(full)) {
    failures++;
    console.log(`session run ${i + 1}: the image from the dirty pages differs from the full scan's`);
  }
  return image;
};
const session = (i) => {
  iso.resume(null);
  const image = sessionRun(i, `k${i} = [str(j) for j in range(${(i % 7) * 3000})]\nimport json\nopen('/tmp/s', 'w').write('y' * ${i % 5000})`);
  iso.resume(parseImage(iso, image));
  sessionRun(i, `k${i}.append(len(open('/tmp/s').read()))\nimport os\nu = os.urandom(${(i % 4) * 30000})`);
  iso.restore();
};

for (let i = 0; i < RUNS; i++) {
  if (i % 25 === 24) {
    session(i);
    const at = mismatch();
    if (at >= 0) {
      failures++;
      console.log(`session at ${i + 1}: heap differs from the pristine image at byte ${at} (4 KiB page ${at >>> 12})`);
    }
    if (failures >= 5 || (failures && EXPECT_MISMATCH)) break;
  }
  const code = SNIPPETS[i % SNIPPETS.length](i);
  iso.beforeRun(false);
  runJson(JSON.stringify({ type: "run", id: i + 1, code, mode: "exec", scope: { n: i, s: "v".repeat(i % 300), n_big: "\u00e9z".repeat((i % 7) * 20000), esc: "\n".repeat(20000 + (i % 4) * 10000) } }), i);
  if (TAMPER && i % 10 === 9 && iso.tracked) {
    const { base, shift } = iso.tracked;
    const n = control.exports.memory.buffer.byteLength / 2 ** shift;
    if (TAMPER_GLUE) iso.M.zeroMemory(base, n);
    else iso.M._memset(base, 0, n);
    tampered++;
  }
  iso.restore();
  const at = mismatch();
  if (at >= 0) {
    failures++;
    console.log(`run ${i + 1} (${JSON.stringify(code.slice(0, 60))}): heap differs from the pristine image at byte ${at} (4 KiB page ${at >>> 12})`);
    // A heap left wrong is no interpreter to go on with when the tracking
    // is broken on purpose.
    if (failures >= 5 || EXPECT_MISMATCH) break;
  }
}
console.log(`${RUNS} runs, heap compared after each restore: ${failures ? "MISMATCH" : "identical"}; restores tracked ${iso.stats.tracked}, full ${iso.stats.full}`);
if (EXPECT_MISMATCH) {
  // The tracking broken on purpose (SCOPEBOX_DIRTY_BREAK): this test must
  // then see it, or it could not see a real gap either.
  console.log(failures ? "the broken tracking was caught" : "the broken tracking went unnoticed");
  process.exit(failures ? 0 : 1);
}
// The instrumented build must take the tracked path (a full copy every time
// would pass this test without testing the tracking).
if (TAMPER && (!tampered || !iso.escaped || iso.stats.full < RUNS / 10)) {
  console.log(`--tamper: ${tampered} tamperings, escaped ${iso.escaped}, ${iso.stats.full} full restores: the store into the map went unseen`);
  process.exit(1);
}
if (FULL && iso.stats.tracked) {
  console.log(`SCOPEBOX_RESTORE=full, yet ${iso.stats.tracked} restores were tracked`);
  process.exit(1);
}
if (!FULL && !iso.tracked) {
  console.log("the runtime is not instrumented: the tracked restore was not tested");
  process.exit(1);
}
if (!TAMPER && iso.tracked && iso.stats.tracked < RUNS / 2) {
  console.log(`only ${iso.stats.tracked} of ${RUNS} restores were tracked`);
  process.exit(1);
}
process.exit(failures ? 1 : 0);
