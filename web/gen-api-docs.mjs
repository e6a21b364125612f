// Writes the docs panel's data (api-docs.json) at build time, from the
// dynscope module itself so that the panel never drifts from it:
//   node web/gen-api-docs.mjs <out.json> <runtime dir> <docs/dynamic-scope.md>
// The runtime dir is the workers' (build/runtime: Pyodide, dynscope.abi3.so,
// the runner). For each public name of dynscope (dir() without "_" names):
// its kind, its signature and its text from its docstring, and an example
// from web/api-examples.js run through the runner, as the playground runs
// a snippet, with what it printed. The build fails when a public name has
// no example, an example names no public name, or an example fails.
// "What is dynamic scope" is docs/dynamic-scope.md's "The model" section.
import { readFileSync, writeFileSync } from "node:fs";
import { bootPython } from "../wasm/runtime/boot.mjs";
import { API_EXAMPLES } from "./api-examples.js";

const [out, runtimeDir, modelDoc] = process.argv.slice(2);
if (!out || !runtimeDir || !modelDoc) {
  console.error("usage: node web/gen-api-docs.mjs <out.json> <runtime dir> <docs/dynamic-scope.md>");
  process.exit(2);
}

function modelSection(md) {
  const m = /^## The model\n([\s\S]*?)(?=^## )/m.exec(md);
  if (!m) throw new Error(`${modelDoc}: no "## The model" section`);
  return m[1].trim();
}

// "name(args)\n\ntext" (CPython's convention for C functions), "name(args): text",
// or plain text (a class's docstring).
function splitDoc(name, doc) {
  doc = (doc ?? "").trim();
  const sig = /^(\w+)(\([^\n]*?\))(?:\n\n|: )/.exec(doc);
  // An instance (dynscope.dynamic) has its class's docstring: no signature of its own.
  const signature = sig && sig[1] === name ? sig[1] + sig[2] : null;
  const text = (sig ? doc.slice(sig[0].length) : doc).replace(/\s*\n\s*/g, " ").trim();
  const first = /^[\s\S]*?[.!?](?=\s|$)/.exec(text);
  const own = !sig || signature ? "" : `An instance of ${sig[1]}: `;
  return { signature, line: own + (first ? first[0] : text), text: own + text };
}

const py = await bootPython({ runtimeDir, snapshot: true });
py.pyimport("scopebox_worker").install();
const runJson = py.pyimport("scopebox_worker").run_json;
const info = JSON.parse(py.runPython(`
import dynscope, json, types
names = sorted(n for n in dir(dynscope) if not n.startswith("_"))
def kind(v):
    if isinstance(v, types.ModuleType): return "module"
    if isinstance(v, type): return "class"
    if callable(v) and not isinstance(v, dynscope.Namespace): return "function"
    return type(v).__name__
json.dumps({"version": dynscope.__version__,
            "names": [{"name": n, "kind": kind(getattr(dynscope, n)),
                       "doc": getattr(dynscope, n).__doc__} for n in names]})
`));

const problems = [];
const publicNames = new Set(info.names.map((n) => n.name));
for (const name of Object.keys(API_EXAMPLES)) {
  if (!publicNames.has(name)) problems.push(`web/api-examples.js: ${name} is not a public name of dynscope`);
}
const entries = info.names.map(({ name, kind, doc }) => {
  const example = API_EXAMPLES[name];
  if (!example) {
    problems.push(`web/api-examples.js: no example for dynscope.${name}`);
    return null;
  }
  const answer = JSON.parse(runJson(JSON.stringify({
    type: "run", id: 0, code: example, mode: "exec", scope: {}, dynamic: {}, return: "data", output_cap: 65536, persist: false,
  })));
  if (!answer.ok) {
    problems.push(`dynscope.${name}'s example failed: ${JSON.stringify(answer.error)}`);
    return null;
  }
  return { name, kind, ...splitDoc(name, doc), example, output: answer.stdout ?? "" };
});
if (problems.length) {
  for (const p of problems) console.error(`gen-api-docs: ${p}`);
  process.exit(1);
}

writeFileSync(out, JSON.stringify({
  module: "dynscope",
  version: info.version,
  model: modelSection(readFileSync(modelDoc, "utf8")),
  source: "docs/dynamic-scope.md",
  names: entries,
}, null, 1) + "\n");
console.log(`web: ${out}: ${entries.length} names of dynscope ${info.version}`);
process.exit(0);
