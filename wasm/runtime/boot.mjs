// Starts one Pyodide interpreter with dynscope and the scopebox runner in it.
// Shared by the worker (interp.mjs) and by the tests that run Python suites
// inside Pyodide, so both exercise the very same interpreter set-up.
//
// Two stages: loadInterpreter (Pyodide itself, from the build-time memory
// snapshot when there is one, see snapshot.mjs; cold otherwise) and
// installRuntime (dynscope and our package, which never are in a snapshot;
// install.mjs, shared with the playground's browser engine).
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { discardBuffer, readSnapshot } from "./snapshot.mjs";
import { PYCACHE, SIDE_MODULE, WORKER_PACKAGE, installRuntime as install, reseedRandom } from "./install.mjs";

// `loadOptions` go to loadPyodide as they are: the worker's sandbox passes
// `jsglobals` and `createPyodideModule` (lockdown.mjs).
export function pyodideDir(runtimeDir) {
  return join(runtimeDir, "node_modules", "pyodide");
}

// `snapshot`: true = use the runtime dir's snapshot if present (falls back
// to a cold boot, logged, if it is absent or fails to load); false = cold.
// Returns { py, snapshot: whether the snapshot was used }.
export async function loadInterpreter({ runtimeDir, stdout, stderr, loadOptions = {}, snapshot = true }) {
  const dir = pyodideDir(runtimeDir);
  const { loadPyodide } = await import(pathToFileURL(join(dir, "pyodide.mjs")).href);
  // The host's log, not the snippet-output path (`stderr`).
  const log = (line) => process.stderr.write(line + "\n");
  const options = {
    // Snapshots are made and restored with this same environment: Python's
    // os.environ is part of the heap.
    env: { HOME: "/home/pyodide" },
    ...loadOptions,
    indexURL: dir + "/",
    // Without these, Python's print() goes to the process's own stdout,
    // which carries protocol frames.
    stdout: stdout ?? ((line) => process.stderr.write(line + "\n")),
    stderr: stderr ?? log,
  };
  const bytes = snapshot ? readSnapshot(runtimeDir, log) : null;
  if (bytes) {
    try {
      const py = await loadPyodide({ ...options, _loadSnapshot: bytes });
      // The config keeps the option; the heap has its own copy.
      py._api.config._loadSnapshot = undefined;
      return { py, snapshot: true };
    } catch (e) {
      log(`snapshot: restoring ${join(runtimeDir, "pyodide.snapshot")} failed (${e?.message ?? e}); booting cold`);
    } finally {
      await discardBuffer(bytes);
    }
  }
  return { py: await loadPyodide(options), snapshot: false };
}

// The runtime directory's side module and runner package (with its
// build-time bytecode, make-pycache.mjs), installed by the installer the
// browser engine shares (install.mjs).
export function installRuntime(py, runtimeDir) {
  const pkg = join(runtimeDir, WORKER_PACKAGE);
  const cache = join(pkg, PYCACHE);
  const pycs = existsSync(cache) ? readdirSync(cache).filter((n) => n.endsWith(".pyc")) : [];
  install(py, {
    sideModule: readFileSync(join(runtimeDir, SIDE_MODULE)),
    packageFiles: [
      ...readdirSync(pkg).filter((n) => n.endsWith(".py")).map((n) => [n, readFileSync(join(pkg, n))]),
      ...pycs.map((n) => [`${PYCACHE}/${n}`, readFileSync(join(cache, n))]),
    ],
  });
}

export async function bootPython({ runtimeDir, stdout, stderr, loadOptions = {}, snapshot = true }) {
  const { py } = await loadInterpreter({ runtimeDir, stdout, stderr, loadOptions, snapshot });
  installRuntime(py, runtimeDir);
  reseedRandom(py);
  return py;
}
