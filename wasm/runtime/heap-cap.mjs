// The wasm heap cap, one mechanism for both places Python runs: the server's
// workers (lockdown.mjs) and the playground's browser engine
// (web/src/engine-worker.js). Pure ES: no Node or browser API.
//
// Growing the heap past the cap fails like an out-of-memory malloc: Python
// raises MemoryError and the interpreter stays usable. (The heap never
// shrinks; Emscripten may over-grow by up to 20% below the cap.)
// `cap()` is read at each growth so that the owner may change it; a cap of
// 0 means none. `onRefusal` counts refusals.
export function capHeapGrowth(env, cap, onRefusal = () => {}) {
  const resize = env.emscripten_resize_heap;
  if (typeof resize !== "function") throw new Error("wasm import env.emscripten_resize_heap not found");
  env.emscripten_resize_heap = (requested) => {
    const limit = cap();
    if (limit > 0 && requested >>> 0 > limit) {
      onRefusal();
      return 0;
    }
    return resize(requested);
  };
}

// For loadPyodide's `createPyodideModule` option: wraps Pyodide's own
// instantiateWasm so that `wrap(imports)` sees the wasm imports before the
// instance is made, and `onInstance(instance)` sees it after.
export function hookImports(createPyodideModule, wrap, onInstance = () => {}) {
  return (settings) => {
    const instantiate = settings.instantiateWasm;
    if (typeof instantiate !== "function") {
      throw new Error("Pyodide did not offer instantiateWasm: cannot wrap the wasm imports");
    }
    settings.instantiateWasm = (imports, done) =>
      instantiate(wrap(imports), (instance, module) => {
        onInstance(instance);
        done(instance, module);
        // Pyodide's instantiateWasm keeps the wasm file's bytes (9.6 MB)
        // alive for good; the compiled module does not need them.
        delete settings.instantiateWasm;
      });
    return createPyodideModule(settings);
  };
}
