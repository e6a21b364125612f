// Bundles the playground with esbuild (pinned in package.json):
//   node web/build.mjs <outdir> <limits.json>
// writes <outdir>/app.js (the page: CodeMirror and the UI) and
// <outdir>/engine.js (the browser engine's Web Worker) and <outdir>/embed.js
// (embed.html: one snippet, for other sites' iframes), with source maps.
// Pyodide is not bundled: the worker imports it at run time from
// <outdir>/pyodide/, which web/CMakeLists.txt fills from node_modules.
// <limits.json> (server/gen_limits.py's, in the runtime directory) becomes
// globalThis.SCOPEBOX_LIMITS in the bundles: the browser engine's limits
// are the server's defaults without a copy of their numbers.
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const [outdir, limitsFile] = process.argv.slice(2);
if (!outdir || !limitsFile) {
  console.error("usage: node web/build.mjs <outdir> <limits.json>");
  process.exit(2);
}
const limits = JSON.parse(readFileSync(limitsFile, "utf8"));

const common = {
  bundle: true,
  format: "esm",
  // Module workers, SharedArrayBuffer + Atomics, import.meta: every current browser.
  target: ["chrome111", "firefox115", "safari16.4"],
  minify: true,
  sourcemap: "linked",
  legalComments: "eof",
  logLevel: "warning",
  metafile: true,
  absWorkingDir: here,
  define: { "globalThis.SCOPEBOX_LIMITS": JSON.stringify(limits) },
};

const results = await Promise.all([
  build({ ...common, entryPoints: [join(here, "app.js")], outfile: join(outdir, "app.js") }),
  build({ ...common, entryPoints: [join(here, "src/engine-worker.js")], outfile: join(outdir, "engine.js") }),
  build({ ...common, entryPoints: [join(here, "embed.js")], outfile: join(outdir, "embed.js") }),
]);
for (const r of results) {
  for (const [file, info] of Object.entries(r.metafile.outputs)) {
    if (!file.endsWith(".map")) console.log(`web: ${relative(process.cwd(), join(here, file))} ${info.bytes} bytes`);
  }
}
