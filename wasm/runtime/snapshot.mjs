// Memory snapshots of a booted Pyodide (issue #6, "Fast start"): a cold
// loadPyodide spends ~4 s compiling stdlib source; restoring the wasm heap of
// an interpreter that already did so takes well under a second.
//
// The snapshot is made at BUILD time (make-snapshot.mjs, a CMake custom
// command running node outside the sandbox) and only read at worker start:
// the worker itself may not write files (node's permission model, seccomp).
//
// Uses Pyodide's private `_makeSnapshot` / `_loadSnapshot` options and
// `makeMemorySnapshot()`: pinned to the Pyodide version in package-lock.json
// (a snapshot carries Pyodide's BUILD_ID and is refused by another build; the
// build rule also re-makes it when pyodide's files change).
//
// What is in it: the wasm linear memory only, i.e. CPython initialised and
// the PRELOAD modules imported. What is NOT in it, and so done after every
// restore (boot.mjs): the Emscripten file system (JS objects; Pyodide
// re-installs the same stdlib zip, which must be the one the snapshot was
// made with), dynscope (a side module: its code is a separate wasm instance
// and its function-table slots are not in the heap, so it is dlopen'd after
// restore; it is small), our runtime package (it imports dynscope), the
// lockdown (JS objects outside the heap) and the pristine capture.
//
// Randomness: everything seeded inside the heap is frozen into the file.
// `random`'s Mersenne state is reseeded from os.urandom after each restore
// (boot.mjs); os.urandom itself reads crypto.getRandomValues, fresh per
// process. CPython's hash secret (_Py_HashSecret, PYTHONHASHSEED) is drawn
// once, when the snapshot is made, and cannot change afterwards (every
// cached str hash and dict in the heap depends on it): all workers started
// from one snapshot share it until the next build. See PROTOCOL.md,
// "Start-up snapshot", for why that is acceptable.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { immortalizeLive } from "./immortal.mjs";

export const SNAPSHOT_FILE = "pyodide.snapshot";
// The Python half of immortal.mjs, in the runtime directory.
const IMMORTAL_HELPER = "scopebox_worker/immortal.py";

// Stdlib modules imported before the snapshot is taken, so that restored
// workers find them compiled: those our runtime package, boot.mjs,
// lockdown.mjs and isolation.mjs import (plus what those pull in anyway).
// Each module more is heap that every idle worker holds twice (its heap and
// isolation.mjs's pristine copy), so snippets' favourites are not added.
// Pure stdlib only: nothing that dlopens a side module or touches `js`.
// One exception to "no favourites": tracemalloc (and the pickle it imports).
// Showing any warning with a source object (an unawaited coroutine, the
// commonest mistake in async snippets) imports it, and the stdlib is
// compiled from source in every stateless run: ~0.3 s per such run.
export const PRELOAD = [
  "ast", "base64", "builtins", "collections", "datetime", "decimal", "functools", "gc", "glob",
  "importlib", "io", "itertools", "json", "keyword", "linecache", "math", "operator", "random",
  "re", "site", "string", "sys", "time", "tracemalloc", "types", "warnings",
];

// Pyodide's snapshot header (pyodide.asm.mjs, API.makeSnapshot): u32 magic,
// u32 offset of the heap image, ... The heap is whole wasm pages.
const MAGIC = 1886286592;
const WASM_PAGE = 65536;

// Why `bytes` cannot be a snapshot, or null. Checked before loadPyodide sees
// them: it sizes the wasm memory from the snapshot's length, and a memory
// too small for the module makes its instantiation fail in a way loadPyodide
// never reports (it waits forever). A wrong Pyodide build is caught by
// loadPyodide itself (BUILD_ID), which throws.
function invalid(bytes) {
  if (bytes.byteLength < 64) return "too short";
  const head = new Uint32Array(bytes.buffer, bytes.byteOffset, 2);
  if (head[0] !== MAGIC) return "bad magic number";
  const heap = bytes.byteLength - head[1];
  if (head[1] < 48 || heap < 16 * 1048576 || heap % WASM_PAGE) return "bad heap size";
  return null;
}

// The snapshot's bytes, or null (no file: a cold boot is the expected
// fallback, silently; any other problem is logged through `log`).
export function readSnapshot(runtimeDir, log) {
  const path = join(runtimeDir, SNAPSHOT_FILE);
  let bytes;
  try {
    const buf = readFileSync(path);
    // Pyodide reads the header as u32s: it must be 4-byte aligned.
    bytes = buf.byteOffset % 4 ? Uint8Array.from(buf) : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    if (e?.code !== "ENOENT") log(`snapshot: cannot read ${path} (${e?.code ?? e}); booting cold`);
    return null;
  }
  const why = invalid(bytes);
  if (why) {
    log(`snapshot: ${path} is not usable (${why}); booting cold`);
    return null;
  }
  return bytes;
}

// Takes the snapshot of an interpreter loaded with `_makeSnapshot: true`,
// after importing PRELOAD. Refuses when a side module is loaded: its code
// would be missing in the restored instance.
//
// Its objects are made immortal and then frozen (gc.freeze: the collector
// never walks them again, and gc.get_objects leaves them out). Each worker's
// capture makes the live objects immortal too (isolation.mjs), walking what
// the collector tracks; done here once per build, that walk, and the
// boot's collections, cover only what the boot made after the restore. The
// helper is the runner package's immortal.py, which is not importable yet:
// it runs as a module of its own that nothing keeps (immortal as well, and
// small).
export function makeSnapshot(py, runtimeDir) {
  py.runPython(`import ${PRELOAD.join(", ")}\nimport gc; gc.collect()`);
  const libs = Object.keys(py._module.LDSO?.loadedLibsByName ?? {}).filter((n) => n.endsWith(".so"));
  if (libs.length) throw new Error(`side modules loaded before the snapshot: ${libs.join(", ")}`);
  const helper = py.runPython("import types\ntypes.ModuleType('_scopebox_immortal')");
  const ns = helper.__dict__;
  try {
    py.runPython(readFileSync(join(runtimeDir, IMMORTAL_HELPER), "utf8"), { globals: ns });
    immortalizeLive(helper, () => new Int32Array(py._module.HEAP32.buffer));
  } finally {
    ns.destroy();
    helper.destroy();
  }
  py.runPython("gc.freeze()");
  return py.makeMemorySnapshot();
}

// Frees a boot-only buffer now rather than at some later GC, which an idle
// worker may never run (the snapshot: ~30 MB of RSS otherwise; the wasm
// file's bytes, lockdown.mjs: 17 MB): transferring an ArrayBuffer detaches
// it, and the message, dropped with its closed port, takes the memory with
// it. Resolves once that happened. Only for a buffer the view owns whole.
export function discardBuffer(bytes) {
  if (bytes.byteOffset !== 0 || bytes.buffer.byteLength !== bytes.byteLength) return Promise.resolve();
  const { port1, port2 } = new MessageChannel();
  const closed = new Promise((resolve) => port2.once("close", resolve));
  port1.postMessage(null, [bytes.buffer]);
  port1.close();
  port2.close();
  return closed;
}

// Pyodide's restore writes the snapshot's whole heap image into the fresh
// wasm memory, zero pages too (half of it), and a written page is resident
// for good: ~15 MB of every idle worker's RSS that only held zeros (the
// pristine copy, isolation.mjs, keeps the non-zero part; the resets write
// only the pages a run marked). Wraps `API.restoreSnapshot` so that it
// restores the same bytes writing only the non-zero pages, and zeroing a
// page the image has as zero only where the memory holds something there
// (what instantiation wrote: reading a page never written maps no memory).
// Pyodide still checks the header (magic, build id) and reads its JSON; it
// is handed the header alone, so its own copy writes nothing.
const PAGE = 4096;
const ZERO = Buffer.alloc(PAGE);

export function restoreSparsely(API, heapOf) {
  const restore = API.restoreSnapshot;
  if (typeof restore !== "function") throw new Error("Pyodide has no restoreSnapshot to wrap");
  API.restoreSnapshot = (bytes) => {
    const at = new Uint32Array(bytes.buffer, bytes.byteOffset, 2)[1];
    if (at % 16 || at > bytes.byteLength) throw new Error("Snapshot has a bad heap offset");
    const result = restore(bytes.subarray(0, at));
    const image = Buffer.from(bytes.buffer, bytes.byteOffset + at, bytes.byteLength - at);
    const heap = heapOf();
    if (heap.length < image.length) throw new Error("the wasm memory is smaller than the snapshot's heap");
    const mem = Buffer.from(heap.buffer, heap.byteOffset, heap.length);
    for (let off = 0; off < image.length; off += PAGE) {
      const end = Math.min(off + PAGE, image.length);
      if (image.compare(ZERO, 0, end - off, off, end) !== 0) image.copy(mem, off, off, end);
      else if (mem.compare(ZERO, 0, end - off, off, end) !== 0) mem.fill(0, off, end);
    }
    return result;
  };
}
