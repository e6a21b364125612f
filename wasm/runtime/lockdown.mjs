// Layer 1 of the sandbox (see wasm/runtime/PROTOCOL.md, "Sandbox"): what the
// interpreter thread does so that Python code has no path to the JS realm's
// capabilities (process, require, globalThis, Function, host files), and so
// that what a run leaves behind can be wiped (isolation.mjs).
//
// Pyodide is not a boundary; this layer removes what it can and the process
// sandbox (server/sandbox.c, node's permission model) holds if it fails.
//
// Order (interp.mjs):
//   prepareRealm()            before Pyodide loads: timers are tracked, the
//                             process.binding shim the permission model needs
//   moduleHooks()             passed to loadPyodide: wraps the wasm imports
//                             (heap cap, dlopen lock) and captures exports
//   lockInterpreter(py, ...)  after boot: js / pyodide_js replaced by frozen
//                             stubs, run_js and native-code modules removed,
//                             host objects unreachable, intrinsics frozen
import fs from "node:fs";
import { capHeapGrowth, hookImports } from "./heap-cap.mjs";
import { discardBuffer, restoreSparsely } from "./snapshot.mjs";
import { pooledRandomGet } from "./entropy.mjs";

const realTimers = {
  setTimeout: globalThis.setTimeout,
  clearTimeout: globalThis.clearTimeout,
  setInterval: globalThis.setInterval,
  clearInterval: globalThis.clearInterval,
  setImmediate: globalThis.setImmediate,
  clearImmediate: globalThis.clearImmediate,
};
export { realTimers };

// Timers started while a run is in flight (Pyodide's event loop schedules
// asyncio callbacks with setTimeout/setImmediate). They are cancelled when a
// stateless run ends, so no "background task" outlives its request.
const liveTimers = new Map(); // handle -> clear function

export function cancelTimers() {
  const n = liveTimers.size;
  for (const [h, clear] of liveTimers) clear(h);
  liveTimers.clear();
  return n;
}

function trackTimers() {
  const wrap = (set, clear, once) =>
    function (cb, ...rest) {
      if (typeof cb !== "function") throw new TypeError("callback must be a function");
      let h;
      const run = once
        ? (...a) => {
            liveTimers.delete(h);
            return cb(...a);
          }
        : cb;
      h = set(run, ...rest);
      liveTimers.set(h, clear);
      return h;
    };
  const unwrap = (clear) =>
    function (h) {
      liveTimers.delete(h);
      return clear(h);
    };
  globalThis.setTimeout = wrap(realTimers.setTimeout, realTimers.clearTimeout, true);
  globalThis.setImmediate = wrap(realTimers.setImmediate, realTimers.clearImmediate, true);
  globalThis.setInterval = wrap(realTimers.setInterval, realTimers.clearInterval, false);
  globalThis.clearTimeout = unwrap(realTimers.clearTimeout);
  globalThis.clearImmediate = unwrap(realTimers.clearImmediate);
  globalThis.clearInterval = unwrap(realTimers.clearInterval);
}

export function prepareRealm() {
  // Under --experimental-permission, process.binding throws; Pyodide's
  // Emscripten glue asks it for "constants" while it loads. Answer that and
  // nothing else.
  const constants = Object.freeze({ fs: Object.freeze({ ...fs.constants }), os: Object.freeze({}) });
  process.binding = (name) => {
    if (name === "constants") return constants;
    throw new Error(`process.binding(${JSON.stringify(String(name))}) is not available`);
  };
  trackTimers();
}

// ---- wasm imports ----------------------------------------------------------

// A run broke the interpreter: a C-level exit, abort or trap, or any other
// error Pyodide would call fatal. It unwinds every wasm frame up to the
// runner's caller (interp.mjs), which answers the run with an error and puts
// the pristine state back (isolation.mjs), so that no Python-reachable call
// ends the worker. `pyodide_fatal_error` makes Pyodide rethrow it at every
// boundary (handle_js_error) instead of turning it into a Python exception.
export class InterpreterBroke extends Error {
  constructor(kind, detail, exitCode = null) {
    super(detail);
    this.kind = kind; // "exit", "abort" or "fault"
    this.exitCode = exitCode;
    this.pyodide_fatal_error = true;
  }
}

// State shared with the import wrappers; `dlopenLocked` flips once boot has
// loaded the one side module we ship (dynscope); `recover` once the lockdown
// is in place (before it, a broken boot must fail as it always did).
const control = {
  heapCap: 0, dlopenLocked: false, fsLocked: false, exports: null, heapRefusals: 0,
  recover: false, broken: null,
  // Bytes a run added to the file system (fsquota.mjs) and their own cap:
  // the heap cap covers the heap and these together.
  filesCap: Infinity, filesBytes: 0,
  // Pipes made since the last reset: names them, so that a pipe's name
  // (readlink /proc/self/fd/N) does not count earlier runs' pipes.
  pipes: 0, FS: null,
  // JS Maps that Pyodide's reference table (libhiwire) keeps outside the wasm
  // heap to deduplicate references: isolation.mjs restores their contents.
  dedupMaps: [],
  // Marks a heap range our own code is about to write (isolation.mjs sets
  // it once the tracked restore is on; entropy.mjs's pool calls it).
  markHeap: null,
};
export { control };

export function moduleHooks({ heapCapBytes, filesCapBytes, createPyodideModule }) {
  control.heapCap = heapCapBytes;
  if (filesCapBytes > 0) control.filesCap = filesCapBytes;
  return (settings) => {
    // A failed snapshot restore is followed by a cold boot: only the last
    // instance's tables count.
    control.dedupMaps.length = 0;
    const wasmFile = catchWasmBytes();
    const made = hookImports(createPyodideModule, wrapImports, (instance) => {
      control.exports = instance.exports;
      wasmFile.stop();
      if (wasmFile.bytes) discardBuffer(wasmFile.bytes);
    })(settings);
    // loadPyodide restores the snapshot (if any) once the module is made.
    return Promise.resolve(made).then(
      (module) => {
        restoreSparsely(module.API, () => new Uint8Array(control.exports.memory.buffer));
        return module;
      },
      (e) => {
        wasmFile.stop();
        throw e;
      },
    );
  };
}

// The bytes of the wasm file that Pyodide's instantiateWasm hands to the
// first WebAssembly.instantiate: garbage once the module is compiled (V8
// keeps its own copy), but 17 MB resident until a major GC frees them,
// which an idle worker may never run (whether one ran during the boot made
// an idle worker's RSS vary by that much). Caught here to be freed at once.
function catchWasmBytes() {
  const real = WebAssembly.instantiate;
  const caught = { bytes: null, stop: () => void (WebAssembly.instantiate = real) };
  WebAssembly.instantiate = function instantiate(source, imports) {
    caught.stop();
    if (ArrayBuffer.isView(source)) caught.bytes = source;
    return real.call(WebAssembly, source, imports);
  };
  return caught;
}

function broke(e) {
  control.broken ??= e;
  throw e;
}

function wrapImports(imports) {
  const env = imports.env;
  for (const name of ["emscripten_resize_heap", "_dlopen_js", "_emscripten_dlopen_js", "_emscripten_system"]) {
    if (typeof env[name] !== "function") throw new Error(`wasm import env.${name} not found`);
  }
  // The cap covers the heap and what the run's files hold (fsquota.mjs).
  capHeapGrowth(
    env,
    () => (control.heapCap > 0 ? Math.max(1, control.heapCap - control.filesBytes) : 0),
    () => control.heapRefusals++,
  );
  // Applying a session image grows the heap to the session's size (capped too).
  control.resizeHeap = (bytes) => env.emscripten_resize_heap(bytes);
  // After boot no new code enters the process: dlopen of a side module (a
  // .so written by a snippet, ctypes.CDLL, ...) fails.
  const dlopen = env._dlopen_js;
  env._dlopen_js = (handle) => (control.dlopenLocked ? 0 : dlopen(handle));
  const dlopenAsync = env._emscripten_dlopen_js;
  env._emscripten_dlopen_js = (...args) => {
    if (control.dlopenLocked) throw new Error("dynamic loading is disabled in scopebox");
    return dlopenAsync(...args);
  };
  env._emscripten_system = () => -1;
  // Entropy from a pool (entropy.mjs); its writes are marked for the
  // tracked restore through control.markHeap (isolation.mjs).
  const wasi = imports.wasi_snapshot_preview1;
  const randomGet = wasi?.random_get;
  if (typeof randomGet !== "function") throw new Error("wasm import wasi_snapshot_preview1.random_get not found");
  const pooled = pooledRandomGet(() => control.exports.memory, (off, len) => control.markHeap?.(off, len));
  wasi.random_get = (buf, size) => (control.exports ? pooled(buf, size) : randomGet(buf, size));
  if (env.random_get) env.random_get = wasi.random_get;
  // exit(), _exit(), a signal's default action (kill(getpid(), ...),
  // raise()) and abort() end the whole runtime: they end the run instead.
  for (const [mod, name] of [[env, "exit"], [wasi, "proc_exit"]]) {
    const real = mod?.[name];
    if (typeof real !== "function") throw new Error(`wasm import ${name} not found`);
    mod[name] = (status) =>
      control.recover ? broke(new InterpreterBroke("exit", `the interpreter called exit(${status})`, status)) : real(status);
  }
  const abortJs = env._abort_js;
  if (typeof abortJs !== "function") throw new Error("wasm import env._abort_js not found");
  env._abort_js = () => (control.recover ? broke(new InterpreterBroke("abort", "the interpreter called abort()", 134)) : abortJs());
  const dedupNew = env.__hiwire_deduplicate_new;
  if (typeof dedupNew !== "function") throw new Error("wasm import env.__hiwire_deduplicate_new not found");
  env.__hiwire_deduplicate_new = (...args) => {
    const map = dedupNew(...args);
    control.dedupMaps.push(map);
    return map;
  };
  const pipe = env.__syscall_pipe;
  if (typeof pipe !== "function") throw new Error("wasm import env.__syscall_pipe not found");
  env.__syscall_pipe = (fdPtr) => {
    const rc = pipe(fdPtr);
    if (rc === 0 && control.FS) {
      const fds = new Int32Array(control.exports.memory.buffer, fdPtr >>> 0, 2);
      for (const fd of fds) {
        const s = control.FS.streams[fd];
        if (s) s.path = `pipe[${control.pipes}]`; // what readlink of /proc/self/fd/N shows
        control.pipes++;
      }
    }
    return rc;
  };
  // Once the file system is locked (isolation.mjs), modes cannot change:
  // read-only stays read-only.
  const EPERM = 63; // Emscripten's errno numbering
  for (const name of ["__syscall_chmod", "__syscall_fchmod", "__syscall_fchmodat2"]) {
    const real = env[name];
    if (typeof real !== "function") throw new Error(`wasm import env.${name} not found`);
    env[name] = (...args) => (control.fsLocked ? -EPERM : real(...args));
  }
  return imports;
}

// ---- after boot -------------------------------------------------------------

// Built-in modules that hand Python raw memory or native code: removed from
// the interpreter's table of built-ins, so that no import path (importlib,
// _imp.create_builtin, ...) can create them.
export const REMOVED_BUILTINS = [
  "_ctypes", "_testcapi", "_testinternalcapi", "_testlimitedcapi", "_testbuffer",
  "_testclinic", "_testclinic_limited", "_xxtestfuzz", "_remote_debugging",
];

const PY_LOCKDOWN = String.raw`
def _scopebox_lockdown(removed, sleep_ms, js_stub, pyodide_js_stub):
    import gc, sys, time
    import _pyodide._importhook as importhook

    for name in list(sys.modules):
        if name == "js" or name.startswith("js.") or name.startswith("pyodide_js") \
                or name in removed or name in ("ctypes", "ctypes.util", "ctypes._endian"):
            del sys.modules[name]
    importhook.jsfinder.jsproxies.clear()
    importhook.jsfinder.register_js_module("js", js_stub)
    importhook.jsfinder.register_js_module("pyodide_js", pyodide_js_stub)
    sys.path_importer_cache.clear()

    # asyncio: the run's own loops (scopebox_worker/aio.py), never Pyodide's
    # WebLoop, which schedules on JS timers that would fire after the run.
    # Its module keeps the real scheduler it imported at start-up: gone.
    import pyodide.webloop as webloop
    def no_js_scheduling(*args, **kwargs):
        raise RuntimeError("not available in scopebox: WebLoop schedules on JS timers; "
                           "use asyncio.run() or top-level await (the run's own event loop)")
    webloop.scheduleCallback = no_js_scheduling

    # os._exit() ends the run, not the worker: it raises SystemExit (the
    # answer then says which exit code). Other ways to end the process
    # (abort, signals, C-level exit) are caught below Python (wrapImports).
    import os, posix, operator
    def _exit(status):
        raise SystemExit(operator.index(status))
    _exit.__module__ = "posix"
    os._exit = posix._exit = _exit

    # Emscripten's default environment names the script that made the
    # heap ("_": a host path); nothing in it is the snippet's business.
    import os
    for key in ("_",):
        os.environ.pop(key, None)
        os.unsetenv(key)

    def removed_capability(*args, **kwargs):
        raise RuntimeError("not available in scopebox: no JavaScript access from Python")

    import pyodide.code, pyodide.ffi
    pyodide.code.run_js = removed_capability
    for mod in (pyodide.ffi,):
        for attr in ("register_js_module", "unregister_js_module"):
            if hasattr(mod, attr):
                setattr(mod, attr, removed_capability)
    try:
        import pyodide._run_js as run_js_module
        run_js_module.run_js = removed_capability
    except ImportError:
        pass

    # time.sleep: Pyodide's busy-waits and cannot be interrupted; this one
    # blocks on the interrupt buffer, so a timeout wakes it at once.
    def sleep(secs, /):
        if isinstance(secs, bool) or not isinstance(secs, (int, float)):
            if not hasattr(type(secs), "__float__"):
                raise TypeError(f"'{type(secs).__name__}' object cannot be interpreted as an integer or float")
        secs = float(secs)
        if secs != secs:
            raise ValueError("Invalid value NaN (not a number)")
        if secs < 0:
            raise ValueError("sleep length must be non-negative")
        deadline = time.monotonic() + secs
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if sleep_ms(min(left, 3600.0) * 1000.0):
                # Woken by an interrupt: let the eval loop raise it.
                for _ in range(1000):
                    pass
    sleep.__name__ = sleep.__qualname__ = "sleep"
    sleep.__module__ = "time"
    time.sleep = sleep
    # The first call from Python into a JS callable makes Pyodide set up its
    # call path lazily, with state in the heap that names JS-side state. Made
    # during a session's run, the session's image named it on a worker that
    # lacked it, and the first time.sleep there broke the interpreter
    # ("table index is out of bounds"). Made here, before the pristine
    # capture, every worker has it (tests/e2e/test_images.py).
    sleep_ms(0.0)
    wl = sys.modules.get("pyodide.webloop")
    if wl is not None:
        wl._orig_sleep = sleep
    gc.collect()
`;

// Crafted bytecode reads and writes raw wasm memory and calls through the
// function table that holds JS imports. Code objects may come from compile()
// only: an audit hook, installed before the pristine capture (so every run
// starts with it, and none can remove it: CPython has no way to), refuses
// what builds code from anything else: code() / CodeType.replace /
// copy.replace (event code.__new__), marshal data holding code
// (marshal.loads; marshal.load reads a file the hook cannot see, so it is
// refused outright; imports of .pyc files go through marshal.loads, and the
// stdlib ships sources only: the runner's build-time bytecode,
// make-pycache.mjs, is imported before the hook), FunctionType(code, ...) (function.__new__) and
// assigning a function's __code__. pickle / copyreg reductions building code
// end in code.__new__.
const PY_CODE_GUARD = String.raw`
def _scopebox_code_guard(sys, builtins):
    # Every name the two functions use is a parameter or a local: they look
    # up no global (their globals dict is reachable and writable) and hold no
    # closure cell (cell_contents is writable); their defaults are immutable
    # and the hook refuses changes to their __code__ / __defaults__ (the
    # object.__setattr__ event).
    def contains_code(data, at, depth, scan, _len=builtins.len, _abs=builtins.abs,
                      _from=builtins.int.from_bytes,
                      _fixed=tuple({0x30: 0, 0x4E: 0, 0x46: 0, 0x54: 0, 0x53: 0, 0x2E: 0, 0x69: 4,
                                    0x67: 8, 0x79: 16, 0x72: 4}.get(t, -1) for t in range(128)),
                      _sized4=frozenset(b"stuaA"), _sized1=frozenset(b"zZf"),
                      _seq4=frozenset(b"([<>")):
        # One object of marshal's format at offset at: (True if it holds a code
        # object or is not data this parser knows (fail closed), the offset
        # after it).
        end = _len(data)
        if depth > 200 or at >= end:
            return True, at
        t = data[at] & 0x7F
        at += 1
        if t == 0x63:  # 'c': a code object
            return True, at
        n = _fixed[t]
        if n >= 0:
            return at + n > end, at + n
        if t in _sized4:
            at += 4 + _from(data[at:at + 4], "little")
            return at > end, at
        if t in _sized1:
            at += 1 + (data[at] if at < end else end)
            return at > end, at
        if t == 0x6C:  # 'l': a long, as 15-bit digits
            at += 4 + 2 * _abs(_from(data[at:at + 4], "little", signed=True))
            return at > end, at
        if t == 0x78:  # 'x': a complex as two texts
            for _ in (0, 1):
                at += 1 + (data[at] if at < end else end)
            return at > end, at
        if t == 0x29:  # ')': a small tuple
            count, at = (data[at] if at < end else end + 1), at + 1
        elif t in _seq4:  # tuple, list, set, frozenset
            count, at = _from(data[at:at + 4], "little"), at + 4
        elif t == 0x3A:  # ':': a slice
            count = 3
        elif t == 0x7B:  # '{': key/value pairs up to a NULL key
            while True:
                if at >= end:
                    return True, at
                if data[at] & 0x7F == 0x30:
                    return False, at + 1
                for _ in (0, 1):
                    found, at = scan(data, at, depth + 1, scan)
                    if found:
                        return True, at
        else:
            return True, at
        if count > end:
            return True, at
        while count > 0:
            found, at = scan(data, at, depth + 1, scan)
            if found:
                return True, at
            count -= 1
        return False, at

    def hook(event, args, _refused=frozenset({"code.__new__", "function.__new__", "marshal.load"}),
             _watched=frozenset({"code.__new__", "function.__new__", "marshal.load", "marshal.loads",
                                 "object.__setattr__"}),
             _scan=contains_code, _err=builtins.RuntimeError, _id=builtins.id, _bytes=builtins.bytes,
             _own=(), _guarded=frozenset({"__code__", "__defaults__", "__kwdefaults__"})):
        if event not in _watched:
            return
        if event in _refused:
            raise _err(f"not available in scopebox: {event} (code objects come from compile() only)")
        if event == "marshal.loads":
            if _scan(_bytes(args[0]), 0, 0, _scan)[0]:
                raise _err("not available in scopebox: marshal data holding code objects")
            return
        # object.__setattr__(obj, name, value): no function gets foreign code,
        # and the guard's own functions stay as they are.
        if args[1] in _guarded and (args[1] == "__code__" or _id(args[0]) in _own):
            raise _err(f"not available in scopebox: setting {args[1]} of a function")

    d = hook.__defaults__
    hook.__defaults__ = d[:-2] + ((builtins.id(hook), builtins.id(contains_code)),) + d[-1:]
    sys.addaudithook(hook)
`;

// Frozen, null-prototype: nothing to walk to, nothing to write.
function frozenNull(props = {}) {
  const o = Object.create(null);
  for (const [k, v] of Object.entries(props)) o[k] = v;
  return Object.freeze(o);
}

export function emptyGlobals() {
  return frozenNull();
}

// Makes the removed built-ins unfindable. CPython copies PyImport_Inittab
// at start-up, but both tables point at the same name strings: renaming a
// string (first byte -> '!') takes the module out of both, so no import
// path (importlib, _imp.create_builtin, ...) can create it.
function removeBuiltins(M, names) {
  const g = control.exports?.PyImport_Inittab;
  if (!(g instanceof WebAssembly.Global)) throw new Error("PyImport_Inittab not exported");
  const u8 = M.HEAPU8;
  const i32 = new Int32Array(u8.buffer);
  const table = i32[g.value >>> 2];
  const removed = [];
  for (let entry = table >>> 2; ; entry += 2) {
    const namePtr = i32[entry];
    if (namePtr === 0) break;
    const name = M.UTF8ToString(namePtr);
    if (names.includes(name)) {
      u8[namePtr] = 0x21; // "!"
      removed.push(name);
    }
  }
  return removed;
}

// The JS objects that must never be reachable from Python: Pyodide's API
// (whose FS can mount host directories and whose _module holds the raw wasm
// memory), the realm's global object, process.
function hostObjects(py) {
  const M = py._module;
  const set = new Set([py, py._api, M, M.FS, globalThis, process, M.API, M.LDSO, M.wasmMemory]);
  for (const k of ["HEAP8", "HEAPU8", "HEAP16", "HEAPU16", "HEAP32", "HEAPU32", "HEAPF32", "HEAPF64", "HEAP64", "HEAPU64"]) {
    if (M[k]) {
      set.add(M[k]);
      set.add(M[k].buffer);
    }
  }
  for (const v of Object.values(M.FS?.filesystems ?? {})) set.add(v);
  set.delete(undefined);
  return set;
}

// Slots of Pyodide's JS reference table ("hiwire") that still hold a host
// object once Python let go of it are overwritten with a frozen stub: a
// forged or leftover JsProxy then points at nothing.
export function scrubReferenceTable(py) {
  const M = py._module;
  const bad = hostObjects(py);
  const stub = frozenNull();
  const scrubbed = [];
  for (let slot = 0; ; slot++) {
    let v;
    try {
      v = M.__hiwire_get(slot);
    } catch {
      break;
    }
    if (v !== null && (typeof v === "object" || typeof v === "function") && bad.has(v)) {
      if (M.__hiwire_set(slot, stub) < 0) throw new Error(`cannot scrub reference slot ${slot}`);
      scrubbed.push(slot);
    }
  }
  return scrubbed;
}

// Freezes the realm's intrinsics (the objects every JS value Python can hold
// leads to: prototypes, constructors, Error, JSON, ...), so that a snippet
// can neither pollute them for the next request nor hook the engine
// (Error.prepareStackTrace). Data properties of prototypes become accessors
// whose setter defines an own property on the receiver, so that ordinary
// code assigning e.g. `err.name = ...` keeps working (the "override
// mistake" workaround of SES).
export function freezeIntrinsics() {
  const roots = [];
  const names = [
    "Object", "Function", "Array", "Number", "String", "Boolean", "Symbol", "BigInt",
    "Error", "EvalError", "RangeError", "ReferenceError", "SyntaxError", "TypeError", "URIError",
    "AggregateError", "Promise", "RegExp", "Date", "Map", "Set", "WeakMap", "WeakSet", "WeakRef",
    "FinalizationRegistry", "ArrayBuffer", "SharedArrayBuffer", "DataView", "JSON", "Math",
    "Reflect", "Proxy", "Atomics", "Intl", "WebAssembly", "Iterator",
    "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array",
    "Uint32Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array",
    "TextDecoder", "TextEncoder", "URL", "URLSearchParams", "AbortController", "AbortSignal",
    "Event", "EventTarget", "MessageChannel", "MessagePort", "Blob", "DOMException",
    "queueMicrotask", "structuredClone", "atob", "btoa",
  ];
  for (const n of names) if (globalThis[n] !== undefined) roots.push(globalThis[n]);
  // Intrinsics without a global name.
  const proto = Object.getPrototypeOf;
  roots.push(
    proto(function* () {}), proto(async function () {}), proto(async function* () {}),
    proto(Int8Array), proto([][Symbol.iterator]()), proto(new Map()[Symbol.iterator]()),
    proto(new Set()[Symbol.iterator]()), proto(""[Symbol.iterator]()), proto(/x/[Symbol.matchAll]("")),
    proto(proto([][Symbol.iterator]())),
  );
  // No hooks into stack formatting: define them as fixed "undefined".
  for (const hook of ["prepareStackTrace"]) {
    Object.defineProperty(Error, hook, { value: undefined, writable: false, configurable: false });
  }
  // The prototypes on a typed array's chain (see the end of the loop).
  const typedChain = new Set([Object.prototype, Object.getPrototypeOf(Int8Array).prototype]);
  for (const n of names) if (/^(Big)?(Int|Uint|Float)\d+(Clamped)?Array$/.test(n)) typedChain.add(globalThis[n].prototype);
  const seen = new Set();
  const queue = [...roots];
  while (queue.length) {
    const o = queue.pop();
    if (o === null || (typeof o !== "object" && typeof o !== "function") || seen.has(o)) continue;
    seen.add(o);
    if (o === globalThis || o === process) continue;
    const isProto = typeof o === "object" && Object.prototype.hasOwnProperty.call(o, "constructor");
    for (const key of Reflect.ownKeys(o)) {
      const d = Reflect.getOwnPropertyDescriptor(o, key);
      if ("value" in d) {
        queue.push(d.value);
        if (isProto && d.writable && d.configurable) {
          let value = d.value;
          const home = o;
          Object.defineProperty(o, key, {
            get() {
              return value;
            },
            set(v) {
              if (this === home) throw new TypeError(`Cannot assign to read only property '${String(key)}'`);
              Object.defineProperty(this, key, { value: v, writable: true, enumerable: true, configurable: true });
            },
            enumerable: d.enumerable,
            configurable: false,
          });
        }
      } else {
        queue.push(d.get, d.set);
      }
    }
    queue.push(Object.getPrototypeOf(o));
    if (o === Error) {
      // V8 and Node write Error.stackTraceLimit (it must stay a data
      // property): everything else is fixed. isolation.mjs resets it.
      Object.preventExtensions(o);
      for (const key of Reflect.ownKeys(o)) {
        const d = Reflect.getOwnPropertyDescriptor(o, key);
        if (key === "stackTraceLimit") Object.defineProperty(o, key, { configurable: false });
        else if ("value" in d) Object.defineProperty(o, key, { writable: false, configurable: false });
        else Object.defineProperty(o, key, { configurable: false });
      }
      continue;
    }
    if (typedChain.has(o)) {
      // Frozen the long way, with the same result (Object.isFrozen is true):
      // V8 compiles every JS store into a typed array 10-40x slower once a
      // prototype on its chain went through Object.freeze, and the glue,
      // the reset and the dirty marks all write the heap through views.
      Object.preventExtensions(o);
      for (const key of Reflect.ownKeys(o)) {
        const d = Reflect.getOwnPropertyDescriptor(o, key);
        if ("value" in d && d.writable) Object.defineProperty(o, key, { writable: false, configurable: false });
        else if (d.configurable) Object.defineProperty(o, key, { configurable: false });
      }
      continue;
    }
    Object.freeze(o);
  }
  return seen.size;
}

// Everything after boot, in order. Returns a summary for the log.
export function lockInterpreter(py, { sleepMs }) {
  const M = py._module;
  // 1. The one side module is loaded: no more native code.
  control.dlopenLocked = true;
  // 2. Built-ins that give raw memory access.
  const removed = removeBuiltins(M, REMOVED_BUILTINS);
  // 3. Replace the windows to JS: `js` and `pyodide_js` are empty frozen
  //    objects (asyncio runs on the run's own loops, not on JS timers).
  const pyodideJsStub = frozenNull();
  py.runPython(PY_LOCKDOWN);
  const lock = py.globals.get("_scopebox_lockdown");
  const removedList = py.toPy(REMOVED_BUILTINS);
  try {
    lock(removedList, sleepMs, emptyGlobals(), pyodideJsStub);
  } finally {
    lock.destroy();
    removedList.destroy();
  }
  py.runPython("del _scopebox_lockdown");
  py.runPython(PY_CODE_GUARD + "\nimport builtins as _b, sys as _s\n_scopebox_code_guard(_s, _b)\ndel _scopebox_code_guard, _b, _s");
  py.runPython("import gc; gc.collect()");
  // 4. Nothing Python holds may lead to the host objects.
  const scrubbed = scrubReferenceTable(py);
  // 5. What Pyodide would call a fatal error (and make the instance unusable
  //    for good) breaks only the run in flight: see InterpreterBroke.
  const api = py._api;
  api.fatal_error = api.maybe_fatal_error = (e) => {
    if (e instanceof InterpreterBroke) throw e;
    if (e === "unwind") return; // emscripten's normal unwinding, never fatal
    broke(new InterpreterBroke("fault", String(e?.message ?? e)));
  };
  control.recover = true;
  // 6. Intrinsics frozen last: Pyodide and Node set things up above.
  const frozen = freezeIntrinsics();
  return { removed, scrubbed, frozen };
}
