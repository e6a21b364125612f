// The worker's boot imports the runner package (scopebox_worker) from the
// bytecode the build compiled (wasm/runtime/make-pycache.mjs), not from
// source: compiling it took 120-560 ms of every boot. The interpreter is
// booted as a worker boots it (boot.mjs, tests/support/sandboxed_boot.mjs);
// then, for every module of the package, its loader's get_code() must give
// its code with compile() unavailable (the importer compiles only when the
// cache is missing or its source hash differs from the installed source),
// and that code must be the module's own (its functions' code is what the
// import made). Fails when the build made no cache, when the boot does not
// install it, or when it is stale.
//   node runner_bytecode.mjs <runtimeDir>
import { resolve } from "node:path";
import { bootSandboxed } from "../support/sandboxed_boot.mjs";

const runtimeDir = resolve(process.argv[2] ?? "runtime");
const py = await bootSandboxed(runtimeDir);
const report = py.runPython(`
import builtins, importlib.util, os, sys, scopebox_worker
pkg = os.path.dirname(scopebox_worker.__file__)
names = sorted(n[:-3] for n in os.listdir(pkg) if n.endswith(".py"))
problems = []
real_compile = builtins.compile
def no_compile(*args, **kwargs):
    raise AssertionError("compile() called: the bytecode cache was not used")
for n in names:
    name = "scopebox_worker" if n == "__init__" else "scopebox_worker." + n
    __import__(name)
    spec = sys.modules[name].__spec__
    if not spec.cached or not os.path.exists(spec.cached):
        problems.append(f"{name}: no bytecode at {spec.cached}")
        continue
    builtins.compile = no_compile
    try:
        code = spec.loader.get_code(name)
    except AssertionError as e:
        problems.append(f"{name}: {e}")
        continue
    finally:
        builtins.compile = real_compile
    if code.co_filename != spec.origin:
        problems.append(f"{name}: its code names {code.co_filename}, not {spec.origin}")
"\\n".join(problems) or f"ok: {len(names)} modules from their bytecode"
`);
console.log(report);
process.exit(report.startsWith("ok:") ? 0 : 1);
