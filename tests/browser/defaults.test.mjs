// The browser engine's limits (web/src/engines.js) are the server's
// defaults as the server itself states them in --help: a snippet meets the
// same output cap, grace period and heap cap in both engines.
//   SCOPEBOX_SERVER=build/scopebox-server node --test tests/browser/defaults.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { HOST_DEFAULTS } from "../../web/src/engines.js";

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
