// Length-prefixed JSON frames, as wasm/runtime/PROTOCOL.md describes them.
import { writeSync } from "node:fs";

export const MAX_FRAME = 64 * 1024 * 1024;
const MIN_FRAME = 2;

// `payload`: a string, or its UTF-8 bytes (a Uint8Array).
export function encodeFrame(payload) {
  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  if (body.length < MIN_FRAME || body.length > MAX_FRAME) {
    throw new RangeError(`frame of ${body.length} bytes is outside ${MIN_FRAME}..${MAX_FRAME}`);
  }
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(body.length, 0);
  return Buffer.concat([head, body]);
}

// Writes frames to `fd` whole, synchronously, in one write where the pipe
// takes it (an answer and its `idle` reach the host in one read). Both of
// a worker's threads write frames this way (never through process.stdout),
// so no frame is ever half-written when the other thread writes: the
// interpreter thread writes every frame but the controlling thread's last
// words (`fatal`).
const pause = new Int32Array(new SharedArrayBuffer(4));

export function writeFrameSync(fd, ...payloads) {
  const frame = payloads.length === 1 ? encodeFrame(payloads[0]) : Buffer.concat(payloads.map(encodeFrame));
  for (let off = 0; off < frame.length; ) {
    try {
      off += writeSync(fd, frame, off, frame.length - off);
    } catch (e) {
      if (e?.code !== "EAGAIN") throw e;
      // A non-blocking pipe the host has not drained yet: wait a little.
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

export class ProtocolError extends Error {}

// Feed it chunks as they arrive; it returns the complete payloads: strings,
// or with `{ bytes: true }` their bytes (Buffers, which parseMessage takes).
export class FrameDecoder {
  #chunks = [];
  #buffered = 0;
  #bytes;

  constructor({ bytes = false } = {}) {
    this.#bytes = bytes;
  }

  push(chunk) {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const out = [];
    for (;;) {
      if (this.#buffered < 4) break;
      const buf = this.#flatten();
      const len = buf.readUInt32BE(0);
      if (len < MIN_FRAME || len > MAX_FRAME) {
        throw new ProtocolError(`frame length ${len} is outside ${MIN_FRAME}..${MAX_FRAME}`);
      }
      if (buf.length < 4 + len) break;
      out.push(this.#bytes ? buf.subarray(4, 4 + len) : buf.toString("utf8", 4, 4 + len));
      this.#chunks = buf.length > 4 + len ? [buf.subarray(4 + len)] : [];
      this.#buffered = buf.length - 4 - len;
    }
    return out;
  }

  // True when bytes of an unfinished frame are held: EOF now is an error.
  get midFrame() {
    return this.#buffered > 0;
  }

  #flatten() {
    if (this.#chunks.length > 1) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0];
  }
}

// Strict: a payload as bytes must be UTF-8 (PROTOCOL.md, "Framing"); its
// bytes go on to Python as they are (run frames, interp.mjs).
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// Parses one payload (a string, or its bytes) into a message object, or
// throws ProtocolError.
export function parseMessage(payload) {
  let msg;
  try {
    msg = JSON.parse(typeof payload === "string" ? payload : utf8.decode(payload));
  } catch (e) {
    throw new ProtocolError(`payload is not ${e instanceof TypeError ? "UTF-8" : "JSON"}: ${e.message}`);
  }
  if (msg === null || typeof msg !== "object" || Array.isArray(msg) || typeof msg.type !== "string") {
    throw new ProtocolError("payload is not a JSON object with a string `type`");
  }
  return msg;
}

// A run or inspect frame's payload handed to the Python runner, and its
// answer back, both as UTF-8 bytes (scopebox_worker/runner.py, run_frame):
// strings would be converted one character at a time. Only the glue writes
// the heap here (the request's copy, its pages marked); the answer is read
// out with a copy (to_js), never a view of the heap (a view would be an
// escape: wasm/dirty/README.md). `runner` is the scopebox_worker module; the
// returned function takes a Uint8Array (or Buffer) and gives a Uint8Array.
export function frameRunner(runner) {
  const runFrame = runner.run_frame;
  runner.warm_frame(asArray(Buffer.from("{}")));
  return (payload) => runFrame(asArray(payload));
}

// Pyodide takes typed arrays, not their subclasses (Buffer).
const asArray = (b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

// A few requests of the shapes runs take (stateless, a session's creation
// with a scope and its runs), through the runner as the host's frames go,
// before the pristine capture: CPython specialises the bytecode it runs
// (the runner's own, here) and fills its caches as it goes, and done only
// during a session's runs, those writes were in every page of its image
// that differs from pristine (a trivial session's image went from 460
// pages to 315, and a stateless run's reset from 500 grains to 400). What
// they leave is the same on every worker (no clock, no random draw: the
// fingerprint still matches), and the runner forgets the session they made.
// `runFrame`: frameRunner's function; `runner`: the scopebox_worker module.
// interp.mjs calls it after the lockdown; tests/bench/sessions too.
const WARM_RUNS = [
  { type: "run", id: 0, code: "x = 1", mode: "exec" },
  { type: "inspect", id: 0, scope: { n: 0 }, persist: true },
  { type: "run", id: 0, code: "n += 1", mode: "exec", persist: true },
].map((frame) => Buffer.from(JSON.stringify(frame)));
export function warmRuns(runFrame, runner) {
  for (let i = 0; i < 10; i++) for (const frame of WARM_RUNS) runFrame(frame);
  runner.forget_session();
}
