// Runs dynscope's plain test modules inside Pyodide under Node:
//   node run_in_pyodide.mjs <runtimeDir> <test_*.py>...
//   node run_in_pyodide.mjs <runtimeDir> --script <file.py>   (runs it as __main__)
// The interpreter is started exactly as the worker starts it (boot.mjs), the
// files are written into the Pyodide file system, and plain_collector.py
// calls every top-level function named test_*.  A test that returns an
// awaitable (the suites' way to run asyncio code: Pyodide's loop cannot be
// driven by run_until_complete under Node) is awaited on Pyodide's event
// loop.  Prints each failure's traceback and ends with "N passed, N failed";
// exits 1 on any failure or when no test ran.
import { readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const { bootPython } = await import(
  pathToFileURL(resolve(here, "..", "..", "wasm", "runtime", "boot.mjs")).href);

let [runtimeDir, ...files] = process.argv.slice(2);
const script = files[0] === "--script" ? files[1] : null;
if (script) files = [script];
if (!runtimeDir || files.length === 0) {
  console.error("usage: node run_in_pyodide.mjs <runtimeDir> <test files...>");
  process.exit(2);
}

const py = await bootPython({
  runtimeDir: resolve(runtimeDir),
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});

const testDir = "/dynscope_tests";
py.FS.mkdirTree(testDir);
const modules = [];
for (const file of files) {
  py.FS.writeFile(join(testDir, basename(file)), readFileSync(file));
  if (basename(file).startsWith("test_")) modules.push(basename(file).replace(/\.py$/, ""));
}

if (script) {
  // A script's failure is an exception out of runPythonAsync: exit 1.
  try {
    await py.runPythonAsync(`
import runpy, sys
sys.path.insert(0, ${JSON.stringify(testDir)})
runpy.run_path(${JSON.stringify(join(testDir, basename(script)))}, run_name="__main__")
`);
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
  process.exit(0);
}

// The collector is shared with the native runs under extra interpreters.
for (const helper of ["plain_collector.py", "preamble.py"]) py.FS.writeFile(join(testDir, helper), readFileSync(join(here, helper)));
py.globals.set("_ds_modules", py.toPy(modules));
const [passed, failed] = (await py.runPythonAsync(`
import importlib, sys
sys.path.insert(0, ${JSON.stringify(testDir)})
importlib.invalidate_caches()
import plain_collector
await plain_collector.run_async(list(_ds_modules))
`)).toJs();
process.exit(failed > 0 || passed === 0 ? 1 : 0);
