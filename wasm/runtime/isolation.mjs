// No shared state between stateless runs (PROTOCOL.md, "Isolation"): after
// boot and lockdown the interpreter's whole state is captured once, and after
// every stateless run it is put back before the next run can start.
//
// What makes up the state, and how each part is restored:
// - wasm linear memory (every Python object, module, builtins, sys.modules,
//   os.environ, the wasm stack): put back to the pristine copy, zero where
//   the copy has none (also above its size), so no byte of one request is
//   readable by the next. Which pages: see "Tracked restore" below.
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
// - module state seeded per run (random): seeded from os.urandom before
//   every stateless run and at a session's creation, never inside the
//   pristine image, so that every worker of a build
//   has a byte-identical one (session images depend on it, image.mjs).
import { cancelTimers, control } from "./lockdown.mjs";
import { captureFs, restoreFs } from "./fsstate.mjs";
import { installQuota, resetQuota } from "./fsquota.mjs";
import { applyImage, fingerprintOf } from "./image.mjs";
import { immortalizeLive } from "./immortal.mjs";

// Tracked restore. The runtime's pyodide.asm.wasm, its glue pyodide.asm.mjs
// and dynscope.abi3.so are instrumented at build time (wasm/dirty/): every
// wasm store, atomic read-modify-write, memory.fill and memory.copy, and
// every write of the glue into the heap, marks the grain it writes in a
// byte map in the heap (one byte per grain of 2 ** __dirty_grain bytes, set
// by wasm/dirty/instrument.c: 4 KiB; at __dirty_base, zero in the pristine
// image; a write that spans grains marks each). Our own writes into the heap
// mark through markPages. The restore then puts back only the marked grains,
// clearing their marks as it reads them. It falls back to the full
// copy (putHeap) when the build is not instrumented, when
// SCOPEBOX_RESTORE=full, or when the run let the heap escape to code that
// could write it unmarked (the glue's escape flag: a view of the heap handed
// to code that was not audited, wasm/dirty/instrument-glue.mjs). The
// argument and its limits: PROTOCOL.md, "Isolation".
const SMALL = 4096; // the session images' page (image.mjs); the map's alignment
// SCOPEBOX_DIRTY_BREAK: tests/limits/heap_equality.mjs breaks the tracking on
// purpose and expects a mismatch: "wasm" (the wasm code's marks are off),
// "glue" (all of the glue's), "glue:sub" (one kind of the glue's writers:
// index, set, fill, copy, sub, arg; glue-helpers.js), "entropy" (the entropy
// pool's, entropy.mjs). Never set in a worker
// (the server gives workers no environment).
const BREAK = globalThis.process?.env?.SCOPEBOX_DIRTY_BREAK ?? "";
// Read here, at import, before the lockdown hides the realm's globals.
const FULL_ONLY = globalThis.process?.env?.SCOPEBOX_RESTORE === "full";

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

const ZERO_PAGE = Buffer.alloc(SMALL);
const ZERO_64K = Buffer.alloc(PAGE);

// Zeroes mem[from, to) (whole 4 KiB pages but the last), page by page, only
// where a page holds something.
function zeroWhereNot(mem, from, to) {
  for (let off = from; off < to; off += SMALL) {
    const end = Math.min(off + SMALL, to);
    if (mem.compare(ZERO_PAGE, 0, end - off, off, end) !== 0) mem.fill(0, off, end);
  }
}

export class Isolation {
  constructor(py) {
    this.py = py;
    this.M = py._module;
    this.FS = py.FS;
    this.pristine = null;
    this.dirty = false;
    this.stats = { restores: 0, lastMs: 0, tracked: 0, full: 0 };
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
    // Garbage collected before the objects left are made immortal.
    py.runPython("import gc; gc.collect()");
    const immortal = this.immortalize();
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

    // The reference table's length, when the build exports it
    // (wasm/dirty/instrument.c).
    this.tableSize = typeof E.__hiwire_size === "function" ? E.__hiwire_size : null;
    this.slots = [];
    for (let s = 0, n = this.slotCount(); s < n; s++) this.slots.push(this.getSlot(s));
    if (control.dedupMaps.some((m) => !(m instanceof Map))) throw new Error("unexpected deduplication table");
    this.dedup = control.dedupMaps.map((m) => [m, [...m.entries()]]);
    this.stackPointer = E.__stack_pointer.value;
    this.stackTraceLimit = Error.stackTraceLimit;
    this.tracked = this.startTracking();
    this.copyHeap();
    this.fingerprint = fingerprintOf(this);
    // What ran since the copy (the caller's set-up) counts as a change.
    this.dirty = true;
    return { heapBytes: this.length, keptBytes: this.pristine.length, slots: this.slots.length, stripped, tracked: !!this.tracked, immortal };
  }

  // What the boot made after the snapshot's restore, made immortal before
  // the pristine copy (and before tracking starts: nothing to mark); the
  // snapshot's own objects are already (immortal.mjs).
  immortalize() {
    const mod = this.py.pyimport("scopebox_worker.immortal");
    try {
      return immortalizeLive(mod, () => new Int32Array(memoryOf().buffer));
    } finally {
      mod.destroy();
    }
  }

  // The dirty map, allocated now (before the pristine copy, so that it is
  // part of it, zero) and handed to the wasm code and the glue; null when
  // the restore is the full one.
  startTracking() {
    const { M } = this;
    const E = control.exports;
    this.escaped = false;
    const ok = (g) => g instanceof WebAssembly.Global;
    if (!ok(E.__dirty_base) || !ok(E.__dirty_tampered) || !ok(E.__dirty_grain) || !M.__dirty) return null;
    if (FULL_ONLY) return null;
    // A grain divides the session images' page (dirtyPages), and the map
    // (one byte per grain of 4 GiB) stays within 16 MiB.
    const shift = E.__dirty_grain.value;
    if (!(shift >= 8 && shift <= 12)) throw new Error(`dirty map grain 2 ** ${shift} is not supported`);
    const bytes = 2 ** (32 - shift); // one byte per grain of a 4 GiB memory
    // Whole pages of its own: a session image leaves them out (mapRange).
    const raw = M._malloc(bytes + SMALL);
    if (!raw) throw new Error("cannot allocate the dirty map");
    const base = Math.ceil(raw / SMALL) * SMALL;
    const tracked = { base, shift, bytes, glue: M.__dirty };
    // Zero, without writing the words that are (the map's fresh pages stay
    // out of the worker's resident memory until a mark lands there).
    this.zeroMap(tracked, bytes);
    if (BREAK !== "wasm") E.__dirty_base.value = base;
    if (BREAK !== "glue") M.__dirty.setBase(base, shift);
    if (BREAK.startsWith("glue:")) M.__dirty.switchOff(BREAK.slice(5));
    // Our own writers outside the glue (entropy.mjs) mark through this.
    control.markHeap = BREAK === "entropy" ? null : (off, len) => this.markRange(off, len);
    // A view of the heap that escaped during boot may be kept somewhere and
    // written through later without a new escape: then never tracked.
    if (M.__dirty.takeAll()) {
      E.__dirty_base.value = 0;
      M.__dirty.setBase(0, shift);
      return null;
    }
    return tracked;
  }

  // The reference table's length: as the build exports it, else the first
  // slot whose read traps in libhiwire's _hiwire_get (a trap costs tens of
  // microseconds).
  slotCount() {
    if (this.tableSize) return this.tableSize();
    for (let s = 0; ; s++) {
      try {
        this.M.__hiwire_get(s);
      } catch {
        return s;
      }
    }
  }

  getSlot(s) {
    return this.M.__hiwire_get(s);
  }

  // The map's bytes [from, to): not interpreter state (image.mjs skips them).
  mapRange() {
    return this.tracked ? [this.tracked.base, this.tracked.base + this.tracked.bytes] : [0, 0];
  }

  // The run broke the interpreter (a wasm trap, interp.mjs): a store that
  // trapped out of bounds may have marked a grain past the heap's end, which
  // no scan of the map looks at. The next restore is the full one and clears
  // the whole map.
  distrust() {
    this.distrusted = true;
  }

  // Our own writes into the heap (image.mjs applying an image): `size`
  // bytes at each of `pages` * size, marked with one view of the heap for
  // all of them.
  markPages(pages, size) {
    if (!this.tracked) return;
    const { base, shift } = this.tracked;
    const heap = new Uint8Array(memoryOf().buffer);
    const grains = Math.ceil(size / 2 ** shift);
    for (const p of pages) {
      const g = base + Math.floor((p * size) / 2 ** shift);
      heap.fill(1, g, g + grains);
    }
  }

  // One range [off, off + len) of the heap about to be written by our own
  // code (entropy.mjs): its grains marked. A range that meets the map
  // itself (a broken interpreter pointing the write there) is an escape,
  // as it is for the glue's writers.
  markRange(off, len) {
    if (!this.tracked || !(len > 0)) return;
    const { base, shift, bytes } = this.tracked;
    if (off < base + bytes && off + len > base) this.escaped = true;
    new Uint8Array(memoryOf().buffer).fill(1, base + (off >>> shift), base + ((off + len - 1) >>> shift) + 1);
  }

  // The pristine image as a Buffer (Buffer.copy and compare take offsets:
  // no view per page), made once.
  pristineBuffer() {
    return this.pristineBuf ?? (this.pristineBuf = Buffer.from(this.pristine.buffer, this.pristine.byteOffset, this.pristine.length));
  }

  // Whether the heap may hold writes the map does not show: then only a
  // full scan or copy will do. An escape (a view of the heap handed to code
  // that was not audited) is sticky: the code may have kept the view and
  // write through it in a later run without escaping again, so from the
  // first escape on this worker restores fully (none of the runs the tests
  // make escapes: the escaping paths are WebGL, SDL, sockets, JS buffers).
  untracked() {
    if (!this.tracked || this.distrusted) return true;
    if (this.tracked.glue.takeAll()) this.escaped = true;
    // A store into the map itself (wasm/dirty/instrument.c, guard): the
    // marks can no longer be believed, in this run or any later one.
    if (control.exports.__dirty_tampered.value) this.escaped = true;
    return this.escaped;
  }

  // The marked grains, ascending: the map read a 32-bit word at a time,
  // most of it zero. Only the grains of the heap's present size are looked
  // at (marks further on come only from a store that trapped: distrust). A
  // mark is any byte that is not zero.
  markedGrains() {
    const { base, shift } = this.tracked;
    const buffer = memoryOf().buffer;
    // A multiple of 16: the heap is whole 64 KiB pages.
    const n = buffer.byteLength / 2 ** shift;
    const map = new Uint8Array(buffer, base, n);
    const words = new Uint32Array(buffer, base, n / 4);
    const grains = [];
    for (let w = 0; w < words.length; w++) {
      if (words[w] === 0) continue;
      for (let g = w * 4; g < w * 4 + 4; g++) if (map[g]) grains.push(g);
    }
    return grains;
  }

  // The 4 KiB pages that may differ from pristine since the last reset (the
  // ones with a marked grain), ascending; null when untracked(). For session
  // images (image.mjs), which diff by page.
  dirtyPages() {
    if (this.untracked()) return null;
    const grains = this.markedGrains();
    const k = 12 - this.tracked.shift;
    if (k === 0) return grains;
    const pages = [];
    for (const g of grains) if (g >>> k !== pages[pages.length - 1]) pages.push(g >>> k);
    return pages;
  }

  // Offset into `pristine` of the heap's byte `off`, or -1 where the image
  // is zero: one lookup per 64 KiB page (the index copyHeap makes). Both the
  // restore and session images (image.mjs) read the image through this.
  pristineAt(off) {
    const big = Math.floor(off / PAGE);
    const at = big < this.index.length ? this.index[big] : -1;
    return at < 0 ? -1 : at + off - big * PAGE;
  }

  // The tracked restore: the marked grains only, each run of them in as few
  // calls as the image's layout allows (one per stretch that is all zero in
  // the image, or whose image bytes are consecutive), then the marks
  // cleared. Returns false (nothing done) when the heap may hold untracked
  // writes. Distrusted until done: should it stop halfway, the next restore
  // is the full one.
  putTracked() {
    if (this.untracked()) return false;
    this.distrusted = true;
    const grains = this.markedGrains();
    const heap = new Uint8Array(memoryOf().buffer);
    // Buffer.copy: a few per cent faster than set() of a subarray here.
    const from = this.pristineBuffer();
    const { base, shift } = this.tracked;
    const size = 2 ** shift;
    for (let i = 0; i < grains.length; ) {
      const off = grains[i] * size;
      const src = this.pristineAt(off);
      let j = i + 1;
      while (j < grains.length && grains[j] === grains[j - 1] + 1) {
        const next = this.pristineAt(grains[j] * size);
        if (src < 0 ? next >= 0 : next !== src + (j - i) * size) break;
        j++;
      }
      const len = (j - i) * size;
      if (src < 0) heap.fill(0, off, off + len);
      else from.copy(heap, off, src, src + len);
      i = j;
    }
    // The marks, in one fill of the map's bytes for the heap's grains (7.5
    // KiB for a 30 MiB heap): measured cheaper than zeroing each marked
    // word as the scan reads it, or each run of marks.
    heap.fill(0, base, base + heap.length / size);
    this.distrusted = false;
    this.lastGrains = grains.length;
    return true;
  }

  // Zeroes the map's first `bytes` bytes, reading first: only what is not
  // zero is written.
  zeroMap(tracked, bytes) {
    const words = new Int32Array(memoryOf().buffer, tracked.base, bytes >>> 2);
    for (let w = 0; w < words.length; w += 2) if ((words[w] | words[w + 1]) !== 0) words[w] = words[w + 1] = 0;
  }

  // The pristine image keeps only the heap's pages that are not all zero
  // (`runs`: [offset, length] of each run of such pages, back to back in
  // `pristine`; `index`: each 64 KiB page's offset in `pristine`, or -1):
  // an idle worker holds this copy for good, and a good part of a fresh
  // heap is zero.
  // Which pages are zero is asked of Buffer.compare (memcmp): a word loop
  // over the 30 MiB ran ~100 ms of the boot, mostly before V8 optimised it.
  copyHeap() {
    const heap = new Uint8Array(memoryOf().buffer);
    const mem = Buffer.from(heap.buffer, 0, heap.length);
    const runs = [];
    for (let off = 0; off < heap.length; off += PAGE) {
      if (mem.compare(ZERO_64K, 0, PAGE, off, off + PAGE) === 0) continue;
      const last = runs[runs.length - 1];
      if (last && last[0] + last[1] === off) last[1] += PAGE;
      else runs.push([off, PAGE]);
    }
    this.length = heap.length;
    this.runs = runs;
    this.pristine = new Uint8Array(runs.reduce((n, [, len]) => n + len, 0));
    this.index = new Int32Array(heap.length / PAGE).fill(-1);
    let at = 0;
    for (const [off, len] of runs) {
      this.pristine.set(heap.subarray(off, off + len), at);
      for (let k = 0; k < len; k += PAGE) this.index[(off + k) / PAGE] = at + k;
      at += len;
    }
  }

  // Puts the pristine image back: its runs copied, everything else zeroed
  // (including what the heap grew by since, and the whole dirty map: the
  // full restore is taken when its marks cannot be believed, and whatever
  // was written into it is cleared too).
  // The zeroing writes only the pages that are not zero already: a page
  // never written since the boot is not resident (the snapshot's zero pages,
  // snapshot.mjs), and writing zeros into it would make it so for good.
  putHeap() {
    const heap = new Uint8Array(memoryOf().buffer);
    const mem = Buffer.from(heap.buffer, 0, heap.length);
    let end = 0;
    let at = 0;
    for (const [off, len] of this.runs) {
      if (off > end) zeroWhereNot(mem, end, off);
      heap.set(this.pristine.subarray(at, at + len), off);
      at += len;
      end = off + len;
    }
    zeroWhereNot(mem, end, mem.length);
  }

  // Before a stateless run: restore if an earlier run (a session's, or one
  // whose restore was deferred) left state behind, then seed `random` for
  // this run alone. A session's run continues the state in place.
  beforeRun(persist) {
    if (!persist) {
      if (this.dirty) this.restore();
      this.reseed();
    }
    this.dirty = true;
  }

  // A session's state before its run: a new one (image "": pristine with
  // `random` seeded, once, here) or one resumed from its image (parsed and
  // checked by the caller first, image.mjs; never reseeded).
  resume(parsed) {
    if (this.dirty) this.restore();
    this.dirty = true;
    if (parsed === null) this.reseed();
    else applyImage(this, parsed);
  }

  // Back to the pristine image exactly (`random` is seeded by beforeRun, or
  // by a new session: an image applied next needs the unseeded bytes).
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
    // 4. Linear memory: the pages the run dirtied (or, untracked, the whole
    //    image) copied back, zero where the image has none, also above the
    //    pristine size (the heap grew during some run; the worker asks to be
    //    recycled once that part gets big, see grownBytes).
    if (this.putTracked()) {
      this.stats.tracked++;
    } else {
      this.putHeap();
      this.distrusted = false;
      this.lastGrains = -1;
      this.stats.full++;
    }
    E.__stack_pointer.value = this.stackPointer;
    // 5. The JS reference table: its pristine slots put back, the slots
    //    the run added emptied (the table never shrinks).
    const { slots } = this;
    for (let s = 0, n = this.slotCount(); s < n; s++) {
      if (s < slots.length) {
        if (M.__hiwire_set(s, slots[s]) < 0) throw new Error(`cannot restore reference slot ${s}`);
        continue;
      }
      const v = M.__hiwire_get(s);
      if (v !== null && v !== undefined) M.__hiwire_set(s, null);
    }
    Error.stackTraceLimit = this.stackTraceLimit;
    // ... and its deduplication maps, which live outside the table.
    if (control.dedupMaps.length !== this.dedup.length) throw new Error("a deduplication table appeared");
    for (const [map, entries] of this.dedup) {
      map.clear();
      for (const [k, v] of entries) map.set(k, v);
    }
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
