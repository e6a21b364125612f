// Starts one Pyodide interpreter with dynscope and the scopebox runner in it.
// Shared by the worker (interp.mjs) and by the tests that run Python suites
// inside Pyodide, so both exercise the very same interpreter set-up.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

// Installed into site-packages so that `import dynscope` needs no step from
// the snippet and `dynscope.__file__` names the side module.
const SIDE_MODULE = "dynscope.abi3.so";
const WORKER_PACKAGE = "scopebox_worker";

// `loadOptions` go to loadPyodide as they are: the worker's sandbox passes
// `jsglobals` and `createPyodideModule` (lockdown.mjs).
export function pyodideDir(runtimeDir) {
  return join(runtimeDir, "node_modules", "pyodide");
}

export async function bootPython({ runtimeDir, stdout, stderr, loadOptions = {} }) {
  const dir = pyodideDir(runtimeDir);
  const { loadPyodide } = await import(pathToFileURL(join(dir, "pyodide.mjs")).href);
  const py = await loadPyodide({
    ...loadOptions,
    indexURL: dir + "/",
    // Without these, Python's print() goes to the process's own stdout,
    // which carries protocol frames.
    stdout: stdout ?? ((line) => process.stderr.write(line + "\n")),
    stderr: stderr ?? ((line) => process.stderr.write(line + "\n")),
  });
  const sitePackages = py.runPython("import site; site.getsitepackages()[0]");
  py.FS.writeFile(`${sitePackages}/${SIDE_MODULE}`, readFileSync(join(runtimeDir, SIDE_MODULE)));
  const pkg = join(runtimeDir, WORKER_PACKAGE);
  py.FS.mkdirTree(`${sitePackages}/${WORKER_PACKAGE}`);
  for (const name of readdirSync(pkg).filter((n) => n.endsWith(".py"))) {
    py.FS.writeFile(`${sitePackages}/${WORKER_PACKAGE}/${name}`, readFileSync(join(pkg, name)));
  }
  py.runPython(`import importlib; importlib.invalidate_caches(); import dynscope, ${WORKER_PACKAGE}`);
  return py;
}
