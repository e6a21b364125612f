// Starts one Pyodide interpreter with dynscope and the scopebox runner in it.
// Shared by the worker (interp.mjs) and by the tests that run Python suites
// inside Pyodide, so both exercise the very same interpreter set-up.
//
// Two stages: loadInterpreter (Pyodide itself, from the build-time memory
// snapshot when there is one, see snapshot.mjs; cold otherwise) and
// installRuntime (dynscope and our package, which never are in a snapshot).
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { discardSnapshot, readSnapshot } from "./snapshot.mjs";

// Installed into site-packages so that `import dynscope` needs no step from
// the snippet and `dynscope.__file__` names the side module.
const SIDE_MODULE = "dynscope.abi3.so";
const WORKER_PACKAGE = "scopebox_worker";
const FIXED_MTIME = 1e12; // ms: 2001-09-09

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
      await discardSnapshot(bytes);
    }
  }
  return { py: await loadPyodide(options), snapshot: false };
}

// Import caches keep files' and directories' times, which the boot just set
// to "now": fixed instead, so that every worker's heap is the same after the
// imports (session images are relative to it, image.mjs).
function fixTimes(FS) {
  const walk = (path) => {
    let st;
    try {
      st = FS.lstat(path);
    } catch {
      return;
    }
    if (FS.isLink(st.mode)) return;
    if (FS.isDir(st.mode)) {
      for (const name of FS.readdir(path)) {
        if (name !== "." && name !== "..") walk(path === "/" ? `/${name}` : `${path}/${name}`);
      }
    }
    FS.utime(path, FIXED_MTIME, FIXED_MTIME);
  };
  for (const name of FS.readdir("/")) if (!["dev", "proc", ".", ".."].includes(name)) walk(`/${name}`);
  FS.utime("/", FIXED_MTIME, FIXED_MTIME);
}

export function installRuntime(py, runtimeDir) {
  const sitePackages = py.runPython("import site; site.getsitepackages()[0]");
  py.FS.writeFile(`${sitePackages}/${SIDE_MODULE}`, readFileSync(join(runtimeDir, SIDE_MODULE)));
  const pkg = join(runtimeDir, WORKER_PACKAGE);
  py.FS.mkdirTree(`${sitePackages}/${WORKER_PACKAGE}`);
  for (const name of readdirSync(pkg).filter((n) => n.endsWith(".py"))) {
    py.FS.writeFile(`${sitePackages}/${WORKER_PACKAGE}/${name}`, readFileSync(join(pkg, name)));
  }
  fixTimes(py.FS);
  py.runPython(
    "import sys\n" +
      "if sys.path.count('') > 1: sys.path.remove('')\n" + // a restore inserts it again
      // Only site-packages' finder has a stale listing; importlib.invalidate_caches()
      // would import importlib.metadata (and email) into every worker: +220 ms.
      `sys.path_importer_cache.pop(${JSON.stringify(sitePackages)}, None)\n` +
      `import dynscope, ${WORKER_PACKAGE}\n`,
  );
}

export async function bootPython({ runtimeDir, stdout, stderr, loadOptions = {}, snapshot = true }) {
  const { py } = await loadInterpreter({ runtimeDir, stdout, stderr, loadOptions, snapshot });
  installRuntime(py, runtimeDir);
  py.runPython("import sys\nif 'random' in sys.modules: sys.modules['random'].seed()");
  return py;
}
