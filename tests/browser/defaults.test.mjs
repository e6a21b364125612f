// The browser engine's limits (web/src/engines.js) are the server's
// defaults as the server itself states them in --help: a snippet meets the
// same output cap, grace period and heap cap in both engines. engines.js
// gets them as web/build.mjs gives them to the bundle, from the runtime
// directory's limits.json (server/openapi.yaml's x-scopebox-limits).
//   SCOPEBOX_SERVER=build/scopebox-server SCOPEBOX_RUNTIME_DIR=build/runtime \
//     node --test tests/browser/defaults.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const runtimeDir = process.env.SCOPEBOX_RUNTIME_DIR;
assert.ok(runtimeDir, "SCOPEBOX_RUNTIME_DIR is not set (the build's runtime directory)");
const limitsJson = readFileSync(join(runtimeDir, "limits.json"), "utf8");
globalThis.SCOPEBOX_LIMITS = JSON.parse(limitsJson);
const { HOST_DEFAULTS } = await import("../../web/src/engines.js");

function serverDefault(flag) {
  const binary = process.env.SCOPEBOX_SERVER;
  assert.ok(binary, "SCOPEBOX_SERVER is not set (the scopebox-server binary)");
  const help = execFileSync(binary, ["--help"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const line = help.split("\n").find((l) => l.includes(`--${flag} `));
  assert.ok(line, `--help names --${flag}`);
  const m = /\(default (\d+)\)/.exec(line);
  assert.ok(m, `--help states the default of --${flag}: ${line}`);
  return Number(m[1]);
}

test("the browser engine's output cap is the server's default --output-cap-bytes", () => {
  assert.equal(HOST_DEFAULTS.outputCapBytes, serverDefault("output-cap-bytes"));
});

test("the browser engine's grace period is the server's default --timeout-grace-ms", () => {
  assert.equal(HOST_DEFAULTS.timeoutGraceMs, serverDefault("timeout-grace-ms"));
});

test("the browser engine's heap cap is the server's default --worker-heap-mb", () => {
  assert.equal(HOST_DEFAULTS.heapCapBytes, serverDefault("worker-heap-mb") * 1024 * 1024);
});

test("the bundles carry the limits web/build.mjs was given, not numbers of their own", () => {
  // esbuild prints the defined object in its own spacing: compare values.
  const webDir = join(runtimeDir, "..", "web");
  const bundle = readFileSync(join(webDir, "app.js"), "utf8");
  for (const [flag, spec] of Object.entries(JSON.parse(limitsJson))) {
    // Minified: 3600000 may print as 36e5.
    const m = new RegExp(`"${flag}":\\{default:([0-9.e+]+),`).exec(bundle);
    assert.ok(m, `app.js carries ${flag}`);
    assert.equal(Number(m[1]), spec.default, flag);
  }
});
