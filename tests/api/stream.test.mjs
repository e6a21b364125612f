// A streamed run read with Node's own fetch, the body as a stream (issue 15,
// section 3): the first stdout event of `print(1); time.sleep(1); print(2)`
// is in hand while the run still runs. Timing is compared with the run's own
// sleep only, never with a fixed threshold.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { startServer } from "../browser/server.mjs";

let server;
before(async () => {
  server = await startServer({ args: ["--workers", "1"] });
});
after(async () => {
  await server?.stop();
});

// Parses an SSE byte stream into {comment, event, data, at} as they arrive.
async function* events(body) {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of body) {
    text += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = text.indexOf("\n\n")) >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      const ev = { at: performance.now(), comment: null, event: null, data: [] };
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) ev.comment = line.slice(1).trim();
        else if (line.startsWith("event:")) ev.event = line.slice(6).trim();
        else if (line.startsWith("data:")) ev.data.push(line.slice(5).replace(/^ /, ""));
      }
      yield { ...ev, data: JSON.parse(ev.data.join("\n")) };
    }
  }
}

test("the first stdout event arrives before the run ends", async () => {
  const res = await fetch(`${server.url}/v1/run`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify({ code: "import time\nprint(1)\ntime.sleep(1)\nprint(2)", run_id: "node-1" }),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/event-stream/);
  assert.equal(res.headers.get("scopebox-run-id"), "node-1");
  const seen = [];
  for await (const ev of events(res.body)) seen.push(ev);
  const last = seen.at(-1);
  assert.equal(last.event, "result");
  assert.equal(last.comment, "status 200");
  assert.equal(last.data.stdout, "1\n2\n");
  assert.deepEqual(seen.slice(0, -1).map((e) => e.event), seen.slice(0, -1).map(() => "stdout"));
  assert.equal(seen.slice(0, -1).map((e) => e.data.text).join(""), "1\n2\n");
  const first = seen.find((e) => e.event === "stdout");
  assert.equal(first.data.text, "1");
  // One second of the snippet's own sleep lies between the first print and
  // the end: streamed, the event arrived at least about that much earlier.
  assert.ok(last.at - first.at >= 900, `first event ${first.at}, result ${last.at}`);
});

test("aborting the fetch cancels the run, and the worker serves the next one", async () => {
  const ctl = new AbortController();
  const res = await fetch(`${server.url}/v1/run`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify({ code: "print('go', flush=True)\nwhile True:\n    pass", run_id: "node-2", timeout_ms: 60000 }),
    signal: ctl.signal,
  });
  const it = events(res.body);
  const { value } = await it.next();
  assert.deepEqual([value.event, value.data], ["stdout", { text: "go" }]);
  ctl.abort();
  // One worker: this runs only once the loop above has stopped.
  const next = await fetch(`${server.url}/v1/run`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ code: "1 + 1", mode: "eval" }),
  });
  assert.equal(next.status, 200);
  assert.equal((await next.json()).result, 2);
  assert.match(server.log(), /\(node-2\) cancelled: its client went away/);
});
