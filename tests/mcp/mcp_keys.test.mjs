// POST /mcp with API keys on (--api-keys-file): the same bearer key as the
// REST API, through the official SDK's Streamable HTTP client transport
// (its requestInit headers); without a key the SDK cannot even initialize.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

import { ALICE, BOB, startKeyedServer } from "../browser/server.mjs";

let server;

async function connect(key) {
  const client = new Client({ name: "scopebox-keys-test", version: "1.0.0" });
  const requestInit = key ? { headers: { Authorization: `Bearer ${key}` } } : undefined;
  await client.connect(new StreamableHTTPClientTransport(new URL(server.url + "/mcp"), { requestInit }));
  return client;
}

before(async () => {
  server = await startKeyedServer();
});

after(() => server?.stop());

test("without a key, or with a wrong one, the SDK cannot initialize", async () => {
  await assert.rejects(connect(null), /401|nauthorized/);
  await assert.rejects(connect(ALICE.slice(0, -1)), /401|nauthorized/);
  const res = await fetch(server.url + "/mcp", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
  });
  assert.equal(res.status, 401);
  assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer/);
});

test("with a key the tools run, and a session belongs to the key that made it", async () => {
  const alice = await connect(ALICE);
  const bob = await connect(BOB);
  try {
    const run = await alice.callTool({ name: "run_python", arguments: { code: "6 * 7", mode: "eval" } });
    assert.equal(run.isError ?? false, false, JSON.stringify(run));
    assert.equal(run.structuredContent.result, 42);
    const started = await alice.callTool({ name: "session_start", arguments: { scope: { n: 1 } } });
    const id = started.structuredContent.id;
    assert.ok(id, JSON.stringify(started));
    const mine = await alice.callTool({ name: "session_run", arguments: { session: id, code: "n + 1", mode: "eval" } });
    assert.equal(mine.structuredContent.result, 2, JSON.stringify(mine));
    const theirs = await bob.callTool({ name: "session_run", arguments: { session: id, code: "n", mode: "eval" } });
    assert.equal(theirs.isError, true, JSON.stringify(theirs));
    assert.match(JSON.stringify(theirs.structuredContent), /session_not_found/);
  } finally {
    await alice.close();
    await bob.close();
  }
});

test("a notifications/cancelled reaches only its own key's run, even with another's Mcp-Session-Id", async () => {
  const alice = await connect(ALICE);
  const bob = await connect(BOB);
  try {
    const sid = alice.transport.sessionId;
    assert.match(sid, /^[0-9a-f]{32}$/);
    let running;
    const started = new Promise((resolve) => (running = resolve));
    // The first request id after initialize: alice's client counts from 0.
    const call = alice.callTool({ name: "run_python", arguments: { code: "import time\nprint('working')\ntime.sleep(2)\n'finished'" } },
      undefined, { onprogress: running });
    await started;
    // Bob, knowing alice's session id and guessing every small request id.
    for (let id = 0; id < 10; id++) {
      const res = await fetch(server.url + "/mcp", {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: `Bearer ${BOB}`, "mcp-session-id": sid },
        body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: id } }),
      });
      assert.equal(res.status, 202);
    }
    const r = await call;
    assert.equal(r.isError, false, JSON.stringify(r));
    assert.equal(r.structuredContent.result, "finished");
  } finally {
    await alice.close();
    await bob.close();
  }
});
