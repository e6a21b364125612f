// Build step (wasm/runtime/CMakeLists.txt): makes <runtimeDir>/pyodide.snapshot
// from a cold boot of the runtime dir's Pyodide (snapshot.mjs says what goes
// in). Runs outside the sandbox, once per build; workers only read the file.
//
//   node make-snapshot.mjs <runtimeDir>
import { renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadInterpreter } from "./boot.mjs";
import { SNAPSHOT_FILE, makeSnapshot } from "./snapshot.mjs";

if (!process.argv[2]) {
  console.error("usage: node make-snapshot.mjs <runtimeDir>");
  process.exit(2);
}
const runtimeDir = resolve(process.argv[2]);
const t0 = performance.now();
const { py } = await loadInterpreter({
  runtimeDir,
  snapshot: false,
  // The worker loads with an empty frozen jsglobals (lockdown.mjs): the
  // snapshot must not refer to anything of the real globalThis.
  loadOptions: { jsglobals: Object.freeze(Object.create(null)), _makeSnapshot: true },
});
const bytes = makeSnapshot(py, runtimeDir);
const out = join(runtimeDir, SNAPSHOT_FILE);
// Written aside, then renamed: a half-written snapshot is never read.
writeFileSync(out + ".tmp", bytes);
renameSync(out + ".tmp", out);
console.log(`snapshot: ${out}, ${(bytes.length / 1048576).toFixed(1)} MiB, made in ${Math.round(performance.now() - t0)} ms`);
