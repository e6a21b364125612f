// A scopebox worker process: speaks wasm/runtime/PROTOCOL.md on stdin/stdout
// and runs snippets in a Pyodide interpreter on a worker thread (interp.mjs).
// The interpreter lives off this thread so that this one stays free to read
// the host and to watch the clock while Python runs.
import { Worker } from "node:worker_threads";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { FrameDecoder, ProtocolError, encodeFrame, parseMessage } from "./frames.mjs";

const runtimeDir = dirname(fileURLToPath(import.meta.url));
const EXIT_PROTOCOL = 70;

let inFlight = null; // id of the run the interpreter is busy with
let stdinEnded = false;

function send(payload) {
  process.stdout.write(encodeFrame(payload));
}

function fatal(message) {
  try {
    send(JSON.stringify({ type: "fatal", message }));
  } finally {
    process.exit(EXIT_PROTOCOL);
  }
}

// Keep every byte of interpreter output off stdout, which carries frames.
const interp = new Worker(new URL("./interp.mjs", import.meta.url), {
  workerData: { runtimeDir },
  stdout: true,
  stderr: false,
});
interp.stdout.pipe(process.stderr);

interp.on("message", (msg) => {
  switch (msg.type) {
    case "ready":
      send(JSON.stringify({ ...msg.info, type: "ready", pid: process.pid }));
      break;
    case "result":
      inFlight = null;
      send(msg.json);
      if (stdinEnded) process.exit(0);
      break;
    case "fatal":
      fatal(msg.message);
      break;
  }
});
interp.on("error", (err) => fatal(`interpreter thread failed: ${err?.stack ?? err}`));
interp.on("exit", (code) => fatal(`interpreter thread exited (${code})`));

function onMessage(msg) {
  if (msg.type !== "run" && msg.type !== "inspect") {
    throw new ProtocolError(`unknown message type ${JSON.stringify(msg.type)}`);
  }
  if (!Number.isSafeInteger(msg.id) || msg.id < 0) throw new ProtocolError("run without an unsigned integer id");
  if (inFlight !== null) throw new ProtocolError(`run ${msg.id} sent while run ${inFlight} is in flight`);
  inFlight = msg.id;
}

const decoder = new FrameDecoder();
process.stdin.on("data", (chunk) => {
  try {
    for (const payload of decoder.push(chunk)) {
      onMessage(parseMessage(payload));
      interp.postMessage({ type: "run", payload });
    }
  } catch (e) {
    fatal(e instanceof ProtocolError ? e.message : String(e?.stack ?? e));
  }
});
process.stdin.on("end", () => {
  if (decoder.midFrame) fatal("stdin ended inside a frame");
  stdinEnded = true;
  if (inFlight === null) process.exit(0);
});
