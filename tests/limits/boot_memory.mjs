// An idle worker's boot leaves no memory resident that only held zeros or
// boot-only bytes (issue 16, idle RSS), and the start-up snapshot's heap is
// still restored exactly. The interpreter is booted as a worker boots it
// (boot.mjs with lockdown.mjs's moduleHooks and the build's snapshot):
// - at the moment Pyodide restores the snapshot, the wasm memory holds the
//   snapshot's heap image byte for byte (zero where the image is), also in
//   pages this test scribbles on first (the memory is not fresh there), and
//   no more of it is resident than the image's non-zero pages (Pyodide's own
//   restore wrote every page: the whole 30 MiB resident);
// - once the module is made, the wasm file's bytes Pyodide read are freed
//   (detached), not left to a major GC an idle worker may never run;
// - the full restore (the fallback after a run broke the interpreter,
//   isolation.mjs) leaves those zero pages unwritten too: no more of the
//   heap is resident after it than the pristine image's non-zero part.
//   node boot_memory.mjs <runtimeDir>
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { bootSandboxed } from "../support/sandboxed_boot.mjs";

const runtimeDir = resolve(process.argv[2] ?? "runtime");
const mod = (f) => import(pathToFileURL(join(runtimeDir, f)).href);
const { control } = await mod("lockdown.mjs");
const { Isolation } = await mod("isolation.mjs");
const { readSnapshot } = await mod("snapshot.mjs");

const PAGE = 4096;
// What instantiation writes (data segments) lies in pages the image has as
// non-zero; the slack covers page-table rounding, not a dense copy (15 MiB).
const SLACK = 2 << 20;
const failures = [];
const check = (ok, what) => ok || failures.push(what);

const image = (() => {
  const snap = readSnapshot(runtimeDir, (line) => console.error(line));
  if (!snap) throw new Error(`no usable snapshot in ${runtimeDir}: this test needs the build's`);
  const at = new Uint32Array(snap.buffer, snap.byteOffset, 2)[1];
  return Buffer.from(snap.buffer, snap.byteOffset + at, snap.byteLength - at);
})();
const zero = Buffer.alloc(PAGE);
const pages = [];
for (let off = 0; off < image.length; off += PAGE) pages.push(!image.subarray(off, off + PAGE).equals(zero));
const nonZeroBytes = pages.filter(Boolean).length * PAGE;
const zeroPage = pages.indexOf(false);
const fullPage = pages.indexOf(true);

// Resident bytes of this process's anonymous read-write mapping of exactly
// `size` bytes (the wasm memory's accessible part, inside its reservation).
function residentOfMapping(size) {
  let cur = null;
  const found = [];
  for (const line of readFileSync("/proc/self/smaps", "utf8").split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      const len = Number(BigInt(`0x${m[2]}`) - BigInt(`0x${m[1]}`));
      cur = len === size && m[3].startsWith("rw") && !m[4].startsWith("/") ? { rss: 0 } : null;
      if (cur) found.push(cur);
    } else if (cur && line.startsWith("Rss:")) {
      cur.rss = Number(line.split(/\s+/)[1]) * 1024;
    }
  }
  return found.length === 1 ? found[0].rss : null;
}

// Pyodide's first WebAssembly.instantiate is given the wasm file's bytes.
const realInstantiate = WebAssembly.instantiate;
let wasmBytes = null;
WebAssembly.instantiate = function instantiate(source, imports) {
  if (wasmBytes === null && ArrayBuffer.isView(source)) wasmBytes = source;
  return realInstantiate.call(WebAssembly, source, imports);
};

let restored = false;
// Around the worker's own hooks: sees the memory just before and just after
// the restore the worker's boot makes.
const py = await bootSandboxed(runtimeDir, {
  wrap: (hooked) => async (settings) => {
    const module = await hooked(settings);
    const restore = module.API.restoreSnapshot;
    module.API.restoreSnapshot = (bytes) => {
      const heap = new Uint8Array(control.exports.memory.buffer);
      // Not fresh memory where the image is zero, nor where it is not.
      heap.fill(0x5a, zeroPage * PAGE, zeroPage * PAGE + 100);
      heap.fill(0x5a, fullPage * PAGE, fullPage * PAGE + PAGE);
      const result = restore(bytes);
      const mem = Buffer.from(control.exports.memory.buffer, 0, image.length);
      check(mem.equals(image), "the restored heap differs from the snapshot's image");
      const rss = residentOfMapping(control.exports.memory.buffer.byteLength);
      check(rss !== null, "no single mapping of the wasm memory's size in /proc/self/smaps");
      check(rss !== null && rss <= nonZeroBytes + SLACK,
        `the wasm memory has ${(rss / 1048576).toFixed(1)} MiB resident after the restore, ` +
          `its image ${(nonZeroBytes / 1048576).toFixed(1)} MiB not zero`);
      restored = true;
      return result;
    };
    return module;
  },
});
WebAssembly.instantiate = realInstantiate;
check(restored, "the boot did not restore the snapshot");
check(py.runPython("1 + 1") === 2, "the interpreter does not run");
check(wasmBytes !== null, "Pyodide handed WebAssembly.instantiate no bytes");
check(wasmBytes === null || wasmBytes.byteLength === 0,
  `the wasm file's bytes (${wasmBytes?.byteLength} bytes) are still held after the boot`);

// The worker's capture, then the restore a broken run is followed by.
const iso = new Isolation(py);
iso.capture();
check(py.runPython("sum(range(10))") === 45, "the interpreter does not run after the capture");
iso.distrust();
iso.restore();
check(iso.stats.full === 1, "the restore after distrust() was not the full one");
const rssFull = residentOfMapping(control.exports.memory.buffer.byteLength);
check(rssFull !== null && rssFull <= iso.pristine.length + SLACK,
  `the wasm memory has ${(rssFull / 1048576).toFixed(1)} MiB resident after a full restore, ` +
    `the pristine image ${(iso.pristine.length / 1048576).toFixed(1)} MiB not zero`);
check(py.runPython("1 + 2") === 3, "the interpreter does not run after the full restore");
if (failures.length) {
  for (const f of failures) console.error(`FAIL: ${f}`);
  process.exit(1);
}
console.log(`ok: snapshot heap restored exactly, ${(nonZeroBytes / 1048576).toFixed(1)} MiB of ` +
  `${(image.length / 1048576).toFixed(1)} MiB resident (${(rssFull / 1048576).toFixed(1)} MiB after a full ` +
  `restore); the wasm file's bytes freed`);
