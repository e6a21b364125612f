// restoreFs (wasm/runtime/fsstate.mjs) puts every node's and every open
// stream's own fields back exactly, whatever JS-level change a run's file
// operations could make to them: a key added (also one that Object.prototype
// has, such as `constructor`), a key deleted, keys reordered, a value
// replaced by one that == it (-0 for 0), a directory's entries object
// swapped for one with the same entries but another prototype, an entry
// added. Python cannot make most of these; the glue's FS code can, and the
// restore must not depend on which. Node-level, on the worker's own file
// system (booted as interp.mjs boots it).
//   node fs_restore_fields.mjs <runtimeDir>
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { bootSandboxed } from "../support/sandboxed_boot.mjs";

const runtimeDir = resolve(process.argv[2] ?? "runtime");
const mod = (f) => import(pathToFileURL(join(runtimeDir, f)).href);
const { captureFs, restoreFs } = await mod("fsstate.mjs");

const py = await bootSandboxed(runtimeDir);
const FS = py.FS;
const image = captureFs(FS);

// Every captured object's own enumerable fields, as [key, value] pairs in
// order, and each directory's entries: what a restore must give back.
const snapshot = () =>
  image.nodes.map(({ node }) => ({
    // A directory's `contents` may come back as a new object: its entries
    // are compared below.
    fields: Object.keys(node).map((k) => [k, k === "contents" && FS.isDir(node.mode) ? "entries" : node[k]]),
    entries: FS.isDir(node.mode) && node.contents && typeof node.contents === "object"
      ? { proto: Object.getPrototypeOf(node.contents), pairs: Object.keys(node.contents).map((k) => [k, node.contents[k]]) }
      : null,
  }));
const streams = () => FS.streams.map((s) => (s ? Object.keys(s).map((k) => [k, s[k]]) : null));
// A writable file's contents come back as a copy of the image's bytes: equal
// bytes, not the same array.
const sameValue = (a, b) =>
  Object.is(a, b) || (ArrayBuffer.isView(a) && ArrayBuffer.isView(b) && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength)));
const samePairs = (a, b) => a.length === b.length && a.every(([k, v], i) => b[i][0] === k && sameValue(v, b[i][1]));

const want = snapshot();
const wantStreams = streams();
const failures = [];
const check = (what) => {
  const got = snapshot();
  got.forEach((g, i) => {
    const w = want[i];
    const name = image.nodes[i].node.name;
    if (!samePairs(w.fields, g.fields)) failures.push(`${what}: node ${name}'s fields differ`);
    if (w.entries && (g.entries?.proto !== w.entries.proto || !samePairs(w.entries.pairs, g.entries.pairs))) {
      failures.push(`${what}: directory ${name}'s entries differ`);
    }
  });
  const gs = streams();
  wantStreams.forEach((w, fd) => {
    if (w && !(gs[fd] && samePairs(w, gs[fd]))) failures.push(`${what}: stream ${fd}'s fields differ`);
  });
};

const file = image.nodes.find(({ node }) => FS.isFile(node.mode)).node;
const dir = image.nodes.find(({ node }) => FS.isDir(node.mode) && node.contents && Object.keys(node.contents).length > 1).node;
const zeroKey = Object.keys(file).find((k) => file[k] === 0 && !Object.is(file[k], -0));
const stream = FS.streams.find((s) => s);

const cases = {
  "a key added": () => (file.extra = 1),
  "a key Object.prototype has added": () => (file.constructor = Object),
  "a key deleted": () => delete file.name,
  "keys reordered": () => {
    const v = file.mode;
    delete file.mode;
    file.mode = v;
  },
  "-0 for 0": () => zeroKey && (file[zeroKey] = -0),
  "every field of a node changed": () => Object.keys(file).forEach((k) => (file[k] = "x")),
  "entries with another prototype": () => (dir.contents = Object.assign(Object.create(null), dir.contents)),
  "an entry added": () => (dir.contents.extra = file),
  "an entry removed": () => delete dir.contents[Object.keys(dir.contents)[0]],
  "entries reordered": () => {
    const [k] = Object.keys(dir.contents);
    const v = dir.contents[k];
    delete dir.contents[k];
    dir.contents[k] = v;
  },
  "a stream's key added": () => (stream.getdents = []),
  "a stream's position moved": () => (stream.position = 12345),
};
if (zeroKey === undefined) failures.push("no field of the file is 0: the -0 case tests nothing");
for (const [what, change] of Object.entries(cases)) {
  change();
  restoreFs(FS, image);
  check(what);
  // Twice: a restore after a restore (the image's objects are not shared
  // with the tree, so the second one starts from the same state).
  restoreFs(FS, image);
  check(`${what}, restored twice`);
}

if (failures.length) {
  console.error(failures.join("\n"));
  process.exit(1);
}
console.log(`fs restore: ${Object.keys(cases).length} kinds of change to ${image.nodes.length} nodes put back`);
