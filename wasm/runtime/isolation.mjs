// No shared state between stateless runs (PROTOCOL.md, "Isolation"): after
// boot and lockdown the interpreter's whole state is captured once, and after
// every stateless run it is put back before the next run can start.
//
// What makes up the state, and how each part is restored:
// - wasm linear memory (every Python object, module, builtins, sys.modules,
//   os.environ, the wasm stack): copied back from the pristine copy; memory
//   above it is zeroed, so no
//   byte of one request is readable by the next.
// - the wasm stack pointer: reset.
// - Pyodide's JS reference table (libhiwire, a wasm table of JS values
//   outside linear memory): every slot set back to its pristine value, slots
//   added by the run cleared, and its deduplication Maps (JS objects) put
//   back to their pristine contents.
// - JS objects that point into the heap: PyProxies (and their finalizers)
//   made during the run are marked destroyed, so that a callback surviving
//   the run cannot touch the restored heap.
// - timers (asyncio's loop runs on setTimeout/setImmediate): cancelled.
// - the Emscripten file system, all of it (fsstate.mjs): every node's fields
//   and contents, every directory's entries, the lookup table, the inode
//   counter, the open streams; files opened by the run closed, the working
//   directory reset. Outside the writable directories it is read-only too
//   (write bits stripped, chmod refused), which also keeps file contents
//   unchanged in place. What the run's files hold is charged against the
//   memory cap (fsquota.mjs); the charge starts again at zero.
// - module state seeded at start-up (random): reseeded from os.urandom.
import { cancelTimers, control } from "./lockdown.mjs";
import { captureFs, restoreFs } from "./fsstate.mjs";
import { installQuota, resetQuota } from "./fsquota.mjs";

export const WRITABLE_DIRS = ["/tmp", "/home/pyodide"];
const NEVER_TOUCH = new Set(["/dev", "/proc"]);
const PAGE = 65536; // a wasm page

function memoryOf() {
  return control.exports.memory;
}

// Read-only outside WRITABLE_DIRS: write bits off everywhere else. Emscripten's
// FS checks mode bits (not owners), and chmod is refused once locked, so the
// bits cannot be turned back on.
function stripWriteBits(FS) {
  let n = 0;
  const walk = (path) => {
    if (NEVER_TOUCH.has(path) || WRITABLE_DIRS.includes(path)) return;
    let st;
    try {
      st = FS.lstat(path);
    } catch {
      return;
    }
    if (FS.isLink(st.mode)) return;
    if (FS.isDir(st.mode)) {
      for (const name of FS.readdir(path)) {
        if (name === "." || name === "..") continue;
        walk(path === "/" ? `/${name}` : `${path}/${name}`);
      }
    }
    if (st.mode & 0o222) {
      FS.chmod(path, st.mode & ~0o222 & 0o7777);
      n++;
    }
  };
  walk("/");
  // "/" itself: no new top-level entries.
  return n;
}

function emptyDir(FS, dir) {
  let removed = 0;
  let names;
  try {
    names = FS.readdir(dir);
  } catch {
    FS.mkdirTree(dir);
    return 0;
  }
  for (const name of names) {
    if (name === "." || name === "..") continue;
    const path = `${dir}/${name}`;
    const st = FS.lstat(path);
    if (FS.isDir(st.mode)) {
      FS.chmod(path, 0o777);
      removed += emptyDir(FS, path);
      FS.rmdir(path);
    } else {
      FS.unlink(path);
    }
    removed++;
  }
  return removed;
}

export class Isolation {
  constructor(py) {
    this.py = py;
    this.M = py._module;
    this.FS = py.FS;
    this.pristine = null;
    this.dirty = false;
    this.stats = { restores: 0, lastMs: 0 };
  }

  // Call once, after boot and lockdown, with the interpreter idle.
  capture() {
    const { M, FS, py } = this;
    const E = control.exports;
    // The file system first: the heap copy must see its final shape.
    for (const dir of WRITABLE_DIRS) {
      FS.mkdirTree(dir);
      FS.chmod(dir, 0o777);
      emptyDir(FS, dir);
    }
    const stripped = stripWriteBits(FS);
    control.fsLocked = true;
    // PIPEFS is not exported: its operations come with a pipe.
    py.runPython("import os as _o\n_r, _w = _o.pipe()");
    const pipeOps = FS.streams[py.globals.get("_r")].stream_ops;
    py.runPython("_o.close(_r); _o.close(_w); del _o, _r, _w");
    installQuota(FS, pipeOps);
    control.FS = FS;

    // Python-side helper, created before the copy so that it is part of it.
    py.runPython(
      "def _scopebox_reseed():\n" +
        "    import sys\n" +
        "    r = sys.modules.get('random')\n" +
        "    if r is not None:\n" +
        "        r.seed()\n",
    );
    this.reseed = py.globals.get("_scopebox_reseed");
    py.runPython("import gc; gc.collect()");
    // The file system last among the Python steps: the steps above may touch
    // it (imports read files, update times).
    this.fs = captureFs(FS);
    control.pipes = 0;
    resetQuota();

    // The registry of PyProxy finalizers: registrations made during a run
    // are remembered so that restore() can disarm them.
    const real = M.finalizationRegistry;
    const epoch = (this.epoch = []);
    M.finalizationRegistry = Object.freeze({
      register: (target, held, token) => {
        this.epoch.push(held, token);
        return real.register(target, held, token);
      },
      unregister: (token) => real.unregister(token),
    });
    void epoch;

    this.slots = [];
    for (let s = 0; ; s++) {
      try {
        this.slots.push(M.__hiwire_get(s));
      } catch {
        break;
      }
    }
    if (control.dedupMaps.some((m) => !(m instanceof Map))) throw new Error("unexpected deduplication table");
    this.dedup = control.dedupMaps.map((m) => [m, [...m.entries()]]);
    this.stackPointer = E.__stack_pointer.value;
    this.stackTraceLimit = Error.stackTraceLimit;
    this.copyHeap();
    return { heapBytes: this.length, keptBytes: this.pristine.length, slots: this.slots.length, stripped };
  }

  // The pristine image keeps only the heap's pages that are not all zero
  // (`runs`: [offset, length] of each run of such pages, back to back in
  // `pristine`): an idle worker holds this copy for good, and a good part of
  // a fresh heap is zero.
  copyHeap() {
    const heap = new Uint8Array(memoryOf().buffer);
    const words = new Int32Array(heap.buffer);
    const runs = [];
    for (let off = 0; off < heap.length; off += PAGE) {
      let zero = true;
      for (let i = off >>> 2, end = (off + PAGE) >>> 2; i < end; i++) {
        if (words[i] !== 0) {
          zero = false;
          break;
        }
      }
      if (zero) continue;
      const last = runs[runs.length - 1];
      if (last && last[0] + last[1] === off) last[1] += PAGE;
      else runs.push([off, PAGE]);
    }
    this.length = heap.length;
    this.runs = runs;
    this.pristine = new Uint8Array(runs.reduce((n, [, len]) => n + len, 0));
    let at = 0;
    for (const [off, len] of runs) {
      this.pristine.set(heap.subarray(off, off + len), at);
      at += len;
    }
  }

  // Puts the pristine image back: its runs copied, everything else zeroed
  // (including what the heap grew by since).
  putHeap() {
    const heap = new Uint8Array(memoryOf().buffer);
    let end = 0;
    let at = 0;
    for (const [off, len] of this.runs) {
      if (off > end) heap.fill(0, end, off);
      heap.set(this.pristine.subarray(at, at + len), off);
      at += len;
      end = off + len;
    }
    heap.fill(0, end);
  }

  // Before a stateless run: restore if an earlier run (a session's, or one
  // whose restore was deferred) left state behind.
  beforeRun(persist) {
    if (!persist && this.dirty) this.restore();
    this.dirty = true;
  }

  restore() {
    const t0 = performance.now();
    const { M, FS } = this;
    const E = control.exports;

    // 1. Nothing scheduled by the run may fire again.
    cancelTimers();
    // 2. Proxies and finalizers made during the run point into the heap
    //    that is about to be replaced: disarm them.
    for (const o of this.epoch) {
      if (o && typeof o === "object" && "ptr" in o) {
        o.ptr = 0;
        if ("cache" in o) o.cache = undefined;
      }
    }
    this.epoch.length = 0;
    // 3. Files: the whole tree as captured; the run's charge dropped.
    restoreFs(FS, this.fs);
    control.pipes = 0;
    resetQuota();
    // 4. Linear memory: the image copied back, everything else zeroed, also
    //    above the pristine size (the heap grew during some run; the worker
    //    asks to be recycled once that part gets big, see grownBytes).
    this.putHeap();
    E.__stack_pointer.value = this.stackPointer;
    // 5. The JS reference table.
    for (let s = 0; ; s++) {
      if (s < this.slots.length) {
        if (M.__hiwire_set(s, this.slots[s]) < 0) throw new Error(`cannot restore reference slot ${s}`);
        continue;
      }
      let v;
      try {
        v = M.__hiwire_get(s);
      } catch {
        break;
      }
      if (v !== null && v !== undefined) M.__hiwire_set(s, null);
    }
    Error.stackTraceLimit = this.stackTraceLimit;
    // ... and its deduplication maps, which live outside the table.
    if (control.dedupMaps.length !== this.dedup.length) throw new Error("a deduplication table appeared");
    for (const [map, entries] of this.dedup) {
      map.clear();
      for (const [k, v] of entries) map.set(k, v);
    }
    // 6. Module state seeded once per process.
    this.reseed();
    this.dirty = false;
    this.stats.restores++;
    this.stats.lastMs = performance.now() - t0;
    return this.stats.lastMs;
  }

  // Bytes the heap has grown beyond the pristine image.
  grownBytes() {
    return memoryOf().buffer.byteLength - this.length;
  }
}
