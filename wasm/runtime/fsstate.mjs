// The Emscripten file system's whole state, captured once and put back
// after every stateless run (isolation.mjs): the tree (every node reachable
// from the root, through mounts), each node's fields (mode, times, link
// target, file contents, directory entries), the lookup hash table, the
// inode counter, the open streams' fields. Restoring node objects in place
// rather than diffing paths means nothing a run made (a file under /dev/shm,
// a symlink in /proc/self, a renamed directory, a utime on a read-only
// file) can survive: every node not in the image becomes unreachable.
//
// captureFs(FS) -> image; restoreFs(FS, image). Both are meant for reuse by
// other images (e.g. a session's), so they only read and write FS.

// Files whose mode allows writing can be changed in place (the contents
// array is written into): the image keeps a copy of their bytes. Read-only
// files cannot be opened for writing (Emscripten checks mode bits and chmod
// is refused once locked: lockdown.mjs), so a reference to their contents
// is enough.
const WRITE_BITS = 0o222;

// An object's own enumerable fields as two arrays, keys and values, in
// Object.keys order: what resetObject compares against.
function ownFields(o) {
  const keys = Object.keys(o);
  return { keys, values: keys.map((k) => o[k]) };
}

function copyBytes(node) {
  const c = node.contents;
  if (!c || typeof c.subarray !== "function") return null;
  return c.slice(0, node.usedBytes ?? c.length);
}

export function captureFs(FS) {
  const nodes = [];
  const seen = new Set();
  const visit = (node) => {
    if (!node || seen.has(node)) return;
    seen.add(node);
    const fields = ownFields(node);
    let entries = null;
    let bytes = null;
    if (FS.isDir(node.mode) && node.contents && typeof node.contents === "object") {
      entries = ownFields(node.contents);
    } else if (FS.isFile(node.mode) && node.mode & WRITE_BITS) {
      bytes = copyBytes(node);
    }
    nodes.push({ node, fields, entries, bytes });
    if (node.mounted) visit(node.mounted.root);
    if (entries) for (const child of entries.values) visit(child);
  };
  visit(FS.root);
  return {
    nodes,
    nameTable: FS.nameTable.slice(),
    nextInode: FS.nextInode,
    mounts: FS.mounts.length,
    streams: FS.streams.map((s) => (s ? { stream: s, fields: ownFields(s) } : null)),
    cwd: FS.cwd(),
  };
}

// Whether o's own enumerable keys are `keys`, in that order.
function sameKeys(o, keys) {
  const now = Object.keys(o);
  if (now.length !== keys.length) return false;
  for (let i = 0; i < keys.length; i++) if (now[i] !== keys[i]) return false;
  return true;
}

// Puts o's fields back: every value that is not the image's (Object.is: -0
// is not 0) written; when the keys are not the image's, in its order, all
// of them deleted and written again. A run leaves almost every node as it
// found it, and writing all ~16 fields of all ~60 nodes back every time was
// a third of a trivial run's reset; reading them is cheap.
function resetObject(o, { keys, values }) {
  if (!sameKeys(o, keys)) {
    for (const k of Object.keys(o)) delete o[k];
    for (let i = 0; i < keys.length; i++) o[keys[i]] = values[i];
    return;
  }
  for (let i = 0; i < keys.length; i++) if (!Object.is(o[keys[i]], values[i])) o[keys[i]] = values[i];
}

// A directory's entries as a fresh object, unless they are the image's
// already (same names in the same order, the same nodes).
function resetEntries(node, entries) {
  const c = node.contents;
  if (c && typeof c === "object" && Object.getPrototypeOf(c) === Object.prototype && sameKeys(c, entries.keys)) {
    let same = true;
    for (let i = 0; same && i < entries.keys.length; i++) same = c[entries.keys[i]] === entries.values[i];
    if (same) return;
  }
  const fresh = {};
  for (let i = 0; i < entries.keys.length; i++) fresh[entries.keys[i]] = entries.values[i];
  node.contents = fresh;
}

export function restoreFs(FS, image) {
  // Streams the run opened: closed (closing may touch nodes, so first).
  FS.streams.forEach((s, fd) => {
    if (!s || image.streams[fd]?.stream === s) return;
    try {
      FS.close(s);
    } catch {
      FS.streams[fd] = null;
    }
  });
  for (let fd = 0; fd < image.streams.length; fd++) {
    const saved = image.streams[fd];
    if (saved) {
      FS.streams[fd] = saved.stream;
      resetObject(saved.stream, saved.fields);
    }
  }
  FS.streams.length = Math.min(FS.streams.length, image.streams.length);
  if (FS.mounts.length !== image.mounts) throw new Error("a file system was mounted during the run");
  for (const { node, fields, entries, bytes } of image.nodes) {
    resetObject(node, fields);
    if (entries) {
      resetEntries(node, entries);
    } else if (bytes) {
      node.contents = bytes.slice();
      node.usedBytes = bytes.length;
    }
  }
  // The lookup table's 4,096 buckets: written only where they differ (a
  // run seldom adds or removes a node; a store into every bucket costs
  // three times the compare).
  const table = FS.nameTable;
  const saved = image.nameTable;
  for (let i = 0; i < saved.length; i++) if (table[i] !== saved[i]) table[i] = saved[i];
  FS.nextInode = image.nextInode;
  // chdir looks the path up and checks it, then sets currentPath alone:
  // nothing to do when that is the captured one already.
  if (FS.currentPath !== image.cwd) FS.chdir(image.cwd);
}
