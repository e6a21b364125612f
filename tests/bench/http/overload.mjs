// Overload probe: `conns` clients on keep-alive connections each post the
// same body back to back for `seconds`; prints, as JSON, how many answers
// of each status came back, how many requests got no answer at all, and
// latency percentiles of the accepted (200) ones alone, which wrk cannot
// separate from the fast 503s.
//   node overload.mjs URL BODY_FILE CONNS SECONDS [--honour-retry-after]
// With --honour-retry-after a client that gets a 503 waits what its
// Retry-After says (times a random 0.5..1.5, so that the clients do not come
// back in step) before its next request, as the API asks clients to; without
// it, it asks again at once (a flood).
import http from "node:http";
import { readFileSync } from "node:fs";

const [url, bodyFile, conns, seconds, mode] = process.argv.slice(2);
const polite = mode === "--honour-retry-after";
const body = readFileSync(bodyFile);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(conns) });
const target = new URL("/v1/run", url);
const deadline = performance.now() + Number(seconds) * 1000;
const statuses = {};
const accepted = [];
let lost = 0;

function post() {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.request(target, {
      method: "POST", agent,
      headers: { "Content-Type": "application/json", "Content-Length": body.length },
    }, (res) => {
      res.resume();
      res.on("end", () => {
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        if (res.statusCode === 200) accepted.push(performance.now() - t0);
        const after = Number(res.headers["retry-after"]);
        resolve(polite && res.statusCode === 503 && after > 0 ? after * 1000 * (0.5 + Math.random()) : 0);
      });
    });
    req.setTimeout(60000, () => req.destroy(new Error("timeout")));
    req.on("error", () => { lost++; resolve(0); });
    req.end(body);
  });
}

async function client() {
  while (performance.now() < deadline) {
    const wait = Math.min(await post(), deadline - performance.now());
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

await Promise.all(Array.from({ length: Number(conns) }, client));
agent.destroy();
accepted.sort((a, b) => a - b);
const pct = (q) => accepted.length ? accepted[Math.min(accepted.length - 1, Math.round(q / 100 * (accepted.length - 1)))] : null;
console.log(JSON.stringify({ statuses, lost, accepted: accepted.length, p50_ms: pct(50), p99_ms: pct(99) }));
