// POST /mcp against the official MCP TypeScript SDK (@modelcontextprotocol/sdk,
// pinned in package-lock.json) and its Streamable HTTP client transport, on
// a real server with real workers. Raw fetch for what a well-behaved client
// never sends (bad JSON-RPC, foreign origins).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from "@modelcontextprotocol/sdk/types.js";
import Ajv2020 from "ajv/dist/2020.js";

import { startServer } from "../browser/server.mjs";

let server, client, openapi, tools;

// The REST schemas, to check the tools' answers against the one contract.
function restValidator(name) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema({ ...openapi, $id: "openapi.json" });
  return ajv.compile({ $ref: `openapi.json#/components/schemas/${name}` });
}

function toolOutputValidator(tool) {
  return new Ajv2020({ strict: false, allErrors: true }).compile(tool.outputSchema);
}

function assertValid(validate, value) {
  assert.ok(validate(value), JSON.stringify(validate.errors, null, 1) + "\n" + JSON.stringify(value));
}

async function call(name, args) {
  const res = await client.callTool({ name, arguments: args });
  // Every answer must match the tool's own output schema (the SDK checks
  // too) and the REST schema of what the route would have answered.
  assertValid(toolOutputValidator(tools[name]), res.structuredContent);
  assert.equal(res.content[0].type, "text");
  return res;
}

async function post(body, headers = {}) {
  const res = await fetch(server.url + "/mcp", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

before(async () => {
  server = await startServer({ args: ["--workers", "2", "--max-sessions", "2"] });
  openapi = await (await fetch(server.url + "/v1/openapi.json")).json();
  client = new Client({ name: "scopebox-test", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(server.url + "/mcp")));
  // Also what lets the SDK check each answer against its tool's outputSchema.
  tools = Object.fromEntries((await client.listTools()).tools.map((t) => [t.name, t]));
});

after(async () => {
  await client?.close();
  await server?.stop();
});

describe("protocol", () => {
  test("initialize negotiates the SDK's latest revision; the server has tools", () => {
    assert.equal(client.getServerVersion().name, "scopebox");
    assert.ok(client.getServerCapabilities().tools);
    assert.match(client.getInstructions(), /run_python/);
  });

  test("every revision the SDK supports is accepted, an unknown one answered with ours", async () => {
    for (const v of SUPPORTED_PROTOCOL_VERSIONS) {
      const r = await post({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: v, capabilities: {}, clientInfo: { name: "t", version: "1" } } });
      assert.equal(r.status, 200);
      assert.equal(r.body.result.protocolVersion, v);
      // Only a name for the client's request ids (nothing is kept): see "cancellation".
      assert.match(r.headers.get("mcp-session-id"), /^[0-9a-f]{32}$/);
    }
    const r = await post({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "1999-01-01" } });
    assert.equal(r.body.result.protocolVersion, LATEST_PROTOCOL_VERSION);
  });

  test("ping", async () => {
    assert.deepEqual(await client.ping(), {});
  });

  test("a tool call in flight does not hold up other requests (the HTTP thread never waits on a worker)", async () => {
    let settled = false;
    const slow = client.callTool({ name: "run_python", arguments: { code: "import time\ntime.sleep(8)\n'slept'", timeout_ms: 20000 } }).then((r) => {
      settled = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 300)); // let it reach a worker
    assert.deepEqual((await post({ jsonrpc: "2.0", id: 8, method: "ping" })).body.result, {});
    const other = await post({ jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "run_python", arguments: { code: "1 + 1", mode: "eval" } } });
    assert.equal(other.body.result.structuredContent.result, 2);
    assert.equal(settled, false);
    assert.equal((await slow).structuredContent.result, "slept");
  });

  test("no initialize needed: a lone tools/call works", async () => {
    const r = await post({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "run_python", arguments: { code: "6*7", mode: "eval" } } });
    assert.equal(r.status, 200);
    assert.equal(r.body.id, 7);
    assert.equal(r.body.result.structuredContent.result, 42);
  });
});

describe("tools", () => {
  test("list: the four tools, with input and output schemas that compile", async () => {
    const list = Object.values(tools);
    assert.deepEqual(Object.keys(tools), ["run_python", "session_start", "session_run", "session_fork", "session_list", "session_end"]);
    for (const t of list) {
      assert.equal(t.inputSchema.type, "object");
      assert.equal(t.outputSchema.type, "object");
      assert.ok(t.description.length > 20);
      new Ajv2020({ strict: false }).compile(t.inputSchema);
      new Ajv2020({ strict: false }).compile(t.outputSchema);
    }
  });

  test("schemas are the REST schemas of openapi.json", () => {
    const rest = openapi.components.schemas;
    const rewrite = (node) => JSON.parse(JSON.stringify(node).replaceAll('"#/components/schemas/', '"#/$defs/'));
    const { session, ...runProps } = rest.RunRequest.properties;
    assert.ok(session);
    assert.deepEqual(tools.run_python.inputSchema.properties, rewrite(runProps));
    assert.deepEqual(tools.run_python.inputSchema.required, ["code"]);
    assert.deepEqual(tools.session_start.inputSchema.properties, rewrite(rest.SessionRequest.properties));
    const { session: sid, ...srunProps } = tools.session_run.inputSchema.properties;
    assert.equal(sid.pattern, openapi.components.parameters.SessionId.schema.pattern);
    assert.deepEqual(srunProps, rewrite(rest.SessionRunRequest.properties));
    const listParams = Object.fromEntries(openapi.paths["/v1/sessions"].get.parameters.map((p) => [p.name, { ...p.schema, ...(p.description ? { description: p.description } : {}) }]));
    assert.deepEqual(tools.session_list.inputSchema.properties, listParams);
    assert.deepEqual(tools.session_fork.inputSchema.properties, { session: sid });
    for (const [tool, answer] of [["run_python", "RunResult"], ["session_run", "RunResult"], ["session_start", "Session"], ["session_fork", "SessionFork"], ["session_list", "SessionList"], ["session_end", "Deleted"]]) {
      const out = tools[tool].outputSchema;
      assert.deepEqual(out.anyOf, [{ $ref: `#/$defs/${answer}` }, { $ref: "#/$defs/Failure" }]);
      for (const [name, schema] of Object.entries(out.$defs)) assert.deepEqual(schema, rewrite(rest[name]), `${tool}: $defs.${name}`);
    }
  });

  test("run_python with scope and dynamic bindings", async () => {
    const res = await call("run_python", {
      code: "import dynscope\ndef greet():\n    return greeting + ', ' + name\nprint(greet())\nwith dynscope.bind(greeting='hi'):\n    out = greet()\nout",
      scope: { name: "ada" },
      dynamic: { greeting: "hello" },
    });
    assertValid(restValidator("RunResult"), res.structuredContent);
    assert.equal(res.isError, false);
    assert.equal(res.structuredContent.stdout, "hello, ada\n");
    assert.equal(res.structuredContent.result, "hi, ada");
    assert.equal(res.structuredContent.dynamic.final[0].bindings.greeting, "hello");
    assert.equal(res.content[0].text, 'hello, ada\nresult: "hi, ada"\n');
    assert.ok(res.structuredContent.timing.run_ms >= 0);
  });

  test("run_python takes stdin and files as /v1/run does", async () => {
    const r = await call("run_python", { code: "input() + open('f.txt').read()", mode: "eval", stdin: "hello\n", files: [{ path: "f.txt", text: "!" }] });
    assert.equal(r.isError, false, JSON.stringify(r));
    assertValid(restValidator("RunResult"), r.structuredContent);
    assert.equal(r.structuredContent.result, "hello!");
    const bad = await call("run_python", { code: "1", files: [{ path: "../f.txt", text: "!" }] });
    assert.equal(bad.isError, true);
    assert.equal(bad.structuredContent.error.code, "invalid_path");
  });

  test("tagged values go in and come out as the REST API has them", async () => {
    const res = await call("run_python", { code: "(big + 1, sorted(tags))", mode: "eval", scope: { big: { $type: "int", value: "123456789012345678901234567890" }, tags: { $type: "set", items: ["b", "a"] } } });
    assert.deepEqual(res.structuredContent.result, { $type: "tuple", items: [{ $type: "int", value: "123456789012345678901234567891" }, ["a", "b"]] });
  });

  test("a snippet error is a tool result with isError and the Python error", async () => {
    const res = await call("run_python", { code: "def ratio(a, b):\n    return a / b\nratio(1, 0)" });
    assertValid(restValidator("RunResult"), res.structuredContent);
    assert.equal(res.isError, true);
    const err = res.structuredContent.error;
    assert.equal(err.type, "ZeroDivisionError");
    assert.equal(err.line, 2);
    assert.deepEqual(err.traceback.map((f) => f.line), [3, 2]);
    assert.match(res.content[0].text, /^Traceback \(most recent call last\):\n  line 3, in <module>\n    ratio\(1, 0\)\n  line 2, in ratio\n    return a \/ b\nZeroDivisionError: division by zero\n$/);
  });

  test("a timeout is a tool error with the REST failure", async () => {
    const res = await call("run_python", { code: "while True:\n    pass", timeout_ms: 200 });
    // The REST 504 body: a TimeoutResult, which says where the run stopped.
    assertValid(restValidator("TimeoutResult"), res.structuredContent);
    assert.equal(res.isError, true);
    assert.equal(res.structuredContent.error.code, "timeout");
    assert.match(res.content[0].text, /time limit of 200 ms/);
  });

  test("bad arguments are tool errors with the REST codes", async () => {
    for (const [args, code] of [[{}, "missing_field"], [{ code: "1", mode: "fast" }, "invalid_value"], [{ code: "1", session: "x" }, "unknown_field"], [{ code: 1 }, "invalid_type"], [{ code: "1", scope: { "not a name": 1 } }, "invalid_name"]]) {
      const res = await call("run_python", args);
      assert.equal(res.isError, true, JSON.stringify(args));
      assertValid(restValidator("Failure"), res.structuredContent);
      assert.equal(res.structuredContent.error.code, code, JSON.stringify(res.structuredContent));
    }
  });

  test("a session keeps its namespace across calls, until ended", async () => {
    const started = await call("session_start", { scope: { counter: 10 } });
    assertValid(restValidator("Session"), started.structuredContent);
    const id = started.structuredContent.id;
    assert.match(started.content[0].text, new RegExp(`^session ${id} started`));
    for (const want of [11, 12]) {
      const res = await call("session_run", { session: id, code: "counter += 1\ncounter" });
      assert.equal(res.isError, false);
      assert.equal(res.structuredContent.result, want);
    }
    const ended = await call("session_end", { session: id });
    assertValid(restValidator("Deleted"), ended.structuredContent);
    assert.deepEqual(ended.structuredContent, { ok: true, id });
    const gone = await call("session_run", { session: id, code: "counter" });
    assert.equal(gone.isError, true);
    assert.equal(gone.structuredContent.error.code, "session_not_found");
  });

  test("fork a session: a copy with the same state, the original untouched; list them", async () => {
    const started = await call("session_start", { scope: { n: 1 } });
    const id = started.structuredContent.id;
    await call("session_run", { session: id, code: "n += 1\nimport math" });
    const forked = await call("session_fork", { session: id });
    assertValid(restValidator("SessionFork"), forked.structuredContent);
    const copy = forked.structuredContent.id;
    assert.notEqual(copy, id);
    assert.equal(forked.structuredContent.forked_from, id);
    assert.match(forked.content[0].text, new RegExp(`^session ${copy} forked from ${id}`));
    await call("session_run", { session: copy, code: "n = 100" });
    assert.equal((await call("session_run", { session: id, code: "n", mode: "eval" })).structuredContent.result, 2);
    assert.equal((await call("session_run", { session: copy, code: "math.floor(n / 3)", mode: "eval" })).structuredContent.result, 33);

    const listed = await call("session_list", {});
    assertValid(restValidator("SessionList"), listed.structuredContent);
    const ids = listed.structuredContent.sessions.map((s) => s.id);
    assert.ok(ids.includes(id) && ids.includes(copy), JSON.stringify(ids));
    const page = await call("session_list", { limit: 1 });
    assert.equal(page.structuredContent.sessions.length, 1);
    assert.equal(typeof page.structuredContent.next, "string");
    const rest = await call("session_list", { after: page.structuredContent.next });
    assert.ok(!rest.structuredContent.sessions.some((s) => s.id === page.structuredContent.sessions[0].id));
    assert.equal((await call("session_list", { limit: 0 })).structuredContent.error.code, "invalid_value");

    for (const s of [id, copy]) await call("session_end", { session: s });
    const gone = await call("session_fork", { session: id });
    assert.equal(gone.isError, true);
    assert.equal(gone.structuredContent.error.code, "session_not_found");
  });

  test("an unknown tool is a JSON-RPC error (invalid params)", async () => {
    await assert.rejects(client.callTool({ name: "nope", arguments: {} }), (e) => e.code === -32602 && /unknown tool/.test(e.message));
  });
});

async function runsOf(outcome) {
  const text = await (await fetch(server.url + "/metrics")).text();
  return Number(new RegExp(`^scopebox_runs_total\\{outcome="${outcome}"\\} (\\d+)$`, "m").exec(text)[1]);
}

async function initialize() {
  const r = await post({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: "raw", version: "1" } } });
  return r.headers.get("mcp-session-id");
}

// A raw tools/call answered as an event stream: its JSON-RPC messages as they come.
async function* rpcStream(body, headers = {}) {
  const res = await fetch(server.url + "/mcp", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/event-stream/);
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of res.body) {
    buf += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      assert.match(block, /^event: message$/m);
      yield JSON.parse(block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n"));
    }
  }
}

const without = (obj, ...keys) => Object.fromEntries(Object.entries(obj).filter(([k]) => !keys.includes(k)));

describe("streamed output", () => {
  test("with onprogress, a run's output arrives as progress notifications, then the result", async () => {
    const code = "import sys, time\nprint('first')\nprint('oops', file=sys.stderr)\ntime.sleep(0.2)\nprint('second')\n'done'";
    const notes = [];
    const res = await client.callTool({ name: "run_python", arguments: { code } }, undefined, { onprogress: (p) => notes.push(p) });
    assertValid(toolOutputValidator(tools.run_python), res.structuredContent);
    const text = (stream) => notes.filter((n) => n._meta?.["scopebox/stream"] === stream).map((n) => n.message).join("");
    assert.equal(text("stdout"), "first\nsecond\n");
    assert.equal(text("stderr"), "oops\n");
    notes.forEach((n, i) => assert.equal(n.progress, i + 1));
    // The result is the one a call without progress gets.
    const plain = await call("run_python", { code });
    assert.equal(res.isError, false);
    assert.deepEqual(res.content, plain.content);
    assert.deepEqual(without(res.structuredContent, "timing"), without(plain.structuredContent, "timing"));
    assert.equal(res.structuredContent.result, "done");
  });

  test("session_run streams too; a snippet error still ends as a tool error", async () => {
    const start = await call("session_start", {});
    const session = start.structuredContent.id;
    const notes = [];
    const res = await client.callTool({ name: "session_run", arguments: { session, code: "print('in session')\n1/0" } }, undefined, { onprogress: (p) => notes.push(p) });
    assert.equal(notes.map((n) => n.message).join(""), "in session\n");
    assert.equal(res.isError, true);
    assert.equal(res.structuredContent.error.type, "ZeroDivisionError");
    await call("session_end", { session });
  });

  test("a progress token with Accept: application/json only: the plain answer", async () => {
    const r = await post({ jsonrpc: "2.0", id: 5, method: "tools/call", params: { name: "run_python", arguments: { code: "print(1)" }, _meta: { progressToken: 1 } } }, { accept: "application/json" });
    assert.equal(r.status, 200);
    assert.equal(r.body.result.structuredContent.stdout, "1\n");
  });
});

describe("cancellation", () => {
  test("aborting calls (notifications/cancelled) cancels their runs and frees their workers", async () => {
    const before = await runsOf("cancelled");
    // As many loops as workers: each one's first output says it is running.
    const calls = [0, 1].map(() => {
      const ac = new AbortController();
      let running;
      const started = new Promise((resolve) => (running = resolve));
      const p = client.callTool({ name: "run_python", arguments: { code: "import time\nprint('looping')\ntime.sleep(0.1)\nwhile True:\n    pass", timeout_ms: 60000 } },
        undefined, { signal: ac.signal, onprogress: running });
      return { ac, started, p };
    });
    await Promise.all(calls.map((c) => c.started));
    for (const c of calls) c.ac.abort();
    for (const c of calls) await assert.rejects(c.p);
    // Both workers answer the next calls (not only after the loops' time limit).
    const next = await Promise.all([0, 1].map(() => call("run_python", { code: "6 * 7", mode: "eval" })));
    assert.deepEqual(next.map((r) => r.structuredContent.result), [42, 42]);
    // The runs ended cancelled, not timed out (the worker answers a cancel at its next bytecode).
    for (let i = 0; i < 300 && (await runsOf("cancelled")) < before + 2; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await runsOf("cancelled"), before + 2);
  });

  test("a request id is scoped by its Mcp-Session-Id: the same id in two sessions, one cancelled", async () => {
    const [mine, theirs] = [await initialize(), await initialize()];
    assert.notEqual(mine, theirs);
    const tool = (code, progressToken) => ({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "run_python", arguments: { code, timeout_ms: 60000 }, _meta: { progressToken } } });
    const looping = rpcStream(tool("import time\nprint('looping')\ntime.sleep(0.1)\nwhile True:\n    pass", "a"), { "mcp-session-id": mine });
    const sleeping = rpcStream(tool("import time\nprint('sleeping')\ntime.sleep(1)\n'finished'", "b"), { "mcp-session-id": theirs });
    // Both run at once under id 7 (one run id per session and id).
    const [a, b] = await Promise.all([looping.next(), sleeping.next()]);
    assert.deepEqual([a.value.method, a.value.params.progressToken, b.value.params.progressToken], ["notifications/progress", "a", "b"]);
    const c = await post({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 7, reason: "test" } }, { "mcp-session-id": mine });
    assert.equal(c.status, 202);
    const last = async (stream) => {
      let msg;
      for await (msg of stream);
      return msg;
    };
    const [la, lb] = await Promise.all([last(looping), last(sleeping)]);
    assert.deepEqual([la.id, la.result.isError, la.result.structuredContent.error.code], [7, true, "cancelled"]);
    assert.deepEqual([lb.id, lb.result.isError, lb.result.structuredContent.result], [7, false, "finished"]);
  });
});

describe("bad JSON-RPC", () => {
  const rpcError = (r, status, code) => {
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.equal(r.body.jsonrpc, "2.0");
    assert.equal(r.body.error.code, code, JSON.stringify(r.body));
  };

  test("wrong version", async () => rpcError(await post({ jsonrpc: "1.0", id: 1, method: "ping" }), 400, -32600));
  test("not JSON", async () => rpcError(await post("{\"jsonrpc\": "), 400, -32700));
  test("not an object", async () => rpcError(await post("[]"), 400, -32600));
  test("unknown method", async () => {
    rpcError(await post({ jsonrpc: "2.0", id: 1, method: "resources/list" }), 200, -32601);
    await assert.rejects(client.request({ method: "prompts/list" }, (await import("@modelcontextprotocol/sdk/types.js")).ListPromptsResultSchema), (e) => e.code === -32601);
  });
  test("missing params", async () => {
    rpcError(await post({ jsonrpc: "2.0", id: 1, method: "tools/call" }), 200, -32602);
    rpcError(await post({ jsonrpc: "2.0", id: 1, method: "initialize" }), 200, -32602);
    rpcError(await post({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { arguments: {} } }), 200, -32602);
  });
  test("a batch is refused from clients of 2025-06-18 and later (the revision removed them)", async () => {
    for (const v of ["2025-06-18", LATEST_PROTOCOL_VERSION]) {
      rpcError(await post([{ jsonrpc: "2.0", id: 1, method: "ping" }], { "mcp-protocol-version": v }), 400, -32600);
    }
  });
  test("a batch from a 2025-03-26 client (no MCP-Protocol-Version header): answered in order, tool calls included", async () => {
    const r = await post([
      { jsonrpc: "2.0", id: "a", method: "tools/call", params: { name: "run_python", arguments: { code: "6 * 7", mode: "eval" } } },
      { jsonrpc: "2.0", method: "notifications/initialized" },
      { jsonrpc: "2.0", id: "b", method: "ping" },
      { jsonrpc: "2.0", id: "c", method: "tools/call", params: { name: "run_python", arguments: { code: "1/0" } } },
      { jsonrpc: "2.0", id: "d", method: "nope" },
      { jsonrpc: "2.0", id: "e", method: "tools/call", params: { name: "run_python", arguments: {} } },
      { jsonrpc: "2.0", id: "f", method: "tools/call", params: { name: "session_run", arguments: { session: "nope", code: "1" } } },
    ]);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.map((m) => m.id), ["a", "b", "c", "d", "e", "f"]);
    assert.equal(r.body[4].result.structuredContent.error.code, "missing_field");
    assert.equal(r.body[5].result.structuredContent.error.code, "session_not_found");
    assert.equal(r.body[0].result.structuredContent.result, 42);
    assert.deepEqual(r.body[1].result, {});
    assert.equal(r.body[2].result.isError, true);
    assert.equal(r.body[3].error.code, -32601);
    const none = await post([{ jsonrpc: "2.0", method: "notifications/initialized" }], { "mcp-protocol-version": "2025-03-26" });
    assert.equal(none.status, 202);
    rpcError(await post([]), 400, -32600);
  });
  test("an unsupported MCP-Protocol-Version header", async () => {
    rpcError(await post({ jsonrpc: "2.0", id: 1, method: "ping" }, { "mcp-protocol-version": "2099-01-01" }), 400, -32600);
  });
  test("notifications and responses: 202, no body", async () => {
    for (const msg of [{ jsonrpc: "2.0", method: "notifications/initialized" }, { jsonrpc: "2.0", id: 3, result: {} }]) {
      const r = await post(msg);
      assert.equal(r.status, 202);
      assert.equal(r.body, null);
    }
  });
  test("GET (no server-initiated stream) and DELETE: 405", async () => {
    for (const method of ["GET", "DELETE"]) {
      const res = await fetch(server.url + "/mcp", { method, headers: { accept: "text/event-stream" } });
      assert.equal(res.status, 405);
      assert.equal(res.headers.get("allow"), "POST");
    }
  });
  test("a body over --max-body-bytes: 413; not labelled JSON: 415 (as JSON-RPC errors)", async () => {
    const big = { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "run_python", arguments: { code: "#" + "x".repeat(1100000) } } };
    rpcError(await post(big), 413, -32600);
    rpcError(await post({ jsonrpc: "2.0", id: 1, method: "ping" }, { "content-type": "text/plain" }), 415, -32600);
  });
  test("Accept without application/json: 406", async () => {
    rpcError(await post({ jsonrpc: "2.0", id: 1, method: "ping" }, { accept: "text/event-stream" }), 406, -32600);
  });
  test("a foreign Origin is refused (DNS rebinding), a loopback one is not", async () => {
    rpcError(await post({ jsonrpc: "2.0", id: 1, method: "ping" }, { origin: "http://evil.example" }), 403, -32000);
    const ok = await post({ jsonrpc: "2.0", id: 1, method: "ping" }, { origin: "http://localhost:6274" });
    assert.equal(ok.status, 200);
  });
});

describe("--mcp-allowed-origins", () => {
  test("lets a listed origin in, and only it", async () => {
    const other = await startServer({ args: ["--workers", "1", "--mcp-allowed-origins", "https://app.example"] });
    try {
      const ping = (origin) => fetch(other.url + "/mcp", { method: "POST", headers: { "content-type": "application/json", origin }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }) });
      assert.equal((await ping("https://app.example")).status, 200);
      assert.equal((await ping("https://evil.example")).status, 403);
    } finally {
      await other.stop();
    }
  });
});
