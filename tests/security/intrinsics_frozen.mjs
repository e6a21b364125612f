// The lockdown's intrinsics are frozen (Object.isFrozen) after the worker's
// own boot and lockdown, the prototypes on a typed array's chain included:
// those are frozen property by property rather than by Object.freeze
// (lockdown.mjs freezeIntrinsics says why), and must end up as frozen as
// the rest, with no property left writable or configurable, and no new one
// addable, from strict code as from sloppy.
//   node intrinsics_frozen.mjs <runtimeDir>
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { bootSandboxed } from "../support/sandboxed_boot.mjs";

const runtimeDir = resolve(process.argv[2] ?? "runtime");
const { lockInterpreter } = await import(pathToFileURL(join(runtimeDir, "lockdown.mjs")).href);
const py = await bootSandboxed(runtimeDir);
const ctrl = new Int32Array(new SharedArrayBuffer(8));
lockInterpreter(py, { sleepMs: (ms) => Atomics.wait(ctrl, 0, 0, ms) !== "timed-out" });

const failures = [];
const TypedArray = Object.getPrototypeOf(Int8Array);
const typed = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array,
  Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array];
const objects = {
  "Object.prototype": Object.prototype,
  "%TypedArray%": TypedArray,
  "%TypedArray%.prototype": TypedArray.prototype,
  "Array.prototype": Array.prototype,
  "Function.prototype": Function.prototype,
  "ArrayBuffer.prototype": ArrayBuffer.prototype,
  "DataView.prototype": DataView.prototype,
  JSON, Math, Reflect,
};
for (const c of typed) {
  objects[c.name] = c;
  objects[`${c.name}.prototype`] = c.prototype;
}
for (const [name, o] of Object.entries(objects)) {
  if (!Object.isFrozen(o)) failures.push(`${name} is not frozen`);
  for (const key of Reflect.ownKeys(o)) {
    const d = Reflect.getOwnPropertyDescriptor(o, key);
    if (d.configurable) failures.push(`${name}.${String(key)} is configurable`);
    if (d.writable) failures.push(`${name}.${String(key)} is writable`);
  }
  try {
    o.scopeboxPolluted = 1;
  } catch {}
  if (Object.hasOwn(o, "scopeboxPolluted")) failures.push(`${name} took a new property`);
  const key = Reflect.ownKeys(o).find((k) => {
    const d = Reflect.getOwnPropertyDescriptor(o, k);
    return typeof d.value === "function" || (d.get && d.set && d.get !== d.set); // not %ThrowTypeError%
  });
  if (key !== undefined) {
    const before = o[key];
    try {
      o[key] = () => "hooked";
    } catch {}
    if (o[key] !== before) failures.push(`${name}.${String(key)} was replaced`);
  }
}
// The typed arrays still work, and assigning to a view's own property
// (the override mistake) still lands on the view.
const u = new Uint8Array(8);
u.fill(7);
u.set([1, 2], 6);
if (u.subarray(5).join() !== "7,1,2") failures.push(`typed array methods broke: ${u.join()}`);
u.toString = () => "own";
if (String(u) !== "own" || !Object.hasOwn(u, "toString")) failures.push("assigning a view's own toString failed");

if (failures.length) {
  console.error(failures.slice(0, 20).join("\n"));
  process.exit(1);
}
console.log(`${Object.keys(objects).length} intrinsics frozen, typed arrays working`);
