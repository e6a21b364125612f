// File contents live in JS buffers, outside the wasm heap (MEMFS keeps a
// Uint8Array per file, PIPEFS a list of 8 KiB buckets per pipe): without
// this, a run writing files takes the process to gigabytes while the wasm
// heap cap holds. Every byte a run adds to the file system is charged here:
// file capacity (as MEMFS allocates it), a fixed cost per node (a run making
// millions of empty files), bytes buffered in pipes. Past the files share
// (--files-mb), or past the one cap that covers the wasm heap and the files
// together (--heap-mb), the write fails with ENOSPC; the heap side refuses
// growth against the same sum (lockdown.mjs, emscripten_resize_heap).
//
// Charges start at zero after each reset (isolation.mjs calls resetQuota):
// what boot put in the file system is part of the fixed image, not of a run.
import { control } from "./lockdown.mjs";

const ENOSPC = 51; // Emscripten's errno numbering
const NODE_COST = 256; // a node object, its name, its table entry
const BUCKET = 8192; // PIPEFS.BUCKET_BUFFER_SIZE
const DOUBLING_MAX = 1024 * 1024; // MEMFS.expandFileStorage's growth rule

const charges = new Map(); // node or pipe -> bytes charged
let FS = null;

function heapBytes() {
  return control.exports ? control.exports.memory.buffer.byteLength : 0;
}

function fits(total) {
  if (total > control.filesCap) return false;
  return control.heapCap <= 0 || heapBytes() + total <= control.heapCap;
}

// What is still alive: linked into a directory, open, or a pipe with an end
// open. Everything else is garbage for V8 and stops being charged.
function sweep() {
  const open = new Set();
  for (const s of FS.streams) if (s) open.add(s.node);
  let total = 0;
  for (const [key, bytes] of charges) {
    let now = bytes;
    if ("buckets" in key) {
      now = key.buckets && key.refcnt > 0 ? key.buckets.length * BUCKET : 0;
    } else {
      const linked = key.parent?.contents?.[key.name] === key;
      now = linked || open.has(key) ? NODE_COST + (key.contents?.length ?? 0) : 0;
    }
    if (now === 0) charges.delete(key);
    else charges.set(key, now);
    total += now;
  }
  control.filesBytes = total;
}

// Makes room for `key` to be charged `want` bytes in all, or throws ENOSPC.
function reserve(key, want) {
  const before = charges.get(key) ?? 0;
  if (want <= before) return;
  if (!fits(control.filesBytes + want - before)) {
    sweep();
    const again = charges.get(key) ?? 0;
    if (!fits(control.filesBytes + want - again)) throw new FS.ErrnoError(ENOSPC);
  }
  settle(key, want);
}

function settle(key, bytes) {
  control.filesBytes += bytes - (charges.get(key) ?? 0);
  charges.set(key, bytes);
}

// MEMFS.stream_ops.write's allocation, computed ahead of it.
function capacityAfterWrite(node, length, position) {
  const prev = node.contents?.length ?? 0;
  if (node.usedBytes === 0 && position === 0) return length;
  const need = position + length;
  if (need <= prev) return prev;
  let cap = Math.max(need, (prev * (prev < DOUBLING_MAX ? 2 : 1.125)) >>> 0);
  if (prev) cap = Math.max(cap, 256);
  return cap;
}

// pipeStreamOps: the stream_ops of a pipe (PIPEFS is not exported).
export function installQuota(fs, pipeStreamOps) {
  FS = fs;
  const MEMFS = FS.filesystems.MEMFS;
  const table = MEMFS.ops_table;
  if (!table?.file?.stream?.write || !table.file.node.setattr) throw new Error("unexpected MEMFS operation table");
  const realWrite = MEMFS.stream_ops.write;
  const write = function (stream, buffer, offset, length, position, canOwn) {
    const node = stream.node;
    if (length > 0) reserve(node, NODE_COST + capacityAfterWrite(node, length, position));
    const n = realWrite.call(this, stream, buffer, offset, length, position, canOwn);
    settle(node, NODE_COST + (node.contents?.length ?? 0));
    return n;
  };
  MEMFS.stream_ops.write = table.file.stream.write = write; // msync goes through the first

  const realSetattr = MEMFS.node_ops.setattr;
  const setattr = function (node, attr) {
    if (attr.size !== undefined && FS.isFile(node.mode)) reserve(node, NODE_COST + attr.size);
    return realSetattr.call(this, node, attr);
  };
  MEMFS.node_ops.setattr = setattr;
  for (const kind of ["dir", "file", "link", "chrdev"]) table[kind].node.setattr = setattr;

  const realCreate = MEMFS.createNode;
  MEMFS.createNode = function (parent, name, mode, dev) {
    if (!fits(control.filesBytes + NODE_COST)) {
      sweep();
      if (!fits(control.filesBytes + NODE_COST)) throw new FS.ErrnoError(ENOSPC);
    }
    const node = realCreate.call(this, parent, name, mode, dev);
    settle(node, NODE_COST);
    return node;
  };

  const realPipeWrite = pipeStreamOps.write;
  pipeStreamOps.write = function (stream, buffer, offset, length, position) {
    const pipe = stream.node.pipe;
    if (length > 0) reserve(pipe, (pipe.buckets.length + Math.ceil(length / BUCKET) + 1) * BUCKET);
    const n = realPipeWrite.call(this, stream, buffer, offset, length, position);
    settle(pipe, pipe.buckets.length * BUCKET);
    return n;
  };
}

export function resetQuota() {
  charges.clear();
  control.filesBytes = 0;
}
