// JavaScript client of scopebox: one ES module, no dependencies, for Node >= 20
// and browsers. The HTTP contract is server/openapi.yaml.
//
//   import { Client } from "./scopebox.mjs";
//   const c = new Client("http://127.0.0.1:8080");
//   const r = await c.run("x * 2", { mode: "eval", scope: { x: 21 } });
//   r.result;                                  // 42
//   await c.withSession({ scope: { n: 1 } }, async (s) => { await s.run("n += 1"); return s.eval("n"); });
//   for await (const ev of c.events("print(1)")) ...  // { type: "output", stream, text } ..., { type: "result", result }
//
// Values: `run` encodes JS values into the API's tagged values and decodes the
// answer's values back (a tuple is a Tuple, a big int a BigInt, a set a Set, a
// dict with non-string keys a Map, bytes a Uint8Array, NaN NaN, ...; see
// `decode`). `call` is the raw exchange (status and parsed JSON, no
// decoding), for callers that keep the wire form, like the playground.

// ---- errors ---------------------------------------------------------------

export class ScopeboxError extends Error {
  constructor(message) {
    super(message);
    this.name = "ScopeboxError";
  }
}

// The server refused or failed the request (HTTP 4xx/5xx); `code` is the
// API's stable error code.
export class ApiError extends ScopeboxError {
  constructor(status, code, message, body, retryAfter = null) {
    super(code ? `${code}: ${message}` : message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.body = body;
    this.retryAfter = retryAfter;
  }
}

// The snippet raised. `result` is the whole RunResult.
export class SnippetError extends ScopeboxError {
  constructor(error, result = null) {
    super(error.message ? `${error.type}: ${error.message}` : error.type);
    this.name = "SnippetError";
    this.type = error.type;
    this.pythonMessage = error.message;
    this.line = error.line ?? null;
    this.column = error.column ?? null;
    this.source = error.source ?? null;
    this.traceback = error.traceback ?? [];
    this.result = result;
  }

  // Like Python prints it: the snippet's frames, then "Type: message".
  format() {
    const lines = [];
    if (this.traceback.length) lines.push("Traceback (most recent call last):");
    for (const f of this.traceback) {
      if (f.omitted) lines.push(`  [... ${f.omitted} frames omitted]`);
      lines.push(`  ${f.line != null ? `line ${f.line}, ` : ""}in ${f.function}`);
      if (f.source) lines.push(`    ${f.source.trim()}`);
    }
    if (!this.traceback.length && this.line != null) {
      lines.push(`  line ${this.line}`);
      if (this.source) lines.push(`    ${this.source.trim()}`);
    }
    lines.push(this.message);
    return lines.join("\n");
  }
}

// ---- value types that JS lacks ---------------------------------------------

export class Tuple extends Array {
  static of(...items) {
    const t = new Tuple();
    t.push(...items);
    return t;
  }
}

export class FrozenSet extends Set {}

export class ByteArray extends Uint8Array {}

// datetime, date and time as Python has them (naive or aware, microseconds):
// `kind` is "datetime", "date" or "time", `iso` the ISO text.
export class PyDateTime {
  constructor(kind, iso) {
    this.kind = kind;
    this.iso = iso;
  }
  toDate() {
    return new Date(this.kind === "date" ? `${this.iso}T00:00:00Z` : this.iso);
  }
  toString() {
    return this.iso;
  }
}

export class TimeDelta {
  constructor(seconds) {
    this.seconds = seconds;
  }
}

export class Decimal {
  constructor(value) {
    this.value = String(value);
  }
  toString() {
    return this.value;
  }
}

export class Complex {
  constructor(real, imag) {
    this.real = real;
    this.imag = imag;
  }
}

// An object the server could only describe: its type and repr.
export class Opaque {
  constructor(type, repr) {
    this.type = type;
    this.repr = repr;
  }
  toString() {
    return this.repr;
  }
}

// Where the server stopped encoding (`reason`: "depth" or "size").
export class Cut {
  constructor(reason, of) {
    this.reason = reason;
    this.of = of ?? null;
  }
}

// A container inside itself.
export class Cycle {
  constructor(of) {
    this.of = of;
  }
}

// A string the server shortened; `fullLength` is its length.
export class TruncatedString extends String {
  constructor(value, fullLength) {
    super(value);
    this.truncated = true;
    this.fullLength = fullLength;
  }
}

// Whether the server shortened a value (then `fullLength` says how long it was).
export function isTruncated(v) {
  return v != null && typeof v === "object" && v.truncated === true;
}

// ---- base64, in Node and browsers -------------------------------------------

function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

// ---- decode: answer JSON -> JS ---------------------------------------------

const FLOATS = { nan: NaN, inf: Infinity, "-inf": -Infinity };

function cut(value, obj) {
  if (obj.truncated === true) {
    Object.defineProperty(value, "truncated", { value: true, enumerable: false });
    Object.defineProperty(value, "fullLength", { value: obj.length, enumerable: false });
  }
  return value;
}

function decodeTag(obj) {
  const tag = obj.$type;
  switch (tag) {
    case "int":
      return "hex" in obj ? hexToBigInt(obj.hex) : BigInt(obj.value);
    case "float":
      return FLOATS[obj.value];
    case "str":
      if ("repr" in obj) return new Opaque("str", obj.repr);
      return obj.truncated ? new TruncatedString(obj.value, obj.length) : obj.value;
    case "bytes":
      return cut(fromBase64(obj.base64), obj);
    case "bytearray":
      return cut(new ByteArray(fromBase64(obj.base64)), obj);
    case "tuple":
      return cut(Tuple.of(...obj.items.map(decode)), obj);
    case "list":
      return cut(obj.items.map(decode), obj);
    case "set":
      return cut(new Set(obj.items.map(decode)), obj);
    case "frozenset":
      return cut(new FrozenSet(obj.items.map(decode)), obj);
    case "dict":
      return cut(new Map(obj.items.map(([k, v]) => [decode(k), decode(v)])), obj);
    case "datetime":
    case "date":
    case "time":
      return new PyDateTime(tag, obj.iso);
    case "timedelta":
      return new TimeDelta(obj.seconds);
    case "decimal":
      return new Decimal(obj.value);
    case "complex":
      return new Complex(decode(obj.real), decode(obj.imag));
    case "truncated":
      return new Cut(obj.reason, obj.of);
    case "cycle":
      return new Cycle(obj.of);
    default:
      return new Opaque(tag, obj.repr ?? "");
  }
}

function hexToBigInt(hex) {
  return hex.startsWith("-") ? -BigInt(hex.slice(1)) : BigInt(hex);
}

// The JS value of an answer's JSON value.
export function decode(v) {
  if (Array.isArray(v)) return v.map(decode);
  if (v !== null && typeof v === "object") {
    if (typeof v.$type === "string") return decodeTag(v);
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = decode(x);
    return out;
  }
  return v;
}

// ---- encode: JS -> request JSON ---------------------------------------------

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function isPlainObject(v) {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

// The request JSON value for a JS value; TypeError for one that has none
// (functions, symbols, Opaque and the other answer-only markers).
export function encode(v) {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case "boolean":
    case "string":
      return v;
    case "number":
      if (Number.isFinite(v)) return v;
      return { $type: "float", value: Number.isNaN(v) ? "nan" : v > 0 ? "inf" : "-inf" };
    case "bigint": {
      if (v >= -SAFE && v <= SAFE) return Number(v);
      const digits = v.toString();
      // Python refuses to parse more than 4300 digits: hex then, as the server does.
      if (digits.length <= 4300) return { $type: "int", value: digits };
      return { $type: "int", hex: v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}` };
    }
    case "object":
      break;
    default:
      throw new TypeError(`cannot send a ${typeof v} to scopebox`);
  }
  if (v instanceof String) return String(v);
  if (v instanceof Tuple) return { $type: "tuple", items: Array.from(v, encode) };
  if (Array.isArray(v)) return v.map(encode);
  if (v instanceof FrozenSet) return { $type: "frozenset", items: [...v].map(encode) };
  if (v instanceof Set) return { $type: "set", items: [...v].map(encode) };
  if (v instanceof Map) return { $type: "dict", items: [...v].map(([k, x]) => [encode(k), encode(x)]) };
  if (v instanceof ByteArray) return { $type: "bytearray", base64: toBase64(v) };
  if (v instanceof Uint8Array) return { $type: "bytes", base64: toBase64(v) };
  if (v instanceof ArrayBuffer) return { $type: "bytes", base64: toBase64(new Uint8Array(v)) };
  if (v instanceof Date) return { $type: "datetime", iso: v.toISOString().replace("Z", "+00:00") };
  if (v instanceof PyDateTime) return { $type: v.kind, iso: v.iso };
  if (v instanceof TimeDelta) return { $type: "timedelta", seconds: v.seconds };
  if (v instanceof Decimal) return { $type: "decimal", value: v.value };
  if (v instanceof Complex) return { $type: "complex", real: v.real, imag: v.imag };
  if (v instanceof Opaque || v instanceof Cut || v instanceof Cycle) {
    throw new TypeError(`cannot send a ${v.constructor.name} back to scopebox: it only describes a value`);
  }
  if (!isPlainObject(v)) throw new TypeError(`cannot send a ${v.constructor?.name ?? "object"} to scopebox`);
  if ("$type" in v) return { $type: "dict", items: Object.entries(v).map(([k, x]) => [k, encode(x)]) };
  const out = {};
  for (const [k, x] of Object.entries(v)) out[k] = encode(x);
  return out;
}

function encodeVariables(names, field) {
  if (names == null) return undefined;
  if (typeof names !== "object" || Array.isArray(names)) throw new TypeError(`${field} must be an object of names`);
  const out = {};
  for (const [k, v] of Object.entries(names)) out[k] = encode(v);
  return out;
}

// ---- results ------------------------------------------------------------------

function frames(snapshot) {
  return snapshot == null ? null : snapshot.map((f) => ({ ...f, bindings: decode(f.bindings ?? {}) }));
}

// A run's answer (RunResult in openapi.yaml), values decoded; `raw` is the wire form.
export class RunResult {
  constructor(body) {
    this.ok = body.ok;
    this.result = decode(body.result);
    this.stdout = body.stdout ?? "";
    this.stderr = body.stderr ?? "";
    this.truncated = body.truncated ?? { stdout: false, stderr: false };
    this.scope = decode(body.scope ?? {});
    this.definitions = body.definitions ?? {};
    this.changes = body.changes ?? { added: [], changed: [], removed: [] };
    this.dynamic = { final: frames(body.dynamic?.final) ?? [], returned: frames(body.dynamic?.returned) };
    this.timing = body.timing ?? null;
    this.error = body.error ? new SnippetError(body.error, this) : null;
    Object.defineProperty(this, "raw", { value: body, enumerable: false });
  }

  // Throws the SnippetError if the snippet raised; returns this otherwise.
  raiseForError() {
    if (this.error) throw this.error;
    return this;
  }
}

function apiError(status, headers, answer) {
  const err = answer?.error;
  const retry = headers.get("retry-after");
  if (err && typeof err.code === "string") {
    return new ApiError(status, err.code, err.message ?? "", answer, retry ? Number(retry) : null);
  }
  return new ApiError(status, "", `HTTP ${status}: ${String(typeof answer === "string" ? answer : JSON.stringify(answer)).slice(0, 200)}`, answer);
}

function sessionInfo(body) {
  return { ...body, scope: decode(body.scope ?? {}) };
}

function runBody(code, opts) {
  const body = { code };
  if (opts.mode !== undefined) body.mode = opts.mode;
  const scope = encodeVariables(opts.scope, "scope");
  if (scope && Object.keys(scope).length) body.scope = scope;
  const dynamic = encodeVariables(opts.dynamic, "dynamic");
  if (dynamic && Object.keys(dynamic).length) body.dynamic = dynamic;
  if (opts.return !== undefined) body.return = opts.return;
  if (opts.timeoutMs !== undefined) body.timeout_ms = opts.timeoutMs;
  // Passed through for servers that take them (the run-lifecycle API); one
  // that does not answers unknown_field.
  if (opts.stdin !== undefined) body.stdin = opts.stdin;
  if (opts.files !== undefined) body.files = opts.files;
  return body;
}

// ---- the client -----------------------------------------------------------------

function defaultUrl() {
  return globalThis.location?.href ?? "http://127.0.0.1:8080/";
}

export class Client {
  // `url`: the server (in a browser, relative URLs resolve against the page).
  // `apiKey` goes out as a bearer token. `raiseErrors`: the default of every
  // run's `raiseErrors` (throw SnippetError instead of returning the result).
  // API errors always throw ApiError.
  constructor(url = defaultUrl(), { apiKey = null, raiseErrors = false, fetch: fetchImpl } = {}) {
    const base = new URL(url, globalThis.location?.href);
    if (!base.pathname.endsWith("/")) base.pathname += "/";
    this.base = base;
    this.url = base.href.replace(/\/$/, "");
    this.apiKey = apiKey;
    this.raiseErrors = raiseErrors;
    this.fetch = fetchImpl ?? ((...a) => globalThis.fetch(...a));
  }

  // The raw exchange: { status, headers, body } with body parsed by `parse`
  // (JSON.parse by default) for JSON answers, text otherwise. Never throws
  // for an HTTP status; throws ScopeboxError when the server cannot be
  // reached, and the fetch's AbortError when `signal` aborts.
  async call(method, path, body, { signal, parse = JSON.parse } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.apiKey) headers.Authorization = `Bearer ${this.apiKey}`;
    let res, text;
    try {
      res = await this.fetch(new URL(path.replace(/^\//, ""), this.base), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        cache: "no-store",
      });
      text = await res.text();
    } catch (e) {
      if (e?.name === "AbortError") throw e;
      throw new ScopeboxError(`cannot reach ${this.url}: ${e?.cause?.message ?? e?.message ?? e}`);
    }
    let parsed = text;
    if ((res.headers.get("content-type") ?? "").includes("json")) {
      try {
        parsed = parse(text);
      } catch {
        parsed = text;
      }
    }
    return { status: res.status, headers: res.headers, body: parsed };
  }

  // A run answered as Server-Sent Events (Accept: text/event-stream):
  // onEvent(event, data) for each `stdout`/`stderr` event as it arrives
  // (data: { text }); resolves like `call` with the last event's body and the
  // status it gives (`: status N`), or with the plain answer when the server
  // refused the run before streaming. Aborting `signal` closes the stream,
  // which cancels the run on the server.
  async stream(method, path, body, { signal, parse = JSON.parse, onEvent = () => {} } = {}) {
    const headers = { Accept: "text/event-stream", "Content-Type": "application/json" };
    if (this.apiKey) headers.Authorization = `Bearer ${this.apiKey}`;
    let res;
    try {
      res = await this.fetch(new URL(path.replace(/^\//, ""), this.base), {
        method, headers, body: JSON.stringify(body), signal, cache: "no-store",
      });
    } catch (e) {
      if (e?.name === "AbortError") throw e;
      throw new ScopeboxError(`cannot reach ${this.url}: ${e?.cause?.message ?? e?.message ?? e}`);
    }
    if (!(res.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
      const text = await res.text();
      let parsed = text;
      try {
        parsed = parse(text);
      } catch {}
      return { status: res.status, headers: res.headers, body: parsed };
    }
    const decoder = new TextDecoder();
    const reader = res.body.getReader();
    let buf = "", last = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let end;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        let event = "message", status = null;
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) status = Number(/status (\d+)/.exec(line)?.[1] ?? NaN);
          else if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        const text = data.join("\n");
        if (event === "result" || event === "error") last = { status: status ?? (event === "result" ? 200 : 500), text };
        else onEvent(event, JSON.parse(text));
      }
    }
    if (last === null) throw new ScopeboxError("the event stream ended without its result");
    return { status: last.status, headers: res.headers, body: parse(last.text) };
  }

  // POST /v1/runs/{id}/cancel: stops the run of that `run_id` (queued or
  // running); its own request then answers 499 `cancelled`.
  cancel(runId, opts) {
    return this.request("POST", `v1/runs/${encodeURIComponent(runId)}/cancel`, undefined, opts);
  }

  // `call`, throwing ApiError for a 4xx/5xx answer; resolves with the body.
  async request(method, path, body, opts) {
    const { status, headers, body: answer } = await this.call(method, path, body, opts);
    if (status < 400) return answer;
    throw apiError(status, headers, answer);
  }

  // A streamed run as an async iterator: { type: "output", stream, text }
  // for each output event as it arrives ("stdout" or "stderr"), then one
  // { type: "result", result } with the RunResult that run() resolves with.
  // A run not answered 200 (timeout, cancelled, ...) throws ApiError from
  // the iteration, as run() rejects. Leaving the loop early (break, throw)
  // closes the stream, which cancels the run on the server.
  async *_events(path, body, opts) {
    const ctl = new AbortController();
    const abort = () => ctl.abort(opts.signal?.reason);
    if (opts.signal?.aborted) abort();
    opts.signal?.addEventListener("abort", abort, { once: true });
    const queue = [];
    let wake = null, outcome = null;
    this.stream("POST", path, body, {
      signal: ctl.signal,
      onEvent: (event, data) => {
        queue.push({ type: "output", stream: event, text: data.text ?? "" });
        wake?.();
      },
    }).then((r) => (outcome = { r }), (e) => (outcome = { e })).finally(() => wake?.());
    try {
      for (;;) {
        while (queue.length) yield queue.shift();
        if (outcome) break;
        await new Promise((resolve) => (wake = resolve));
        wake = null;
      }
      if (outcome.e) throw outcome.e;
      const { status, headers, body: answer } = outcome.r;
      if (status >= 400) throw apiError(status, headers, answer);
      yield { type: "result", result: this._result(answer, opts.raiseErrors) };
    } finally {
      opts.signal?.removeEventListener("abort", abort);
      if (!outcome) ctl.abort();
    }
  }

  // run(), as events: `for await (const ev of client.events(code, opts))`
  // (see _events); the options of run().
  events(code, opts = {}) {
    const body = runBody(code, opts);
    if (opts.session !== undefined) body.session = opts.session;
    if (opts.runId !== undefined) body.run_id = opts.runId;
    return this._events("v1/run", body, opts);
  }

  _result(answer, raiseErrors) {
    const r = new RunResult(answer);
    if (raiseErrors ?? this.raiseErrors) r.raiseForError();
    return r;
  }

  // POST /v1/run. opts: scope, dynamic (objects of names to JS values), mode,
  // timeoutMs, return ("data", "all" or names), stdin, files, session,
  // runId (to cancel it with `cancel`), raiseErrors, signal.
  async run(code, opts = {}) {
    const body = runBody(code, opts);
    if (opts.session !== undefined) body.session = opts.session;
    if (opts.runId !== undefined) body.run_id = opts.runId;
    return this._result(await this.request("POST", "v1/run", body, { signal: opts.signal }), opts.raiseErrors);
  }

  // The value of one expression; throws SnippetError if it raises.
  async eval(expression, opts = {}) {
    return (await this.run(expression, { ...opts, mode: "eval", raiseErrors: true })).result;
  }

  // POST /v1/sessions: empty, with `scope`, or from an `image` (what
  // Session.export() resolves with, or its `image` string).
  async session({ scope, image, signal } = {}) {
    const s = encodeVariables(scope, "scope");
    const body = s && Object.keys(s).length ? { scope: s } : {};
    if (image !== undefined) body.image = typeof image === "string" ? image : image.image;
    return new Session(this, sessionInfo(await this.request("POST", "v1/sessions", body, { signal })));
  }

  // A session for the length of `fn(session)`, ended whatever happens.
  async withSession(opts, fn) {
    const s = await this.session(opts);
    try {
      return await fn(s);
    } finally {
      await s.close();
    }
  }

  // A Session object for an existing id (no request made).
  attach(id) {
    return new Session(this, null, id);
  }

  health(opts) {
    return this.request("GET", "healthz", undefined, opts);
  }

  metrics(opts) {
    return this.request("GET", "metrics", undefined, opts);
  }

  openapi(opts) {
    return this.request("GET", "v1/openapi.json", undefined, opts);
  }

  // GET /v1/sessions: a page of this caller's sessions, { sessions, next }
  // (pass `next` as `after` for the next page; null on the last).
  listSessions({ limit, after, signal } = {}) {
    const q = new URLSearchParams();
    if (limit !== undefined) q.set("limit", String(limit));
    if (after !== undefined && after !== null) q.set("after", after);
    const query = q.toString();
    return this.request("GET", "v1/sessions" + (query ? "?" + query : ""), undefined, { signal });
  }

  // Every session of this caller, a page at a time.
  async *allSessions({ pageSize, signal } = {}) {
    let after;
    do {
      const page = await this.listSessions({ limit: pageSize, after, signal });
      yield* page.sessions;
      after = page.next;
    } while (after !== null && after !== undefined);
  }
}

export class Session {
  constructor(client, info, id = info?.id) {
    this.client = client;
    this.info = info;
    this.id = id;
    this.ended = false;
  }

  get path() {
    return `v1/sessions/${encodeURIComponent(this.id)}`;
  }

  // POST /v1/sessions/{id}/run; the options of Client.run but `session`.
  async run(code, opts = {}) {
    const body = runBody(code, opts);
    return this.client._result(await this.client.request("POST", `${this.path}/run`, body, { signal: opts.signal }), opts.raiseErrors);
  }

  async eval(expression, opts = {}) {
    return (await this.run(expression, { ...opts, mode: "eval", raiseErrors: true })).result;
  }

  // run() in this session, as events (see Client.events).
  events(code, opts = {}) {
    return this.client._events(`${this.path}/run`, runBody(code, opts), opts);
  }

  // GET /v1/sessions/{id}: its scope now.
  async get(opts) {
    this.info = sessionInfo(await this.client.request("GET", this.path, undefined, opts));
    return this.info;
  }

  // DELETE /v1/sessions/{id}.
  async end(opts) {
    const answer = await this.client.request("DELETE", this.path, undefined, opts);
    this.ended = true;
    return answer;
  }

  // end(), unless it ended already (here or by expiry).
  async close() {
    if (this.ended) return;
    try {
      await this.end();
    } catch (e) {
      if (!(e instanceof ApiError && e.code === "session_not_found")) throw e;
      this.ended = true;
    }
  }

  // POST /v1/sessions/{id}/fork: a copy of its state now (`info` is the
  // fork's summary, with `forked_from`).
  async fork(opts) {
    return new Session(this.client, sessionInfo(await this.client.request("POST", `${this.path}/fork`, undefined, opts)));
  }

  // GET /v1/sessions/{id}/export: { image, ...its summary }, for
  // client.session({ image }) on any server that shares the session key.
  export(opts) {
    return this.client.request("GET", `${this.path}/export`, undefined, opts);
  }
}

// `await using s = await client.session()` where the runtime has it.
if (typeof Symbol.asyncDispose === "symbol") {
  Session.prototype[Symbol.asyncDispose] = function () {
    return this.close();
  };
}
