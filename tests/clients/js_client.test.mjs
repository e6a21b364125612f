// clients/js/scopebox.mjs through a real server (node --test): every route,
// every value tag both ways, snippet and API errors, sessions. Each request
// the client sends and each answer it gets is checked against the served
// openapi.json on the way (through the client's `fetch` option, over the
// real fetch).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import Ajv2020 from "ajv/dist/2020.js";

import {
  ApiError, ByteArray, Client, Complex, Cut, Cycle, Decimal, FrozenSet, Opaque, PyDateTime,
  ScopeboxError, SnippetError, TimeDelta, Tuple, decode, encode, isTruncated,
} from "../../clients/js/scopebox.mjs";
import { ALICE, BOB, startKeyedServer, startServer } from "../browser/server.mjs";

let server, client, openapi, ajv;
const seen = new Set();

function template(path) {
  const parts = path.split("?")[0].replace(/^\/|\/$/g, "").split("/");
  for (const candidate of Object.keys(openapi.paths)) {
    const c = candidate.replace(/^\//, "").split("/");
    if (c.length === parts.length && c.every((p, i) => p === parts[i] || /^\{.+\}$/.test(p))) return candidate;
  }
  throw new Error(`undocumented path ${path}`);
}

function check(schema, value, what) {
  const validate = ajv.compile(schema);
  assert.ok(validate(value), `${what}: ${JSON.stringify(validate.errors)}\n${JSON.stringify(value).slice(0, 500)}`);
}

const refs = (node) => JSON.parse(JSON.stringify(node).replaceAll('"#/components/', '"openapi.json#/components/'));

// Wraps the real fetch: validates the exchange against the contract.
async function checkedFetch(url, init) {
  const path = template(new URL(url).pathname);
  const method = init.method.toLowerCase();
  const op = openapi.paths[path][method];
  assert.ok(op, `${method} ${path} is not documented`);
  let valid = true;
  if (init.body !== undefined) {
    assert.ok(op.requestBody, `${method} ${path} takes no body`);
    const validate = ajv.compile(refs(op.requestBody.content["application/json"].schema));
    valid = validate(JSON.parse(init.body));
  }
  const res = await fetch(url, init);
  if ((res.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
    // An event stream is read as it comes (the test checks its last event).
    assert.equal(res.status, 200);
    seen.add(`${method.toUpperCase()} ${path}`);
    return res;
  }
  const text = await res.clone().text();
  // A body the contract rejects is one the server must refuse too.
  assert.ok(valid || res.status === 400, `${init.body} -> ${res.status}`);
  const doc = op.responses[String(res.status)];
  assert.ok(doc, `${method} ${path}: status ${res.status} is not documented`);
  const resolved = doc.$ref ? openapi.components.responses[doc.$ref.split("/").pop()] : doc;
  const schema = resolved.content?.["application/json"]?.schema;
  if (schema) check(refs(schema), JSON.parse(text), `${method} ${path} ${res.status}`);
  seen.add(`${method.toUpperCase()} ${path}`);
  return res;
}

before(async () => {
  server = await startServer({ args: ["--workers", "2", "--max-sessions", "2"] });
  openapi = await (await fetch(server.url + "/v1/openapi.json")).json();
  ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema({ ...openapi, $id: "openapi.json" });
  client = new Client(server.url, { fetch: checkedFetch });
});

after(() => server?.stop());

// ---- values ---------------------------------------------------------------

const ROUND_TRIPS = [
  ["null", null, "NoneType"], ["bool", true, "bool"], ["int", -7, "int"], ["float", 1.5, "float"],
  ["str", "ünïcode ✓", "str"], ["list", [1, [2, []]], "list"], ["object", { a: { b: [1] } }, "dict"],
  ["big int", 10n ** 40n, "int"], ["negative big int", -(2n ** 64n), "int"],
  ["inf", Infinity, "float"], ["-inf", -Infinity, "float"],
  ["tuple", Tuple.of(1, "a", null), "tuple"], ["empty tuple", new Tuple(), "tuple"],
  ["set", new Set([1, 2, 3]), "set"], ["frozenset", new FrozenSet(["x"]), "frozenset"],
  ["dict with int keys", new Map([[1, "one"], [2, "two"]]), "dict"],
  ["object with a $type key", { $type: "not a tag" }, "dict"],
  ["bytes", new Uint8Array([0, 1, 255]), "bytes"], ["bytearray", new ByteArray([97, 98]), "bytearray"],
  ["datetime", new PyDateTime("datetime", "2026-11-22T10:00:00.123456"), "datetime"],
  ["aware datetime", new PyDateTime("datetime", "2026-01-01T00:00:00+00:00"), "datetime"],
  ["date", new PyDateTime("date", "2026-02-28"), "date"], ["time", new PyDateTime("time", "23:59:01"), "time"],
  ["timedelta", new TimeDelta(86401.5), "timedelta"], ["decimal", new Decimal("1.10"), "Decimal"],
  ["complex", new Complex(1, -2), "complex"],
];

for (const [name, value, pyType] of ROUND_TRIPS) {
  test(`round trip: ${name}`, async () => {
    const r = await client.run("v", { mode: "eval", scope: { v: value } });
    assert.equal(r.ok, true, r.error?.format());
    // A plain object with a "$type" key is a dict the server must tag: a Map back.
    const want = value?.$type ? new Map(Object.entries(value)) : value;
    assert.deepEqual(r.result, want);
    if (want !== null && typeof want === "object") assert.equal(Object.getPrototypeOf(r.result), Object.getPrototypeOf(want));
    assert.equal(await client.eval("type(v).__name__", { scope: { v: value } }), pyType);
  });
}

test("NaN, and a JS Date as an aware datetime", async () => {
  const r = await client.run("(v != v, d.isoformat())", { mode: "eval", scope: { v: NaN, d: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)) } });
  assert.deepEqual(r.result, Tuple.of(true, "2026-01-02T03:04:05+00:00"));
  assert.ok(Number.isNaN(await client.eval("float('nan')")));
  assert.equal((await client.eval("__import__('datetime').date(2026, 1, 2)")).toDate().toISOString(), "2026-01-02T00:00:00.000Z");
});

test("a huge int travels as hex", async () => {
  const big = 7n ** 6000n;
  assert.equal(await client.eval("v == 7 ** 6000", { scope: { v: big } }), true);
  const r = await client.run("7 ** 6000", { mode: "eval" });
  assert.ok("hex" in r.raw.result);
  assert.equal(r.result, big);
  assert.equal(await client.eval("-(7 ** 6000)"), -big);
});

test("output-only tags: objects, cycles, depth and size cuts, truncation", async () => {
  const r = await client.run(
    "class Point: pass\ncyc = []\ncyc.append(cyc)\ndeep = []\nd = deep\nfor _ in range(40):\n    d.append([])\n    d = d[0]\n" +
      "(Point(), cyc, deep, '\\ud800', 'x' * 70000, list(range(1500)), tuple(range(1500)), set(range(1500)), bytes(70000), {i: i for i in range(1500)}, [list(range(1000)) for i in range(30)])",
    { mode: "exec", return: [] });
  assert.equal(r.ok, true);
  const [point, cyc, deep, surrogate, s, lst, tup, st, bs, dct, huge] = r.result;
  assert.ok(point instanceof Opaque && point.type === "Point" && String(point).startsWith("<__main__.Point"));
  assert.deepEqual(cyc, [new Cycle("list")]);
  let d = deep;
  while (Array.isArray(d)) d = d[0];
  assert.deepEqual(d, new Cut("depth", "list"));
  assert.ok(isTruncated(s) && s.fullLength === 70000 && s.length === 65536);
  for (const [v, cls] of [[lst, Array], [tup, Tuple], [st, Set], [bs, Uint8Array], [dct, Map]]) {
    assert.ok(v instanceof cls && isTruncated(v), cls.name);
  }
  assert.equal(lst.fullLength, 1500);
  assert.equal(dct.get(5), 5);
  assert.ok(huge.flat().some((x) => x instanceof Cut && x.reason === "size"));
  assert.ok(surrogate instanceof Opaque && surrogate.type === "str");
  assert.equal(isTruncated([1]), false);
});

test("values with no request encoding are refused before sending", () => {
  assert.throws(() => encode(() => 1), TypeError);
  assert.throws(() => encode(new Opaque("Point", "<Point>")), TypeError);
  assert.throws(() => encode(new (class Point {})()), TypeError);
  assert.deepEqual(decode(encode(new Map([[Tuple.of(1, 2), "k"]]))), new Map([[Tuple.of(1, 2), "k"]]));
});

// ---- runs -------------------------------------------------------------------

test("scope and dynamic bindings", async () => {
  const r = await client.run(
    "import dynscope\ndef log(m):\n    print(indent + m)\nlog('top')\nwith dynscope.bind(indent='    '):\n    log('nested')\n    snap = dynscope.snapshot()\nsnap",
    { dynamic: { indent: "> " }, scope: { unused: Tuple.of(1) }, timeoutMs: 5000 });
  assert.equal(r.stdout, "> top\n    nested\n");
  assert.deepEqual(r.dynamic.returned.map((f) => f.bindings), [{ indent: "    " }, { indent: "> " }]);
  assert.equal(r.dynamic.final[0].function, "<request>");
  assert.deepEqual(r.scope.unused, Tuple.of(1));
  assert.deepEqual(r.definitions, { dynscope: "module", log: "function" });
  assert.ok(r.timing.run_ms >= 0);
  assert.deepEqual((await client.run("a = 1\nb = 2", { return: ["b"] })).scope, { b: 2 });
});

test("a snippet error is returned, or thrown when asked", async () => {
  const code = "def ratio(a, b):\n    return a / b\nratio(1, 0)";
  const r = await client.run(code);
  assert.equal(r.ok, false);
  assert.equal(r.error.type, "ZeroDivisionError");
  assert.deepEqual(r.error.traceback.map((f) => f.line), [3, 2]);
  assert.ok(r.error.format().endsWith("  line 2, in ratio\n    return a / b\nZeroDivisionError: division by zero"));
  await assert.rejects(client.run(code, { raiseErrors: true }), (e) => e instanceof SnippetError && e.result.definitions.ratio === "function");
  await assert.rejects(client.eval("1/0"), SnippetError);
  assert.throws(() => r.raiseForError(), SnippetError);
  const strict = new Client(server.url, { raiseErrors: true, fetch: checkedFetch });
  await assert.rejects(strict.run(code), SnippetError);
  assert.equal((await strict.run(code, { raiseErrors: false })).ok, false);
});

test("API errors throw ApiError with the stable code", async () => {
  for (const [code, opts, status, want] of [
    ["while True:\n    pass", { timeoutMs: 200 }, 504, "timeout"],
    ["1", { mode: "fast" }, 400, "invalid_value"],
    ["1", { scope: { class: 1 } }, 400, "invalid_name"],
    ["1", { session: "no-such-session" }, 404, "session_not_found"],
  ]) {
    await assert.rejects(client.run(code, opts), (e) => e instanceof ApiError && e.status === status && e.code === want);
  }
});

test("stdin and files are passed through to the server", async () => {
  // Sent as given; the server reads them (tests/api/test_run_io.py).
  const r = await client.run("input() + open('f.txt').read()", { mode: "eval", stdin: "hi\n", files: [{ path: "f.txt", text: "!" }] });
  assert.equal(r.result, "hi!");
  await assert.rejects(client.run("1", { files: [{ path: "/etc/f", text: "!" }] }), (e) => e instanceof ApiError && e.code === "invalid_path");
});

test("an aborted request rejects with AbortError", async () => {
  const ctl = new AbortController();
  const p = client.run("import time\ntime.sleep(2)", { signal: ctl.signal });
  ctl.abort();
  await assert.rejects(p, (e) => e.name === "AbortError");
});

test("a run streams its output as events, its last one the answer", async () => {
  const events = [];
  const r = await client.stream("POST", "v1/run", { code: "import sys\nprint('a')\nprint('b', file=sys.stderr)" },
    { onEvent: (event, data) => events.push([event, data.text]) });
  assert.equal(r.status, 200);
  assert.deepEqual([r.body.stdout, r.body.stderr], ["a\n", "b\n"]);
  assert.equal(events.filter(([e]) => e === "stdout").map(([, t]) => t).join(""), "a\n");
  assert.equal(events.filter(([e]) => e === "stderr").map(([, t]) => t).join(""), "b\n");
  const timeout = await client.stream("POST", "v1/run", { code: "while True: pass", timeout_ms: 200 });
  assert.equal(timeout.status, 504);
  assert.equal(timeout.body.error.code, "timeout");
});

test("cancel stops a run by its run id", async () => {
  const p = client.run("while True:\n    pass", { runId: "js-loop", timeoutMs: 60000 });
  for (;;) {
    try {
      assert.deepEqual(await client.cancel("js-loop"), { ok: true, run_id: "js-loop" });
      break;
    } catch (e) {
      if (e.code !== "run_not_found") throw e; // not registered yet
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await assert.rejects(p, (e) => e.status === 499 && e.code === "cancelled");
  await assert.rejects(client.cancel("js-loop"), (e) => e.status === 404 && e.code === "run_not_found");
});

test("an unreachable server is a ScopeboxError", async () => {
  await assert.rejects(new Client("http://127.0.0.1:9").health(), ScopeboxError);
});

// ---- sessions and the other routes ------------------------------------------

test("a session across runs, ended by withSession", async () => {
  let id;
  const n = await client.withSession({ scope: { n: 1, when: new PyDateTime("date", "2026-01-01") } }, async (s) => {
    id = s.id;
    assert.deepEqual(s.info.scope.when, new PyDateTime("date", "2026-01-01"));
    await s.run("n += 1\nhistory = (n,)");
    const info = await s.get();
    assert.equal(info.runs, 1);
    assert.deepEqual(info.scope.history, Tuple.of(2));
    assert.equal(await client.attach(s.id).eval("n * 10"), 20);
    assert.equal((await client.run("n", { mode: "eval", session: s.id })).result, 2);
    await assert.rejects(s.run("undefined_name", { raiseErrors: true }), SnippetError);
    return s.eval("n");
  });
  assert.equal(n, 2);
  await assert.rejects(client.attach(id).get(), (e) => e.code === "session_not_found");
  const s = await client.session();
  await client.attach(s.id).end();
  await s.close(); // ended elsewhere: fine
  assert.equal(s.ended, true);
});

test("fork", async () => {
  await client.withSession({ scope: { n: 1 } }, async (s) => {
    await s.run("n += 1");
    const f = await s.fork();
    try {
      assert.notEqual(f.id, s.id);
      assert.equal(f.info.forked_from, s.id);
      assert.equal(await f.eval("n"), 2);
      await f.run("n = 100");
      assert.equal(await s.eval("n"), 2);
    } finally {
      await f.close();
    }
  });
});

test("list sessions a page at a time", async () => {
  await client.withSession({}, async (a) => {
    await client.withSession({}, async (b) => {
      const all = await client.listSessions();
      assert.ok([a.id, b.id].every((id) => all.sessions.some((x) => x.id === id)));
      assert.equal(all.next, null);
      const first = await client.listSessions({ limit: 1 });
      assert.equal(first.sessions.length, 1);
      assert.notEqual(first.next, null);
      const second = await client.listSessions({ limit: 1, after: first.next });
      assert.ok(second.sessions[0].id > first.sessions[0].id);
      const walked = [];
      for await (const x of client.allSessions({ pageSize: 1 })) walked.push(x.id);
      assert.deepEqual(walked, all.sessions.map((x) => x.id).sort());
    });
  });
});

test("export a session and start another from its image", async () => {
  let exported;
  await client.withSession({ scope: { n: 1 } }, async (s) => {
    await s.run("n += 1\nwords = ('a', b'b')"); // an image exists once the session has run
    exported = await s.export();
    assert.equal(exported.id, s.id);
  });
  await client.withSession({ image: exported }, async (copy) => {
    assert.deepEqual(await copy.eval("(n, words)"), Tuple.of(2, Tuple.of("a", new Uint8Array([98]))));
  });
  await client.withSession({ image: exported.image }, async (again) => assert.equal(await again.eval("n"), 2));
  await assert.rejects(client.session({ image: "bm90IGFuIGltYWdl" }), (e) => e.status === 400 && e.code === "invalid_image");
});

test("events(): output as it comes, then what run() resolves with", async () => {
  const code = "import sys\nprint('a')\nprint('b', file=sys.stderr)\nprint('c')\n(n, {2})";
  const events = [];
  for await (const ev of client.events(code, { scope: { n: 1 } })) events.push(ev);
  const last = events.pop();
  assert.ok(events.every((e) => e.type === "output") && last.type === "result");
  assert.equal(events.filter((e) => e.stream === "stdout").map((e) => e.text).join(""), "a\nc\n");
  assert.equal(events.filter((e) => e.stream === "stderr").map((e) => e.text).join(""), "b\n");
  check(refs({ $ref: "#/components/schemas/RunResult" }), last.result.raw, "the last event");
  const plain = await client.run(code, { scope: { n: 1 } });
  assert.deepEqual(last.result.result, plain.result);
  const hostless = ({ timing, run_id, ...rest }) => rest;
  assert.deepEqual(hostless(last.result.raw), hostless(plain.raw));
  await assert.rejects(async () => {
    for await (const ev of client.events("while True: pass", { timeoutMs: 200 })) void ev;
  }, (e) => e instanceof ApiError && e.status === 504 && e.code === "timeout");
  await client.withSession({ scope: { n: 1 } }, async (s) => {
    const got = [];
    for await (const ev of s.events("n += 1\nprint(n)")) got.push(ev);
    assert.equal(got.filter((e) => e.type === "output").map((e) => e.text).join(""), "2\n");
    assert.equal(got.at(-1).result.scope.n, 2);
  });
});

test("events(): the output arrives while the run runs; leaving the loop cancels it", async () => {
  const before = Number(/^scopebox_runs_total\{outcome="cancelled"\} (\d+)$/m.exec(await client.metrics())[1]);
  let seen = "";
  for await (const ev of client.events("import time\nprint('first')\ntime.sleep(0.1)\nwhile True:\n    pass", { timeoutMs: 60000 })) {
    assert.equal(ev.type, "output");
    seen += ev.text;
    if (seen === "first\n") break; // the run never ends by itself
  }
  let after = before;
  for (let i = 0; i < 300 && after === before; i++) {
    await new Promise((r) => setTimeout(r, 100));
    after = Number(/^scopebox_runs_total\{outcome="cancelled"\} (\d+)$/m.exec(await client.metrics())[1]);
  }
  assert.equal(after, before + 1);
});

test("health, metrics, openapi", async () => {
  const h = await client.health();
  assert.equal(h.ok, true);
  assert.equal(h.workers.total, 2);
  assert.match(await client.metrics(), /scopebox_runs_total/);
  assert.deepEqual(Object.keys((await client.openapi()).paths), Object.keys(openapi.paths));
});

test("apiKey goes out as a bearer token; a session belongs to its key", async () => {
  const [alice, bob] = [ALICE, BOB];
  const keyed = await startKeyedServer();
  try {
    await assert.rejects(new Client(keyed.url).run("1"), (e) => e instanceof ApiError && e.status === 401 && e.code === "unauthorized");
    const a = new Client(keyed.url, { apiKey: alice });
    assert.equal(await a.eval("6 * 7"), 42);
    await a.withSession({ scope: { n: 1 } }, async (s) => {
      assert.equal(await s.eval("n"), 1);
      await assert.rejects(new Client(keyed.url, { apiKey: bob }).attach(s.id).eval("n"), (e) => e.code === "session_not_found");
    });
  } finally {
    await keyed.stop();
  }
});

test("every route the client has was exercised and checked", () => {
  const routes = [];
  for (const [path, item] of Object.entries(openapi.paths)) {
    for (const m of Object.keys(item)) if (m !== "parameters" && path !== "/mcp") routes.push(`${m.toUpperCase()} ${path}`);
  }
  assert.deepEqual(routes.filter((r) => !seen.has(r)), []);
});
