// Starts a real scopebox-server on a free loopback port (--port 0) and
// reads its address from the "ready on" line, like tests/support/scopebox_server.py.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

// The keys the keyed suites' servers accept (--api-keys-file), two callers
// whose runs and sessions must stay apart; the same as
// tests/support/scopebox_server.py's.
export const ALICE = "alice-0123456789abcdef0123456789";
export const BOB = "bob-fedcba9876543210fedcba987654";
export const KEYS = `alice ${ALICE}\nbob ${BOB}\n`;

const READY = /scopebox: ready on (http:\/\/\S+) \((\d+) workers\)/;

export async function startServer({ binary = process.env.SCOPEBOX_SERVER, args = [], readyTimeoutMs = 120000 } = {}) {
  if (!binary) throw new Error("SCOPEBOX_SERVER is not set (the scopebox-server binary)");
  // SCOPEBOX_TEST_WEB_DIR: serve another build of the page (e.g. an older
  // commit's, to see a new test fail on it).
  const web = process.env.SCOPEBOX_TEST_WEB_DIR ? ["--web-dir", process.env.SCOPEBOX_TEST_WEB_DIR] : [];
  const proc = spawn(binary, ["--port", "0", "--host", "127.0.0.1", ...web, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  const log = [];
  const lines = createInterface({ input: proc.stderr });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server not ready in time; log:\n${log.join("\n")}`)), readyTimeoutMs);
    lines.on("line", (line) => {
      log.push(line);
      if (log.length > 400) log.shift();
      const m = READY.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before ready; log:\n${log.join("\n")}`));
    });
  });
  return {
    url,
    log: () => log.join("\n"),
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 20000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// A server that wants a bearer key on every route but /healthz and /:
// `keys` (a keys file's text, ALICE's and BOB's by default) goes to a
// temporary file passed as --api-keys-file.
export async function startKeyedServer({ keys = KEYS, args = ["--workers", "1"], ...rest } = {}) {
  const path = join(mkdtempSync(join(tmpdir(), "scopebox-keys-")), "api-keys");
  writeFileSync(path, keys);
  return startServer({ ...rest, args: [...args, "--api-keys-file", path] });
}
