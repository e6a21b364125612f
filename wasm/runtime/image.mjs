// Session images (PROTOCOL.md, "Session images"): a session's interpreter
// state as its difference from the pristine image that isolation.mjs keeps,
// so that any worker of the same build can resume it.
//
// An image is bytes:
//   "SBXIMG01"                 8 bytes, magic and format version
//   fingerprint                32 bytes: the pristine image it is relative to
//   header length              u32 little-endian
//   header                     JSON (below)
//   body                       raw deflate of: the 4 KiB page numbers (u32 LE
//                              each), then each page XOR its pristine bytes
//                              (as spans, below), then the writable files'
//                              contents
// header: {heap, sp, pages, slots, dedup, files, cwd, enc}
//   heap: the wasm memory's byte length; sp: the wasm stack pointer;
//   pages: how many page numbers; slots: [slot, encoded value] for every
//   reference-table slot that differs from pristine; dedup: per
//   deduplication Map, [encoded key, value] entries not in the pristine
//   one; files: [path, "d"|"f"|"l", mode, size or link target] in creation
//   order; cwd; enc: "spans" (absent in images of earlier builds: each page
//   XOR pristine is then all its 4096 bytes).
// Spans: a page XOR its pristine bytes is mostly zero (a run changes a few
// words here and there), so each page is its runs of non-zero 32-bit words,
// each a u32 LE head (first word | words << 16) and the words, then the
// u32 0xffffffff. Compressing those rather than whole pages (98% zero) is
// what keeps a capture's deflate small.
//
// What is not carried: JS values in the reference table that cannot be
// serialised (proxies of Python objects, functions) come back as null;
// open file descriptors (files stay, streams are closed); timers and
// pending tasks (cancelled before every capture, see interp.mjs).
import { createHash } from "node:crypto";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { serialize, deserialize } from "node:v8";
import { control, cancelTimers } from "./lockdown.mjs";
import { WRITABLE_DIRS } from "./isolation.mjs";

const MAGIC = Buffer.from("SBXIMG01");
const SMALL = 4096; // diff granularity
const BIG = 65536; // the pristine image's granularity (wasm pages)
const ZERO = Buffer.alloc(BIG);
const WORDS = SMALL / 4;
const END_OF_PAGE = 0xffffffff;

export class ImageError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

// The pristine image's identity: its heap bytes and layout, the reference
// table's size and the stack pointer. Equal fingerprints mean byte-identical
// pristine states (tests/e2e/test_images.py compares two workers').
export function fingerprintOf(iso) {
  const h = createHash("sha256");
  h.update(JSON.stringify({ length: iso.length, runs: iso.runs, slots: iso.slots.length, sp: iso.stackPointer }));
  h.update(iso.pristine);
  return h.digest();
}

// Index of each 64 KiB page into iso.pristine, or -1 for an all-zero one.
function pristineIndex(iso) {
  if (iso.pageIndex) return iso.pageIndex;
  const idx = new Int32Array(Math.ceil(iso.length / BIG)).fill(-1);
  let at = 0;
  for (const [off, len] of iso.runs) {
    for (let o = 0; o < len; o += BIG) idx[(off + o) / BIG] = at + o;
    at += len;
  }
  return (iso.pageIndex = idx);
}

function pristinePage(iso, idx, off, len) {
  const big = off / BIG | 0;
  const at = big < idx.length ? idx[big] : -1;
  if (at < 0) return ZERO.subarray(0, len);
  const inner = off - big * BIG;
  return Buffer.from(iso.pristine.buffer, iso.pristine.byteOffset + at + inner, len);
}

// XOR of byte ranges (multiples of 8) inside its own memory, in wasm: a JS
// loop stays slow for the few times a worker runs it before V8 optimises
// it, and on a busy machine that takes long. The module, by hand:
//   (memory (export "m") 17)
//   (func (export "x") (param $a i32) (param $b i32) (param $out i32) (param $n i32)
//     (local $i i32)
//     loop while $i < $n: i64.store($out+$i, i64.load($a+$i) ^ i64.load($b+$i)); $i += 8)
const XOR_WASM = Buffer.from(
  "0061736d0100000001080160047f7f7f7f00030201000503010011070902016d0200017800000a350133" +
    "01017f02400340200420034f0d01200220046a200020046a290300200120046a29030085370300200441" +
    "086a21040c000b0b0b",
  "hex",
);
const BATCH = 64; // pages per call: three 256 KiB areas (a, b, out) in its memory
let xorModule = null;

function xorer() {
  if (!xorModule) {
    const { m, x } = new WebAssembly.Instance(new WebAssembly.Module(XOR_WASM)).exports;
    xorModule = { mem: new Uint8Array(m.buffer), x };
  }
  return xorModule;
}

// Compiles the XOR module at boot rather than at the first capture, and
// runs the capture's word loop (spansOf) on made-up pages, sparse changes
// in pristine and in zero pages, until V8 has optimised it: a session's
// first captures on a busy machine would otherwise run it unoptimised.
export function warmImage() {
  xorer();
  const pristine = new Uint8Array(BIG).map((_, i) => i * 7);
  const heap = new Uint32Array(2 * BIG / 4);
  heap.set(new Uint32Array(pristine.buffer));
  for (let i = 0; i < heap.length; i += 97) heap[i] ^= i;
  const pages = Array.from({ length: 2 * BIG / SMALL }, (_, i) => i);
  for (let round = 0; round < 40; round++) spansOf({ pristine }, Int32Array.of(0, -1), heap, pages);
}

// Applying: heap page = image page n XOR its pristine bytes. `heap` and
// `image` are byte views.
function xorPages(iso, idx, pages, heap, image) {
  const { mem, x } = xorer();
  const A = 0, B = BATCH * SMALL, O = 2 * BATCH * SMALL;
  for (let first = 0; first < pages.length; first += BATCH) {
    const n = Math.min(BATCH, pages.length - first);
    for (let k = 0; k < n; k++) {
      const off = pages[first + k] * SMALL;
      mem.set(image.subarray((first + k) * SMALL, (first + k + 1) * SMALL), A + k * SMALL);
      mem.set(pristinePage(iso, idx, off, SMALL), B + k * SMALL);
    }
    x(A, B, O, n * SMALL);
    for (let k = 0; k < n; k++) {
      const off = pages[first + k] * SMALL;
      heap.set(mem.subarray(O + k * SMALL, O + (k + 1) * SMALL), off);
    }
  }
}

// The 4 KiB `pages` of the heap XOR their pristine bytes, as spans (see
// the top). A gap of one zero word stays inside a span: it costs what a new
// span's head does. Words, not bytes: one pass over the live and pristine
// words of the pages that differ, no copy of whole pages (this is the
// capture's work besides the scan, and it comes before the answer).
function spansOf(iso, idx, heap32, pages) {
  const pristine = new Uint32Array(iso.pristine.buffer, iso.pristine.byteOffset, iso.pristine.length >>> 2);
  // At most: every word, a span head per three words (spans are apart by
  // two zero words at least), each page's end.
  const out = new Uint32Array(pages.length * (WORDS + Math.ceil(WORDS / 3) + 1));
  let o = 0;
  for (let k = 0; k < pages.length; k++) {
    const live = pages[k] * WORDS;
    const big = (pages[k] * SMALL / BIG) | 0;
    const at = big < idx.length ? idx[big] : -1;
    const base = at < 0 ? -1 : (at + pages[k] * SMALL - big * BIG) >>> 2;
    let w = 0;
    while (w < WORDS) {
      let x = heap32[live + w] ^ (base < 0 ? 0 : pristine[base + w]);
      if (x === 0) {
        w++;
        continue;
      }
      const head = o++;
      const first = w;
      for (;;) {
        out[o++] = x;
        if (++w >= WORDS) break;
        x = heap32[live + w] ^ (base < 0 ? 0 : pristine[base + w]);
        if (x !== 0) continue;
        if (w + 1 >= WORDS || (heap32[live + w + 1] ^ (base < 0 ? 0 : pristine[base + w + 1])) === 0) break;
      }
      out[head] = (first | (w - first) << 16) >>> 0;
    }
    out[o++] = END_OF_PAGE;
  }
  return Buffer.from(out.buffer, 0, o * 4);
}

// The inverse: `n` whole pages XOR pristine, from the spans at `at` in body.
function fromSpans(body, at, n) {
  const xored = Buffer.alloc(n * SMALL);
  for (let p = 0; p < n; p++) {
    for (;;) {
      if (at + 4 > body.length) throw new ImageError("invalid_image", "session image ends inside a page");
      const head = body.readUInt32LE(at);
      at += 4;
      if (head === END_OF_PAGE) break;
      const first = head & 0xffff, len = head >>> 16;
      if (len === 0 || first + len > WORDS || at + len * 4 > body.length) throw new ImageError("invalid_image", "malformed page in the session image");
      body.copy(xored, p * SMALL + first * 4, at, at + len * 4);
      at += len * 4;
    }
  }
  return { xored, at };
}

// Reference-table values: primitives as they are, pristine values by slot,
// serialisable objects through v8's structured serialisation; the rest null.
function encodeValue(v, pristineSlots) {
  if (v === null || v === undefined) return ["n"];
  const t = typeof v;
  if (t === "number" || t === "string" || t === "boolean") return ["p", v];
  if (t === "bigint") return ["b", v.toString()];
  const at = pristineSlots.get(v);
  if (at !== undefined) return ["r", at];
  try {
    return ["v", serialize(v).toString("base64")];
  } catch {
    return ["n"];
  }
}

function decodeValue(e, slots) {
  switch (e[0]) {
    case "p":
      return e[1];
    case "b":
      return BigInt(e[1]);
    case "r":
      return slots[e[1]];
    case "v":
      return deserialize(Buffer.from(e[1], "base64"));
    default:
      return null;
  }
}

// ---- the writable directories (reconcile with a whole-FS snapshot) ---------

// Every entry under WRITABLE_DIRS, parents first, and the files' bytes.
export function captureWritableFs(FS) {
  const files = [];
  const data = [];
  const walk = (path) => {
    let st;
    try {
      st = FS.lstat(path);
    } catch {
      return;
    }
    if (FS.isLink(st.mode)) {
      files.push([path, "l", st.mode & 0o7777, FS.readlink(path)]);
    } else if (FS.isDir(st.mode)) {
      files.push([path, "d", st.mode & 0o7777, 0]);
      for (const name of FS.readdir(path)) if (name !== "." && name !== "..") walk(`${path}/${name}`);
    } else if (FS.isFile(st.mode)) {
      const bytes = FS.readFile(path);
      files.push([path, "f", st.mode & 0o7777, bytes.length]);
      data.push(bytes);
    }
  };
  for (const dir of WRITABLE_DIRS) {
    try {
      for (const name of FS.readdir(dir)) if (name !== "." && name !== "..") walk(`${dir}/${name}`);
    } catch {}
  }
  return { files, data };
}

// Onto emptied writable directories (the reset did that).
export function applyWritableFs(FS, files, body, at) {
  for (const [path, kind, mode, extra] of files) {
    if (!WRITABLE_DIRS.some((d) => path.startsWith(d + "/"))) throw new ImageError("invalid_image", `file outside the writable directories: ${path}`);
    if (kind === "d") {
      FS.mkdir(path, mode);
    } else if (kind === "l") {
      FS.symlink(extra, path);
    } else {
      FS.writeFile(path, body.subarray(at, at + extra), { mode });
      at += extra;
    }
  }
  return at;
}

// ---- capture and apply -----------------------------------------------------

// The live state as an image, relative to `iso`'s pristine one. `fullScan`:
// compare every page instead of the dirty ones (the same image; the tests
// check that it is).
export function captureImage(iso, { fullScan = false } = {}) {
  const { M, FS } = iso;
  cancelTimers(); // nothing may change the state after it is taken
  const heap = Buffer.from(control.exports.memory.buffer);
  const idx = pristineIndex(iso);
  const [deadFrom, deadTo] = deadStack();
  const [mapFrom, mapTo] = iso.mapRange();
  const pages = [];
  // Only the pages written since the last reset to pristine can differ
  // (isolation.mjs, dirtyPages: the session's runs and what applyImage
  // wrote); all of them when the writes were not tracked.
  const dirty = fullScan ? null : iso.dirtyPages();
  if (dirty) {
    for (const p of dirty) {
      const o = p * SMALL;
      if ((o >= deadFrom && o + SMALL <= deadTo) || (o >= mapFrom && o < mapTo)) continue;
      if (!heap.subarray(o, o + SMALL).equals(pristinePage(iso, idx, o, SMALL))) pages.push(p);
    }
  }
  for (let off = 0; !dirty && off < heap.length; off += BIG) {
    if (off >= deadFrom && off < deadTo) continue;
    const len = Math.min(BIG, heap.length - off);
    const live = heap.subarray(off, off + len);
    if (live.equals(pristinePage(iso, idx, off, len))) continue;
    for (let o = off; o < off + len; o += SMALL) {
      if (o >= mapFrom && o < mapTo) continue;
      if (!heap.subarray(o, o + SMALL).equals(pristinePage(iso, idx, o, SMALL))) pages.push(o / SMALL);
    }
  }
  const parts = [Buffer.from(new Uint32Array(pages).buffer), spansOf(iso, idx, new Uint32Array(heap.buffer, heap.byteOffset, heap.length >>> 2), pages)];
  // Reference table and its deduplication maps.
  if (!iso.slotIndex) iso.slotIndex = new Map(iso.slots.map((v, i) => [v, i]).filter(([v]) => v && (typeof v === "object" || typeof v === "function")).reverse());
  const slots = [];
  for (let s = 0; ; s++) {
    let v;
    try {
      v = M.__hiwire_get(s);
    } catch {
      break;
    }
    if (s < iso.slots.length && v === iso.slots[s]) continue;
    if (s >= iso.slots.length && (v === null || v === undefined)) continue;
    slots.push([s, encodeValue(v, iso.slotIndex)]);
  }
  const dedup = iso.dedup.map(([map, entries]) => {
    const before = new Map(entries);
    const out = [];
    for (const [k, v] of map) if (before.get(k) !== v) out.push([encodeValue(k, iso.slotIndex), v]);
    return out;
  });
  const fs = captureWritableFs(FS);
  parts.push(...fs.data);
  const header = Buffer.from(
    JSON.stringify({ heap: heap.length, sp: control.exports.__stack_pointer.value, pages: pages.length, slots, dedup, files: fs.files, cwd: FS.cwd(), enc: "spans" }),
  );
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length);
  return Buffer.concat([MAGIC, iso.fingerprint, len, header, deflateRawSync(Buffer.concat(parts), { level: 1 })]);
}

// The 64 KiB pages wholly inside the wasm stack's free part: between its
// end (the lowest address; its first bytes, emscripten's stack cookie, are
// kept) and the stack pointer. Nothing runs during a capture, so no frame
// lives there, only what finished calls left: no state, and a third of the
// heap (10 MiB) that the capture's scan, before each session's answer,
// skips. A worker resuming the image has pristine bytes there instead.
function deadStack() {
  const E = control.exports;
  const end = E.emscripten_stack_get_end?.(), sp = E.__stack_pointer.value;
  if (!Number.isSafeInteger(end) || !(end < sp)) return [0, 0];
  return [Math.ceil((end + 64) / BIG) * BIG, Math.floor(sp / BIG) * BIG];
}

// Parses and checks an image without touching the interpreter.
export function parseImage(iso, bytes) {
  if (bytes.length < 44 || !bytes.subarray(0, 8).equals(MAGIC)) throw new ImageError("invalid_image", "not a session image");
  if (!bytes.subarray(8, 40).equals(iso.fingerprint)) {
    throw new ImageError("session_incompatible", "the session image was taken on another build or pristine state of the interpreter");
  }
  const hlen = bytes.readUInt32LE(40);
  let header, body;
  try {
    header = JSON.parse(bytes.subarray(44, 44 + hlen).toString("utf8"));
    body = inflateRawSync(bytes.subarray(44 + hlen));
  } catch (e) {
    throw new ImageError("invalid_image", `malformed session image: ${e?.message ?? e}`);
  }
  const perPage = header.enc === "spans" ? 4 + 4 : header.enc === undefined ? 4 + SMALL : NaN;
  if (!Number.isSafeInteger(header.heap) || header.heap % BIG || header.heap > control.heapCap || !Number.isSafeInteger(header.pages) ||
      header.pages < 0 || !(body.length >= header.pages * perPage)) {
    throw new ImageError("invalid_image", "session image does not fit this worker");
  }
  if (body.byteOffset % 4) body = Buffer.from(Uint8Array.prototype.slice.call(body));
  // The pages XOR pristine, whole (and where the files start): decoded here
  // so that a malformed image is refused before the worker is reset.
  let xored, filesAt;
  if (header.enc === "spans") {
    ({ xored, at: filesAt } = fromSpans(body, header.pages * 4, header.pages));
  } else {
    xored = body.subarray(header.pages * 4, header.pages * (4 + SMALL));
    filesAt = header.pages * (4 + SMALL);
  }
  return { header, body, xored, filesAt };
}

// Onto a worker just reset to pristine (isolation.resetToPristine).
export function applyImage(iso, image) {
  const { header, body, xored, filesAt } = image;
  const { M, FS } = iso;
  const memory = control.exports.memory;
  if (memory.buffer.byteLength < header.heap && !control.resizeHeap(header.heap)) {
    throw new ImageError("invalid_image", "cannot grow the heap to the session's size");
  }
  const heap = Buffer.from(memory.buffer);
  const idx = pristineIndex(iso);
  const numbers = new Uint32Array(body.buffer, body.byteOffset, header.pages);
  for (const p of numbers) if ((p + 1) * SMALL > heap.length) throw new ImageError("invalid_image", "page outside the heap");
  for (const p of numbers) iso.markDirty(p * SMALL, SMALL);
  xorPages(iso, idx, numbers, heap, xored);
  control.exports.__stack_pointer.value = header.sp;
  for (const [s, e] of header.slots) if (M.__hiwire_set(s, decodeValue(e, iso.slots)) < 0) throw new ImageError("invalid_image", `cannot set reference slot ${s}`);
  header.dedup.forEach((entries, i) => {
    const map = iso.dedup[i]?.[0];
    if (!map) return;
    for (const [k, v] of entries) {
      const key = decodeValue(k, iso.slots);
      if (key !== null) map.set(key, v);
    }
  });
  applyWritableFs(FS, header.files, body, filesAt);
  FS.chdir(header.cwd);
}
