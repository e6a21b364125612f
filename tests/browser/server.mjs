// Starts a real scopebox-server on a free loopback port (--port 0) and
// reads its address from the "ready on" line, like tests/support/scopebox_server.py.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

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
