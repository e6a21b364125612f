// Build step (wasm/runtime/CMakeLists.txt): compiles the runner package
// (scopebox_worker) to bytecode with the runtime's own Pyodide, into
// <runtimeDir>/scopebox_worker/__pycache__, which every worker's boot
// installs beside the sources (boot.mjs): compiling the package from source
// took 120-560 ms of each boot, unmarshalling its bytecode ~20 ms.
// Checked-hash pycs: the importer hashes the source it finds and compiles
// it after all if the hash differs, so a stale cache costs time, never
// behaviour. Runs outside the sandbox, once per build.
//
//   node make-pycache.mjs <runtimeDir>
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadInterpreter } from "./boot.mjs";
import { PYCACHE, WORKER_PACKAGE } from "./install.mjs";

const runtimeDir = process.argv[2];
if (!runtimeDir) {
  console.error("usage: node make-pycache.mjs <runtimeDir>");
  process.exit(2);
}
const dir = resolve(runtimeDir);
const { py } = await loadInterpreter({ runtimeDir: dir, loadOptions: { jsglobals: Object.freeze(Object.create(null)) } });
const pkg = join(dir, WORKER_PACKAGE);
// Compiled where the worker imports them from (install.mjs), so that the
// code objects name the same files.
const site = py.runPython("import site; site.getsitepackages()[0]");
const into = `${site}/${WORKER_PACKAGE}`;
py.FS.mkdirTree(into);
const names = readdirSync(pkg).filter((n) => n.endsWith(".py"));
for (const n of names) py.FS.writeFile(`${into}/${n}`, readFileSync(join(pkg, n)));
py.globals.set("_names", py.toPy(names));
const cached = py.runPython(`
import importlib.util, py_compile
_out = []
for _n in _names:
    _src = "${into}/" + _n
    _out.append(py_compile.compile(_src, doraise=True,
        invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH))
_out
`).toJs();
const outDir = join(pkg, PYCACHE);
mkdirSync(outDir, { recursive: true });
for (const path of cached) {
  const out = join(outDir, path.split("/").pop());
  // Written aside, then renamed: a half-written file is never read.
  writeFileSync(out + ".tmp", py.FS.readFile(path));
  renameSync(out + ".tmp", out);
}
console.log(`pycache: ${cached.length} modules of ${WORKER_PACKAGE} compiled into ${outDir}`);
