// Runs the browser suite under node's test runner with the spec reporter,
// and ends with "N passed, N failed" like the other suites.
//   node tests/browser/run.mjs [test files...]   (default: playground.test.mjs, extras.test.mjs)
import { run } from "node:test";
import { spec } from "node:test/reporters";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const files = process.argv.length > 2 ? process.argv.slice(2).map((f) => resolve(f))
  : [join(here, "playground.test.mjs"), join(here, "extras.test.mjs")];

let passed = 0, failed = 0;
const stream = run({ files, concurrency: 1 });
stream.on("test:pass", (e) => {
  if (e.nesting === 0 && !e.skip && !e.todo) passed++;
});
stream.on("test:fail", (e) => {
  if (e.nesting === 0) failed++;
});
stream.compose(new spec()).pipe(process.stdout);
stream.on("end", () => {
  // After the reporter's own summary.
  setImmediate(() => {
    console.log(`${passed} passed, ${failed} failed`);
    process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
  });
});
