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

function ownFields(o) {
  const f = {};
  for (const k of Object.keys(o)) f[k] = o[k];
  return f;
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
    if (entries) for (const child of Object.values(entries)) visit(child);
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

function resetObject(o, fields) {
  for (const k of Object.keys(o)) if (!(k in fields)) delete o[k];
  Object.assign(o, fields);
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
      node.contents = { ...entries };
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
