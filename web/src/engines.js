// The two engines behind the playground's switch. Both answer with the
// HTTP API's shapes (server/openapi.yaml): { status, body } where body is a
// RunResult, a Session, or a Failure { ok: false, error: { code, message } }.
import { Client } from "../../clients/js/scopebox.mjs";
import { parseAnswer } from "./values.js";

// The browser engine's limits are the server's defaults, so that a snippet
// meets the same limits in both. They are not written here: web/build.mjs
// puts server/openapi.yaml's limits in as globalThis.SCOPEBOX_LIMITS
// (tests/browser/defaults.test.mjs compares them with scopebox-server --help).
const LIMITS = globalThis.SCOPEBOX_LIMITS;
if (!LIMITS) throw new Error("engines.js: SCOPEBOX_LIMITS is not set (web/build.mjs puts it in)");
export const HOST_DEFAULTS = Object.freeze({
  outputCapBytes: LIMITS["output-cap-bytes"].default,
  timeoutGraceMs: LIMITS["timeout-grace-ms"].default, // past the limit, before the worker is ended
  heapCapBytes: LIMITS["worker-heap-mb"].default * 1024 * 1024,
});
const { outputCapBytes: OUTPUT_CAP, timeoutGraceMs: GRACE_MS, heapCapBytes: HEAP_CAP_BYTES } = HOST_DEFAULTS;
// Stop on the server engine asks the server to cancel and waits this long
// for the cancelled run's answer (what it printed and took until then)
// before hanging up; the server interrupts at once and kills a worker that
// does not stop within its grace (--timeout-grace-ms).
const CANCEL_WAIT_MS = 4000;

// A run's stdin, files and collect patterns, only those the request has.
function ioFields(req) {
  const out = {};
  for (const k of ["stdin", "files", "collect"]) if (req[k] !== undefined) out[k] = req[k];
  return out;
}

function failure(status, code, message, extra = {}) {
  return { status, body: { ok: false, error: { code, message }, ...extra } };
}

// A TimeoutResult or CancelledResult (server/openapi.yaml) from what the
// runner answered when its run was interrupted (null: the worker was ended).
const KEPT = ["stdout", "stderr", "output", "files", "truncated", "scope", "definitions", "changes", "dynamic", "tasks_cancelled"];
function stoppedResult(body, code, message, timing) {
  const said = body?.error ?? {};
  const out = { ok: false, result: null,
    error: { code, message, stopped_by: body ? "interrupt" : "kill", line: said.line ?? null, column: said.column ?? null,
             source: said.source ?? null, traceback: said.traceback ?? null } };
  for (const k of KEPT) out[k] = body?.[k] ?? null;
  return { ...out, timing };
}

// ---- server: the API through the JS client (clients/js) ----------------------

// The playground shows answers in their wire form (tagged values, floats as
// written), so it uses the client's raw exchange with its own parser.
export class ServerEngine {
  constructor() {
    this.name = "server";
    // The directory of the page (embed.html's too), not the page itself.
    this.client = new Client(new URL("./", document.baseURI).href);
  }

  // Resolves with [state, text] for the engine's status line.
  async boot() {
    try {
      const { body } = await this.client.call("GET", "healthz");
      const w = body.workers ?? {};
      return body.ok ? ["ready", `${w.ready + (w.busy ?? 0)} of ${w.total} workers up`] : ["error", "no worker ready yet"];
    } catch {
      return ["error", "server unreachable"];
    }
  }

  // For the running status line: "" while a worker is free, else a note
  // that every worker is busy (so a run may wait in the queue).
  async busyNote() {
    const { body } = await this.client.call("GET", "healthz");
    const w = body?.workers;
    return w && w.total > 0 && w.ready === 0 ? `every worker busy (${w.busy} of ${w.total}): a new run waits in the queue` : "";
  }

  async call(method, path, body, signal) {
    let res;
    try {
      res = await this.client.call(method, path, body, { signal, parse: parseAnswer });
    } catch (e) {
      if (e?.name === "AbortError") {
        return { stopped: true, ...failure(0, "stopped", "Stopped waiting for the server.") };
      }
      return failure(0, "network_error", `The server could not be reached: ${e?.message ?? e}`);
    }
    if (typeof res.body === "string") return failure(res.status, "bad_response", `HTTP ${res.status}: ${res.body.slice(0, 300)}`);
    return { status: res.status, body: res.body };
  }

  // Streamed (the server's SSE answer): onOutput(stream, text) as the
  // snippet writes. Stop cancels the run by its id, so the worker is free at
  // once for the next run, and the stream then ends with the cancelled
  // run's answer (CancelledResult: its output and snapshots until then).
  // A server that does not answer in CANCEL_WAIT_MS is hung up on; closing
  // the stream cancels the run too.
  async run(req, { signal, session, onOutput = () => {} }) {
    const runId = `pg-${crypto.getRandomValues(new Uint32Array(3)).join("-")}`;
    const body = { code: req.code, mode: req.mode, scope: req.scope, dynamic: req.dynamic,
                   return: req.return, timeout_ms: req.timeout_ms, run_id: runId, ...ioFields(req) };
    const path = session ? `v1/sessions/${encodeURIComponent(session)}/run` : "v1/run";
    if (signal?.aborted) return { stopped: true, ...failure(0, "stopped", "Stopped before the run started.") };
    const hangup = new AbortController();
    let hangupTimer = null;
    const onStop = () => {
      this.client.cancel(runId).catch(() => {});
      hangupTimer = setTimeout(() => hangup.abort(), CANCEL_WAIT_MS);
    };
    signal?.addEventListener("abort", onStop, { once: true });
    let res;
    try {
      res = await this.client.stream("POST", path, body, {
        signal: hangup.signal, parse: parseAnswer, onEvent: (event, data) => onOutput(event, data.text),
      });
    } catch (e) {
      if (e?.name === "AbortError") {
        return { stopped: true, ...failure(0, "stopped", "Stopped: the run was cancelled on the server.") };
      }
      return failure(0, "network_error", `The server could not be reached: ${e?.message ?? e}`);
    } finally {
      clearTimeout(hangupTimer);
      signal?.removeEventListener("abort", onStop);
    }
    if (typeof res.body === "string") return failure(res.status, "bad_response", `HTTP ${res.status}: ${res.body.slice(0, 300)}`);
    if (res.body?.error?.code === "cancelled") return { stopped: true, status: res.status, body: res.body };
    return { status: res.status, body: res.body };
  }

  createSession(scope) {
    return this.call("POST", "v1/sessions", Object.keys(scope).length ? { scope } : {});
  }

  getSession(id) {
    return this.call("GET", `v1/sessions/${encodeURIComponent(id)}`);
  }

  deleteSession(id) {
    return this.call("DELETE", `v1/sessions/${encodeURIComponent(id)}`);
  }
}

// ---- browser: Pyodide + dynscope in a Web Worker ----------------------------

// The worker (engine-worker.js) runs the very runner the server's workers
// run (wasm/runtime/scopebox_worker) on the same dynscope side module; this
// side only adds what the host adds on the server: the time limit, the
// timing, and the mapping of `rejected` to 400.
export class BrowserEngine {
  constructor({ onStatus }) {
    this.name = "browser";
    this.onStatus = onStatus;
    this.worker = null;
    this.booting = null;
    this.pending = new Map();
    this.seq = 0;
    this.session = null; // { id, runs }
    this.sessionSeq = 0;
    this.info = null;
    // Cross-origin isolation (COOP/COEP from our server) gives us
    // SharedArrayBuffer, hence Pyodide's interrupt buffer. Without it a
    // stop terminates the worker instead.
    this.canInterrupt = typeof SharedArrayBuffer === "function" && self.crossOriginIsolated === true;
  }

  boot() {
    if (!this.booting) this.booting = this.start();
    return this.booting;
  }

  start() {
    const started = performance.now();
    this.interrupt = this.canInterrupt ? new Int32Array(new SharedArrayBuffer(4)) : null;
    const worker = new Worker(new URL("engine.js", document.baseURI), { type: "module", name: "scopebox-python" });
    this.worker = worker;
    const tick = setInterval(() => {
      this.onStatus?.("loading", `loading Python… ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }, 1000);
    this.onStatus?.("loading", "loading Python…");
    return new Promise((resolve, reject) => {
      const fail = (message) => {
        clearInterval(tick);
        if (this.worker === worker) {
          worker.terminate();
          this.worker = null;
          this.booting = null;
        }
        this.onStatus?.("error", message);
        reject(new Error(message));
      };
      worker.onerror = (e) => {
        e.preventDefault?.();
        fail(`the Python worker failed to start: ${e.message ?? "error"}`);
      };
      worker.onmessage = (e) => {
        const msg = e.data;
        if (msg.type === "ready") {
          clearInterval(tick);
          this.info = msg.info;
          worker.onmessage = (ev) => this.onMessage(worker, ev.data);
          worker.onerror = (ev) => {
            ev.preventDefault?.();
            this.crashed(worker, `the Python worker failed: ${ev.message ?? "error"}`);
          };
          const secs = (msg.info.boot_ms / 1000).toFixed(1);
          this.onStatus?.("ready", `Python ${msg.info.python}, dynscope ${msg.info.dynscope} · booted in ${secs} s`);
          resolve(msg.info);
        } else if (msg.type === "failed") {
          fail(`Python did not start: ${msg.message}`);
        }
      };
      worker.postMessage({ type: "boot", interrupt: this.interrupt?.buffer ?? null, heapCapBytes: HEAP_CAP_BYTES });
    });
  }

  onMessage(worker, msg) {
    if (worker !== this.worker) return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    if (msg.type === "output") {
      p.onOutput?.(msg.stream, msg.text);
      return;
    }
    this.pending.delete(msg.id);
    if (msg.type === "answer") p.resolve({ json: msg.json, ms: msg.ms });
    else p.resolve({ crash: msg.message });
  }

  // A broken interpreter is replaced, like the server replaces a worker.
  crashed(worker, message) {
    if (worker !== this.worker) return;
    worker.terminate();
    this.worker = null;
    this.booting = null;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.resolve({ crash: message });
    this.session = null;
    this.onStatus?.("loading", "restarting Python…");
    this.boot().catch(() => {});
  }

  // One message to the interpreter: resolves with { json, ms } or { crash };
  // onOutput(stream, text) gets a streamed run's output as it is written.
  async send(message, onOutput) {
    await this.boot();
    const id = ++this.seq;
    const worker = this.worker;
    return {
      id,
      worker,
      done: new Promise((resolve) => {
        this.pending.set(id, { resolve, onOutput });
        worker.postMessage({ ...message, id });
      }),
    };
  }

  async run(req, { signal, session, onOutput }) {
    if (typeof req.code !== "string" || req.code.length === 0) {
      return failure(400, "invalid_value", "code: must not be empty");
    }
    if (session && (!this.session || this.session.id !== session)) {
      return failure(404, "session_not_found", `no such session: ${session}`);
    }
    const payload = JSON.stringify({
      type: "run", id: 0, code: req.code, mode: req.mode, scope: req.scope, dynamic: req.dynamic,
      return: req.return, output_cap: OUTPUT_CAP, persist: Boolean(session), stream: Boolean(onOutput), ...ioFields(req),
    });
    // Stop works while Python is still loading, too.
    const stoppedEarly = () => ({ stopped: true, ...failure(0, "stopped", "Stopped before the run started.") });
    if (signal?.aborted) return stoppedEarly();
    const aborted = new Promise((resolve) => signal?.addEventListener("abort", () => resolve("aborted"), { once: true }));
    const ready = await Promise.race([this.boot().then(() => "ready", (e) => e), aborted]);
    if (ready === "aborted") return stoppedEarly();
    if (ready instanceof Error) return failure(503, "engine_unavailable", ready.message);
    let call;
    try {
      // A stateless run's files are gone with it, as on the server.
      call = await this.send({ type: "call", payload, fresh: !session }, onOutput);
    } catch (e) {
      return failure(503, "engine_unavailable", String(e?.message ?? e));
    }
    const started = performance.now();
    let reason = null, grace = null;
    const stop = (why) => {
      if (reason) return;
      reason = why;
      if (this.interrupt) Atomics.store(this.interrupt, 0, 2); // SIGINT: KeyboardInterrupt
      // A snippet that swallows KeyboardInterrupt, or a browser without
      // SharedArrayBuffer: the worker is ended, as the server kills one.
      grace = setTimeout(() => this.crashed(call.worker, `stopped (${why})`), this.interrupt ? GRACE_MS : 0);
    };
    const limit = setTimeout(() => stop("timeout"), req.timeout_ms);
    const onAbort = () => stop("stopped");
    signal?.addEventListener("abort", onAbort);
    if (signal?.aborted) onAbort();
    const answer = await call.done;
    clearTimeout(limit);
    clearTimeout(grace);
    signal?.removeEventListener("abort", onAbort);
    const elapsed = performance.now() - started;
    const timing = { queue_ms: 0, run_ms: Math.round((answer.ms ?? elapsed) * 1000) / 1000 };

    let body = null;
    if (answer.json) body = parseAnswer(answer.json);
    const interrupted = reason && (!body || body.error?.type === "KeyboardInterrupt");
    if (interrupted) {
      if (session && !body) this.session = null;
      // As the server answers (TimeoutResult, CancelledResult): the run as
      // far as it got when Python was interrupted, null when it was killed.
      const code = reason === "timeout" ? "timeout" : "cancelled";
      const message = reason === "timeout" ? `the run passed its time limit of ${req.timeout_ms} ms and was interrupted`
        : `Stopped after ${(elapsed / 1000).toFixed(1)} s.`;
      const stoppedBody = stoppedResult(body, code, message, timing);
      return reason === "timeout" ? { status: 504, body: stoppedBody } : { stopped: true, status: 0, body: stoppedBody };
    }
    if (!body) return failure(500, "worker_crashed", `The Python worker died during the run: ${answer.crash}`, { timing });
    delete body.id;
    if (body.type === "rejected") return failure(400, body.error.code, body.error.message);
    delete body.type;
    if (session && this.session) this.session.runs += 1;
    return { status: 200, body: { ...body, timing } };
  }

  async inspect(scope) {
    const call = await this.send({ type: "call", payload: JSON.stringify({ type: "inspect", id: 0, scope }) });
    const answer = await call.done;
    if (!answer.json) return { crash: answer.crash };
    const body = parseAnswer(answer.json);
    return { body };
  }

  sessionBody(extra) {
    return { id: this.session.id, idle_ttl_ms: 0, runs: this.session.runs, ...extra };
  }

  async createSession(scope) {
    try {
      await this.send({ type: "end-session" }).then((c) => c.done);
      this.session = null;
      const r = await this.inspect(scope);
      if (r.crash) return failure(500, "worker_crashed", r.crash);
      if (r.body.type === "rejected") return failure(400, r.body.error.code, r.body.error.message);
      this.session = { id: `browser-${++this.sessionSeq}`, runs: 0 };
      return { status: 201, body: this.sessionBody({ scope: r.body.scope, definitions: r.body.definitions }) };
    } catch (e) {
      return failure(503, "engine_unavailable", String(e?.message ?? e));
    }
  }

  async getSession(id) {
    if (!this.session || this.session.id !== id) return failure(404, "session_not_found", `no such session: ${id}`);
    const r = await this.inspect({});
    if (r.crash) return failure(500, "worker_crashed", r.crash);
    return { status: 200, body: this.sessionBody({ scope: r.body.scope, definitions: r.body.definitions }) };
  }

  async deleteSession(id) {
    if (!this.session || this.session.id !== id) return failure(404, "session_not_found", `no such session: ${id}`);
    this.session = null;
    await this.send({ type: "end-session" }).then((c) => c.done);
    return { status: 200, body: { ok: true, id } };
  }
}
