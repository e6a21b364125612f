// Session images (PROTOCOL.md, "Session images"): a session's interpreter
// state as its difference from the pristine image that isolation.mjs keeps,
// so that any worker of the same build can resume it.
//
// An image is bytes:
//   "SBXIMG01"                 8 bytes, magic and format version
//   fingerprint                32 bytes: the pristine image it is relative to
//   header length              u32 little-endian
//   header                     JSON (below)
//   body                       as it is (header z: "none", a small one) or
//                              brotli (z: "br"; raw deflate in images
//                              of earlier builds) of: the 4 KiB page numbers
//                              (u32 LE each), then each page XOR its
//                              pristine bytes (as spans, below), then the
//                              writable files' contents
// header: {heap, sp, pages, slots, dedup, files, cwd, enc, z}
//   heap: the wasm memory's byte length; sp: the wasm stack pointer;
//   pages: how many page numbers; slots: [slot, encoded value] for every
//   reference-table slot that differs from pristine; dedup: per
//   deduplication Map, [encoded key, value] entries not in the pristine
//   one; files: [path, "d"|"f"|"l", mode, size or link target] in creation
//   order; cwd; enc: "spans" (absent in images of earlier builds: each page
//   XOR pristine is then all its 4096 bytes); z: "none" (the body as it
//   is) or "br" (absent: deflate).
// Spans: a page XOR its pristine bytes is mostly zero (a run changes a few
// words here and there), so each page is its runs of non-zero 32-bit words,
// each a u32 LE head (first word | words << 16) and the words, then the
// u32 0xffffffff. Compressing those rather than whole pages (98% zero) is
// what keeps a capture's compression small.
//
// What is not carried: JS values in the reference table that cannot be
// serialised (proxies of Python objects, functions) come back as null;
// open file descriptors (files stay, streams are closed); timers and
// pending tasks (cancelled before every capture, see interp.mjs).
import { createHash } from "node:crypto";
import { constants as zlib, brotliCompressSync, brotliDecompressSync, inflateRawSync } from "node:zlib";
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

// Where the pristine bytes of the heap's byte `off` are, as [buffer,
// offset]: in the image, or in ZERO where it has none (isolation.mjs,
// pristineAt). A run of bytes from `off` stays inside one 64 KiB page.
// Offsets rather than views: the capture and the apply go over hundreds of
// pages, and a view made per page (subarray, Buffer.from) costs more than
// the compare or copy it serves once the lockdown has frozen the
// intrinsics (a subarray then looks its constructor up the slow way).
function pristineOf(iso, off) {
  const at = iso.pristineAt(off);
  return at < 0 ? [ZERO, off % BIG] : [iso.pristineBuffer(), at];
}

// The span encoder (spansOf), in wasm: wasm/runtime/spans.wat is its
// source, assembled by binaryen's wasm-as (tests/lint checks these bytes).
const SPANS_WASM = Buffer.from(
  "0061736d0100000001090160047f7f7f7f017f030201000503010001070902016d0200017300000aa70201a4" +
  "0201047f20002002410c746a210402400340200020044f0d0141002105024003400240034020054180204f0d" +
  "032005410471450440200020056a290300200120056a290300510440200541086a21050c020b0b200020056a" +
  "280200200120056a280200470d01200541046a21050c000b000b2005210620032107200341046a2103024003" +
  "402003200020056a280200200120056a28020073360200200341046a2103200541046a210520054180204f0d" +
  "01200020056a280200200120056a280200470d00200541fc1f4f0d01200020056a280204200120056a280204" +
  "460d010c000b000b20072006410276200520066b410276411074723602000c000b000b2003417f3602002003" +
  "41046a210320004180206a210020014180206a21010c000b000b20030b",
  "hex",
);
const BATCH = 64; // pages per call: two 256 KiB areas (live, pristine), then the output
// The output's worst case per page: every word, a head per three words
// (runs are apart by two zero words at least), the page's end.
const PAGE_OUT = 4 * (WORDS + Math.ceil(WORDS / 3) + 1);
// The module's memory grows with the largest capture and is reused by the
// next ones; past this size a capture starts over with a new one, so that
// one huge session does not pin its output for the worker's life.
const KEEP_BYTES = 16 << 20;
let spanner = null;

function spansModule() {
  if (!spanner || spanner.m.buffer.byteLength > KEEP_BYTES) {
    const { m, s } = new WebAssembly.Instance(new WebAssembly.Module(SPANS_WASM)).exports;
    spanner = { m, s };
  }
  return spanner;
}

// Instantiates the span encoder at boot rather than at the first capture,
// and runs it and the spans' walk on made-up pages (sparse changes in
// pristine and in zero pages) until V8 has compiled them optimised: a
// session's first captures and resumes on a busy machine would otherwise
// run their baseline code.
export function warmImage() {
  const pristine = new Uint8Array(BIG).map((_, i) => i * 7);
  const heap = new Uint32Array(2 * BIG / 4);
  heap.set(new Uint32Array(pristine.buffer));
  for (let i = 0; i < heap.length; i += 97) heap[i] ^= i;
  const pages = Array.from({ length: 2 * BIG / SMALL }, (_, i) => i);
  const header = { heap: 2 * BIG, pages: pages.length, enc: "spans" };
  const scratch = new DataView(new ArrayBuffer(heap.byteLength));
  // An image of one 64 KiB page, then zero (isolation.mjs, pristineAt).
  const fake = { pristineBuffer: () => Buffer.from(pristine.buffer), pristineAt: (off) => (off < BIG ? off : -1) };
  for (let round = 0; round < 40; round++) {
    const spans = spansOf(fake, Buffer.from(heap.buffer), pages);
    const body = Buffer.concat([Buffer.from(Uint32Array.from(pages).buffer), spans]);
    walkSpans(header, body, pages.length * 4, scratch);
  }
}

// The 4 KiB `pages` of the heap XOR their pristine bytes, as spans (see
// the top): each batch of pages and its pristine bytes copied into the
// encoder's memory, encoded there. The result is a view of that memory,
// good until the next call.
function spansOf(iso, heap, pages) {
  const { m, s } = spansModule();
  const LIVE = 0, PRISTINE = BATCH * SMALL, OUT = 2 * BATCH * SMALL;
  let o = OUT;
  for (let first = 0; first < pages.length; first += BATCH) {
    const n = Math.min(BATCH, pages.length - first);
    const need = o + n * PAGE_OUT - m.buffer.byteLength;
    if (need > 0) m.grow(Math.ceil(need / BIG));
    const mem = Buffer.from(m.buffer);
    for (let k = 0; k < n; k++) {
      const off = pages[first + k] * SMALL;
      heap.copy(mem, LIVE + k * SMALL, off, off + SMALL);
      const [from, at] = pristineOf(iso, off);
      from.copy(mem, PRISTINE + k * SMALL, at, at + SMALL);
    }
    o = s(LIVE, PRISTINE, n, o);
  }
  return Buffer.from(m.buffer, OUT, o - OUT);
}

// Walks the page XORs of an image's body from `at` (the spans, or in images
// of earlier builds every page whole), checking each, and XORs them onto
// `heap` (a DataView) when given. parseImage walks them without a heap,
// so that a malformed image is refused before the worker is reset;
// applyImage with the heap, whose bytes there are the pristine ones. Where
// the files start. The heap is a DataView, words little-endian as wasm's
// memory: chosen when the lockdown's Object.freeze of the typed arrays'
// prototypes made their indexed stores ten times slower (freezeIntrinsics
// no longer does, lockdown.mjs), kept: a microbench XORing 4 MiB of words
// through either view times them alike.
function walkSpans(header, body, at, heap) {
  const words = new Uint32Array(body.buffer, body.byteOffset, body.length >>> 2);
  const limit = header.heap / SMALL;
  for (let p = 0; p < header.pages; p++) {
    if (words[p] >= limit) throw new ImageError("invalid_image", "page outside the session's heap");
    const page = words[p] * SMALL;
    if (header.enc !== "spans") {
      if (heap) xorWords(heap, page, words, at >>> 2, WORDS);
      at += SMALL;
      continue;
    }
    for (;;) {
      if (at + 4 > body.length) throw new ImageError("invalid_image", "session image ends inside a page");
      const head = words[at >>> 2];
      at += 4;
      if (head === END_OF_PAGE) break;
      const first = head & 0xffff, len = head >>> 16;
      if (len === 0 || first + len > WORDS || at + len * 4 > body.length) throw new ImageError("invalid_image", "malformed page in the session image");
      if (heap) xorWords(heap, page + first * 4, words, at >>> 2, len);
      at += len * 4;
    }
  }
  return at;
}

// heap's `n` words from byte `to` ^= words[from ...].
function xorWords(heap, to, words, from, n) {
  for (let i = 0; i < n; i++, to += 4) heap.setUint32(to, heap.getUint32(to, true) ^ words[from + i], true);
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

// An image's file entries (captureWritableFs's shape), checked before the
// worker is reset: each a path inside the writable directories with no
// "." or ".." in it, a known kind, and contents within the `bytes` left.
function checkWritableFs(files, bytes) {
  if (!Array.isArray(files)) throw new ImageError("invalid_image", "session image without its files");
  for (const entry of files) {
    const [path, kind, mode, extra] = Array.isArray(entry) ? entry : [];
    const inside = typeof path === "string" && WRITABLE_DIRS.some((d) => path.startsWith(d + "/")) &&
      !path.split("/").slice(1).some((name) => name === "" || name === "." || name === "..");
    if (!inside) throw new ImageError("invalid_image", `file outside the writable directories: ${path}`);
    const size = kind === "f" ? extra : 0;
    if (!["d", "f", "l"].includes(kind) || !Number.isSafeInteger(mode) || !Number.isSafeInteger(size) || size < 0 ||
        (kind === "l" && typeof extra !== "string") || (bytes -= size) < 0) {
      throw new ImageError("invalid_image", `malformed file entry in the session image: ${path}`);
    }
  }
}

// Onto emptied writable directories (the reset did that); checked first
// (checkWritableFs).
export function applyWritableFs(FS, files, body, at) {
  for (const [path, kind, mode, extra] of files) {
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
  const { FS } = iso;
  cancelTimers(); // nothing may change the state after it is taken
  const heap = Buffer.from(control.exports.memory.buffer);
  const [deadFrom, deadTo] = deadStack();
  const [mapFrom, mapTo] = iso.mapRange();
  const pages = [];
  // [off, off + len) of the heap equals its pristine bytes (one 64 KiB
  // page at most): compared in place, no view made.
  const same = (off, len) => {
    const [from, at] = pristineOf(iso, off);
    return heap.compare(from, at, at + len, off, off + len) === 0;
  };
  // Only the pages written since the last reset to pristine can differ
  // (isolation.mjs, dirtyPages: the session's runs and what applyImage
  // wrote); all of them when the writes were not tracked.
  const dirty = fullScan ? null : iso.dirtyPages();
  if (dirty) {
    for (const p of dirty) {
      const o = p * SMALL;
      if ((o >= deadFrom && o + SMALL <= deadTo) || (o >= mapFrom && o < mapTo)) continue;
      if (!same(o, SMALL)) pages.push(p);
    }
  }
  for (let off = 0; !dirty && off < heap.length; off += BIG) {
    if (off >= deadFrom && off < deadTo) continue;
    const len = Math.min(BIG, heap.length - off);
    if (same(off, len)) continue;
    for (let o = off; o < off + len; o += SMALL) {
      if (o >= mapFrom && o < mapTo) continue;
      if (!same(o, SMALL)) pages.push(o / SMALL);
    }
  }
  const parts = [Buffer.from(new Uint32Array(pages).buffer), spansOf(iso, heap, pages)];
  // Reference table and its deduplication maps.
  if (!iso.slotIndex) iso.slotIndex = new Map(iso.slots.map((v, i) => [v, i]).filter(([v]) => v && (typeof v === "object" || typeof v === "function")).reverse());
  const slots = [];
  for (let s = 0, n = iso.slotCount(); s < n; s++) {
    const v = iso.getSlot(s);
    if (s < iso.slots.length && v === iso.slots[s]) continue;
    if (s >= iso.slots.length && (v === null || v === undefined)) continue;
    slots.push([s, encodeValue(v, iso.slotIndex)]);
  }
  // The pristine maps' entries are the worker's for good: indexed once.
  if (!iso.dedupIndex) iso.dedupIndex = iso.dedup.map(([, entries]) => new Map(entries));
  const dedup = iso.dedup.map(([map], i) => {
    const before = iso.dedupIndex[i];
    const out = [];
    for (const [k, v] of map) if (before.get(k) !== v) out.push([encodeValue(k, iso.slotIndex), v]);
    return out;
  });
  const fs = captureWritableFs(FS);
  parts.push(...fs.data);
  const body = Buffer.concat(parts);
  const z = body.length > RAW_BODY_MAX ? "br" : "none";
  const header = Buffer.from(
    JSON.stringify({ heap: heap.length, sp: control.exports.__stack_pointer.value, pages: pages.length, slots, dedup, files: fs.files, cwd: FS.cwd(), enc: "spans", z }),
  );
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length);
  return Buffer.concat([MAGIC, iso.fingerprint, len, header, z === "br" ? brotliCompressSync(body, BROTLI) : body]);
}

// Brotli at quality 0 (this comes before the session's answer): on a
// trivial session's 55 KiB of spans, a quarter of the time deflate's
// Huffman coding alone took (0.24 vs 0.87 ms here) and 5% fewer bytes;
// inflating is 0.1 ms faster than brotli's decoding, which a resume pays.
const BROTLI = { params: { [zlib.BROTLI_PARAM_QUALITY]: 0 } };
// A body up to this size goes as it is (z "none"). Compressing and
// decompressing a small session's ~35 KiB of spans took ~1.2 ms of each of
// its runs, most of what a session run cost beyond a stateless one, to
// save ~12 KiB of its stored image; a big session's body (the reference
// session's, ~70 KiB) is still compressed, since what it would store raw
// is what the store's byte budget and an idle session's memory count.
const RAW_BODY_MAX = 64 * 1024;

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
    if (header === null || typeof header !== "object") throw new Error("its header is not an object");
    const packed = bytes.subarray(44 + hlen);
    if (header?.z === "br") body = brotliDecompressSync(packed);
    else if (header?.z === "none") body = packed;
    else if (header?.z === undefined) body = inflateRawSync(packed); // images of earlier builds
    else throw new Error(`unknown compression ${JSON.stringify(header.z)}`);
  } catch (e) {
    throw new ImageError("invalid_image", `malformed session image: ${e?.message ?? e}`);
  }
  const perPage = header.enc === "spans" ? 4 + 4 : header.enc === undefined ? 4 + SMALL : NaN;
  if (!Number.isSafeInteger(header.heap) || header.heap % BIG || header.heap > control.heapCap || !Number.isSafeInteger(header.pages) ||
      header.pages < 0 || !(body.length >= header.pages * perPage)) {
    throw new ImageError("invalid_image", "session image does not fit this worker");
  }
  if (body.byteOffset % 4) body = Buffer.from(Uint8Array.prototype.slice.call(body));
  // Every page and file checked here (and where the files start), so that a
  // malformed image is refused before the worker is reset.
  const filesAt = walkSpans(header, body, header.pages * 4, null);
  checkWritableFs(header.files, body.length - filesAt);
  return { header, body, filesAt };
}

// Onto a worker just reset to pristine (Isolation.resume): each span XORed
// onto the heap, whose bytes there are the pristine ones.
export function applyImage(iso, image) {
  const { header, body, filesAt } = image;
  const { M, FS } = iso;
  const memory = control.exports.memory;
  if (memory.buffer.byteLength < header.heap && !control.resizeHeap(header.heap)) {
    throw new ImageError("invalid_image", "cannot grow the heap to the session's size");
  }
  // The pages it writes are marked (isolation.mjs, markPages): the next
  // reset and the session's next capture see them.
  iso.markPages(new Uint32Array(body.buffer, body.byteOffset, header.pages), SMALL);
  walkSpans(header, body, header.pages * 4, new DataView(memory.buffer));
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
