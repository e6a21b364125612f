// Puts dynscope and the runner package into a booted Pyodide and sets its
// Python up: the one installer of both engines, the server's workers
// (boot.mjs reads the files from the runtime directory) and the playground's
// browser engine (web/src/engine-worker.js fetches them). No Node or browser
// API here, only Pyodide's, so both hosts import this very file.

// Installed into site-packages so that `import dynscope` needs no step from
// the snippet and `dynscope.__file__` names the side module.
export const SIDE_MODULE = "dynscope.abi3.so";
export const WORKER_PACKAGE = "scopebox_worker";
// The package's bytecode, made at build time (make-pycache.mjs), where
// CPython's importer looks for it.
export const PYCACHE = "__pycache__";
const FIXED_MTIME = 1e12; // ms: 2001-09-09

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

// `sideModule`: the bytes of dynscope.abi3.so; `packageFiles`: [name, bytes]
// pairs of the runner package's .py files, and of its build-time bytecode
// (`__pycache__/<module>.<tag>.pyc`) when there is one.
export function installRuntime(py, { sideModule, packageFiles }) {
  const sitePackages = py.runPython("import site; site.getsitepackages()[0]");
  py.FS.writeFile(`${sitePackages}/${SIDE_MODULE}`, sideModule);
  py.FS.mkdirTree(`${sitePackages}/${WORKER_PACKAGE}`);
  for (const [name, data] of packageFiles) {
    if (name.includes("/")) py.FS.mkdirTree(`${sitePackages}/${WORKER_PACKAGE}/${name.slice(0, name.lastIndexOf("/"))}`);
    py.FS.writeFile(`${sitePackages}/${WORKER_PACKAGE}/${name}`, data);
  }
  fixTimes(py.FS);
  py.runPython(
    "import sys\n" +
      "if sys.path.count('') > 1: sys.path.remove('')\n" + // a snapshot's restore inserts it again
      // Only site-packages' finder has a stale listing; importlib.invalidate_caches()
      // would import importlib.metadata (and email) into every interpreter: +220 ms.
      `sys.path_importer_cache.pop(${JSON.stringify(sitePackages)}, None)\n` +
      `import dynscope, ${WORKER_PACKAGE}\n`,
  );
}

// `random` as imported during the boot (or restored from a snapshot every
// worker shares) holds one state for all; each interpreter reseeds it from
// os.urandom. Server workers reseed per stateless run instead (isolation.mjs).
export function reseedRandom(py) {
  py.runPython("import sys\nif 'random' in sys.modules: sys.modules['random'].seed()");
}
