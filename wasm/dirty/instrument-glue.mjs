// Build step: rewrites Pyodide's Emscripten glue (pyodide.asm.mjs) so that
// every write it makes into the wasm heap also marks the grains (4 KiB,
// instrument.c's GRAIN_SHIFT) it writes in the dirty map (instrument.c does
// the same for the wasm code; isolation.mjs restores only marked grains). Runs with the build's node:
//   node instrument-glue.mjs in.mjs out.mjs [--report]
//
// The glue reaches the heap only through its views (HEAP8 ... HEAPU64, the
// module-level variables and the same views as Module.HEAPx / Module["HEAPx"]
// / e.HEAPx) and the memory object (wasmMemory). Every reference to one is
// classified from the syntax tree (acorn), none is left out:
// - view[i] read: nothing to do.
// - view[i] = v, view[i] op= v, view[i]++: the index goes through
//   __dirtyI(i, bytes), which marks the element's grain (an element never
//   crosses a grain: a grain is a multiple of its size) and returns i; evaluated
//   once, before v, as before.
// - view.set / .fill / .copyWithin / .subarray: through helpers taking the same
//   operands in the same order that mark the range written (for subarray:
//   the whole range, since the caller may write through it, e.g.
//   getRandomValues, TextEncoder.encodeInto), then do the operation.
// - .length, .slice, .indexOf, .BYTES_PER_ELEMENT, `.buffer === x`: reads.
// - a view handed to one of the audited functions below: marked as that
//   function writes (stringToUTF8Array(str, heap, out, max): [out, out+max);
//   FS.read(stream, heap, ptr, len, pos): [ptr, ptr+len)), or nothing for the
//   readers (UTF8ArrayToString, findStringEnd, FS.write, which copies and
//   never keeps a view of the heap).
// - anything else (a view or the memory's buffer stored, returned, passed to
//   another function; all WebGL, SDL and socket paths): wrapped in
//   __dirtyEsc(x), which sets the "whole heap" flag: the next restore is the
//   full one. Sound whatever that code then writes.
// The memory object itself: its uses are listed (ALLOWED_MEMORY) and any
// other makes the build fail, as does any shape of the glue this does not
// recognise (e.g. a Pyodide upgrade): never a silent pass.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(process.env.SCOPEBOX_NODE_MODULES ?? join(here, "..", "..", "node_modules"), "x.js"));
const acorn = require("acorn");

const [input, output, report] = process.argv.slice(2);
if (!input || !output) {
  console.error("usage: node instrument-glue.mjs in.mjs out.mjs");
  process.exit(2);
}
const src = readFileSync(input, "utf8");
const ast = acorn.parse(src, { ecmaVersion: "latest", sourceType: "module" });

const VIEW = /^HEAP(8|U8|16|U16|32|U32|F32|F64|64|U64)$/;
const BYTES = { 8: 1, U8: 1, 16: 2, U16: 2, 32: 4, U32: 4, F32: 4, F64: 8, 64: 8, U64: 8 };
const bytesOf = (name) => BYTES[name.slice(4)];
const READ_METHODS = new Set(["length", "slice", "indexOf", "BYTES_PER_ELEMENT"]);
const READERS = new Set(["UTF8ArrayToString", "findStringEnd", "FS.write"]);
// (callee, view argument index) -> [offset argument, length argument]
const WRITERS = { stringToUTF8Array: [1, 2, 3], "FS.read": [1, 2, 3] };
// Where the glue may touch the memory object: [enclosing function, use].
const ALLOWED_MEMORY = [
  "updateMemoryViews:.buffer", // makes the views
  "growMemory:.buffer.byteLength", // size only
  "growMemory:.grow", // new pages are zero
  "assignWasmExports:assign", // the export stored once
];

const edits = []; // [at, text] insertions, or [start, end, text] replacements
const insert = (at, text) => edits.push([at, at, text]);
const wrap = (node, before, after) => {
  insert(node.start, before);
  insert(node.end, after);
};
const problems = [];
const stats = { index: 0, method: 0, audited: 0, escaped: 0, read: 0 };
const escapes = new Set(); // functions with an escape (`--report` lists them)

function calleeName(c) {
  if (c.type === "Identifier") return c.name;
  if (c.type === "MemberExpression" && !c.computed && c.object.type === "Identifier") return `${c.object.name}.${c.property.name}`;
  return null;
}
function viewName(n) {
  if (n.type === "Identifier" && VIEW.test(n.name)) return n.name;
  if (n.type === "MemberExpression") {
    if (!n.computed && n.property.type === "Identifier" && VIEW.test(n.property.name)) return n.property.name;
    if (n.computed && n.property.type === "Literal" && VIEW.test(String(n.property.value))) return n.property.value;
  }
  return null;
}
const simple = (n) => n && (n.type === "Identifier" || n.type === "Literal");

// `node` is a view reference; `up` its ancestors (nearest last) with the key.
function classify(node, name, up, fn) {
  const [parent, key] = up[up.length - 1];
  if (parent.type === "VariableDeclarator" && key === "id") return; // var HEAP8
  if (parent.type === "AssignmentExpression" && key === "left") {
    if (fn === "updateMemoryViews") return; // the views are made
    problems.push(`assignment to ${name} in ${fn}`);
    return;
  }
  if (parent.type === "MemberExpression" && key === "object") {
    if (parent.computed) {
      const [gp, gkey] = up[up.length - 2];
      const written = (gp.type === "AssignmentExpression" && gkey === "left") || gp.type === "UpdateExpression";
      if (written) {
        wrap(parent.property, "__dirtyI(", `,${bytesOf(name)})`);
        stats.index++;
      } else stats.read++;
      return;
    }
    const prop = parent.property.name;
    const [gp, gkey] = up[up.length - 2];
    if (["set", "fill", "copyWithin", "subarray"].includes(prop) && gp.type === "CallExpression" && gkey === "callee") {
      // view.m(args) -> __dirtyM(view, args)
      const helper = { set: "__dirtySet", fill: "__dirtyFill", copyWithin: "__dirtyCopy", subarray: "__dirtySub" }[prop];
      edits.push([gp.start, node.start, `${helper}(`]);
      edits.push([node.end, gp.callee.end + 1, gp.arguments.length ? "," : ""]);
      stats.method++;
      return;
    }
    if (READ_METHODS.has(prop)) {
      stats.read++;
      return;
    }
    if (prop === "buffer" && gp.type === "BinaryExpression" && ["===", "!=="].includes(gp.operator)) {
      stats.read++;
      return;
    }
  }
  if (parent.type === "CallExpression" && key === "arguments") {
    const callee = calleeName(parent.callee);
    const at = parent.arguments.indexOf(node);
    if (READERS.has(callee)) {
      stats.read++;
      return;
    }
    const w = WRITERS[callee];
    if (w && w[0] === at && simple(parent.arguments[w[1]]) && simple(parent.arguments[w[2]])) {
      const off = src.slice(parent.arguments[w[1]].start, parent.arguments[w[1]].end);
      const len = src.slice(parent.arguments[w[2]].start, parent.arguments[w[2]].end);
      wrap(node, "__dirtyArg(", `,${off},${len})`);
      stats.audited++;
      return;
    }
  }
  wrap(node, "__dirtyEsc(", ")");
  stats.escaped++;
  escapes.add(fn);
}

function classifyMemory(node, up, fn, fnNode) {
  const [parent, key] = up[up.length - 1];
  let use = "other";
  if (parent.type === "MemberExpression" && key === "object" && !parent.computed) {
    use = "." + parent.property.name;
    const [gp] = up[up.length - 2];
    if (use === ".buffer" && gp.type === "MemberExpression" && !gp.computed) use += "." + gp.property.name;
  } else if (parent.type === "AssignmentExpression" && key === "left") use = "assign";
  else if (parent.type === "VariableDeclarator" && key === "id") return;
  else if (parent.type === "Property" && key === "value") use = "property"; // trampoline imports, see below
  if (ALLOWED_MEMORY.includes(`${fn}:${use}`)) return;
  if (use === "property" && fn === "getPyEMTrampolinePtr" && fnNode.body.type === "BlockStatement") {
    // Pyodide's call trampoline, a wasm module of its own that stores into
    // the heap with code nobody instrumented: never made (its caller then
    // calls through JS, as it does anyway where wasm GC is missing, Node 20).
    insert(fnNode.body.start + 1, "return 0;");
    stats.escaped++;
    return;
  }
  problems.push(`wasmMemory used as ${use} in ${fn} at ${node.start}`);
}

function fnName(n, parent) {
  if (n.id?.name) return n.id.name;
  if (parent?.type === "VariableDeclarator" && parent.id.type === "Identifier") return parent.id.name;
  if (parent?.type === "Property" || parent?.type === "MethodDefinition") return parent.key.name ?? parent.key.value;
  if (parent?.type === "AssignmentExpression") return src.slice(parent.left.start, parent.left.end);
  return "?";
}

let moduleDecl = null;
function walk(n, up, fn, fnNode) {
  if (!n || typeof n.type !== "string") return;
  const parent = up.length ? up[up.length - 1][0] : null;
  if (n.type.startsWith("Function") || n.type === "ArrowFunctionExpression") {
    fn = fnName(n, parent);
    fnNode = n;
  }
  if (n.type === "VariableDeclarator" && n.id.name === "Module" && !moduleDecl) moduleDecl = up[up.length - 1][0];
  const view = viewName(n);
  if (view && up.length) {
    classify(n, view, up, fn);
    if (n.type === "MemberExpression") {
      walk(n.object, [...up, [n, "object"]], fn, fnNode);
      return;
    }
    return;
  }
  if (n.type === "Identifier" && n.name === "wasmMemory" && up.length) {
    const [p, k] = up[up.length - 1];
    if (!(p.type === "MemberExpression" && k === "property" && !p.computed)) classifyMemory(n, up, fn, fnNode);
    return;
  }
  for (const k of Object.keys(n)) {
    const v = n[k];
    if (Array.isArray(v)) v.forEach((c) => walk(c, up.concat([[n, k]]), fn, fnNode));
    else if (v && typeof v.type === "string") walk(v, up.concat([[n, k]]), fn, fnNode);
  }
}
walk(ast, [], "top", null);

if (!moduleDecl) problems.push("no `var Module=` found");
if (problems.length) {
  console.error("instrument-glue: cannot vouch for these writers:\n  " + problems.join("\n  "));
  process.exit(1);
}

const HELPERS = readFileSync(join(here, "glue-helpers.js"), "utf8").replace(/^\/\/.*\n/gm, "");
insert(moduleDecl.end, HELPERS.replace(/\n\s*/g, " "));

edits.sort((a, b) => b[0] - a[0] || b[1] - a[1]);
let out = src;
let last = Infinity;
for (const [s, e, text] of edits) {
  if (e > last) throw new Error(`overlapping edits at ${s}`);
  out = out.slice(0, s) + text + out.slice(e);
  last = s;
}
writeFileSync(output, out);
if (report === "--report") console.log(`escapes to the full restore, by function: ${[...escapes].sort().join(", ")}`);
console.log(`instrument-glue: ${output}: ${stats.index} indexed writes, ${stats.method} view methods, ${stats.audited} audited calls marked, ${stats.escaped} escapes to the full restore, ${stats.read} reads`);
