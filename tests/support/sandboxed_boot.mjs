// Boots, in this process, the interpreter a worker boots (interp.mjs): the
// realm prepared, Pyodide's module made through the worker's own hooks
// (lockdown.mjs moduleHooks, the build's snapshot), dynscope and the runner
// installed (boot.mjs). The lockdown itself is left to the caller, which
// may need the interpreter before it. One copy for the tests and benches
// that need the worker's very interpreter without its threads.
//   runtimeDir: the build's runtime directory
//   wrap(hooked): optional, the createPyodideModule to boot with, around the
//     worker's hooked one (to watch the snapshot's restore)
import { join } from "node:path";
import { pathToFileURL } from "node:url";

export async function bootSandboxed(runtimeDir, { wrap = (hooked) => hooked } = {}) {
  const mod = (f) => import(pathToFileURL(join(runtimeDir, f)).href);
  const { prepareRealm, moduleHooks, emptyGlobals } = await mod("lockdown.mjs");
  const { bootPython, pyodideDir } = await mod("boot.mjs");
  prepareRealm();
  const asm = await import(pathToFileURL(join(pyodideDir(runtimeDir), "pyodide.asm.mjs")).href);
  const hooked = moduleHooks({ heapCapBytes: 256 << 20, createPyodideModule: asm.default });
  return bootPython({
    runtimeDir,
    stdout: () => {},
    stderr: () => {},
    loadOptions: { jsglobals: emptyGlobals(), createPyodideModule: wrap(hooked) },
  });
}

// The whole of a worker's boot after Pyodide's (interp.mjs, in its order):
// the runner installed and warmed, the lockdown, the warm-up runs, the
// pristine capture. For the tests and benches that measure what a run
// leaves on the very heap a worker serves from. `iso.capture()`'s summary
// is `snap`.
export async function bootWorker(runtimeDir) {
  const mod = (f) => import(pathToFileURL(join(runtimeDir, f)).href);
  const { lockInterpreter } = await mod("lockdown.mjs");
  const { Isolation } = await mod("isolation.mjs");
  const { frameRunner, warmRuns } = await mod("frames.mjs");
  const py = await bootSandboxed(runtimeDir);
  const ctrl = new Int32Array(new SharedArrayBuffer(64));
  py.setInterruptBuffer(ctrl);
  const runner = py.pyimport("scopebox_worker");
  runner.install(() => 1, () => {});
  const runFrame = frameRunner(runner);
  runner.warm();
  lockInterpreter(py, { sleepMs: (ms) => Atomics.wait(ctrl, 0, 0, ms) !== "timed-out" });
  // Builds before the warm-up runs have none (bench A/Bs against them).
  warmRuns?.(runFrame, runner);
  const iso = new Isolation(py);
  const snap = iso.capture();
  return { py, ctrl, runner, runFrame, iso, snap };
}
