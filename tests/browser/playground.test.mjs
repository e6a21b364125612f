// The playground end to end: headless Chromium (Debian's chromium, driven
// by playwright-core) against a real scopebox-server on a loopback port.
// Every example runs on both engines and the rendered answers must match;
// then an error, timeouts and Stop, sessions, the shareable URL, keyboard
// use, themes and narrow screens. Screenshots of the main states go to
// $SCOPEBOX_SCREENSHOTS; the page weight is printed and saved there too.
//
//   SCOPEBOX_SERVER=build/scopebox-server SCOPEBOX_CHROMIUM=/usr/bin/chromium \
//   SCOPEBOX_SCREENSHOTS=build/screenshots node --test tests/browser/playground.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startServer } from "./server.mjs";
import { EXAMPLES } from "../../web/src/examples.js";

const SHOTS = process.env.SCOPEBOX_SCREENSHOTS ?? join(process.cwd(), "screenshots");
const CHROMIUM = process.env.SCOPEBOX_CHROMIUM ?? "/usr/bin/chromium";
const LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync"];
const WIDE = { width: 1440, height: 900 };
const NARROW = { width: 390, height: 844 };
const BOOT_MS = 90000;

let server, browser, context, page;
const problems = []; // console errors and page errors nobody expected
let allowed = []; // console error patterns a test expects (HTTP 504 of a timeout, say)

function watch(p, label) {
  p.on("console", (m) => {
    if (m.type() !== "error") return;
    const text = m.text();
    if (allowed.some((re) => re.test(text))) return;
    problems.push(`${label} console.error: ${text}`);
  });
  p.on("pageerror", (e) => problems.push(`${label} page error: ${e.message}`));
}

function assertNoProblems() {
  const found = problems.splice(0);
  assert.deepEqual(found, [], "console errors or page errors");
}

async function withAllowed(patterns, fn) {
  allowed = patterns;
  try {
    return await fn();
  } finally {
    allowed = [];
  }
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  // A small output cap, so that the truncation test prints little.
  server = await startServer({ args: ["--workers", "2", "--output-cap-bytes", "65536"] });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
  context = await browser.newContext({ viewport: WIDE, colorScheme: "light" });
  page = await context.newPage();
  watch(page, "main");
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

// ---- helpers ------------------------------------------------------------------

async function shot(name, p = page, full = true) {
  await p.screenshot({ path: join(SHOTS, name), fullPage: full });
}

async function runs(p = page) {
  return Number(await p.evaluate(() => document.body.dataset.runs || "0"));
}

// Clicks Run (or presses the keys) and waits for the answer to be drawn.
async function run(p = page, { keys = null, timeout = 60000 } = {}) {
  const before = await runs(p);
  if (keys) await p.keyboard.press(keys);
  else await p.click("#run");
  await p.waitForFunction((n) => Number(document.body.dataset.runs || "0") > n, before, { timeout });
  return p.evaluate(() => document.body.dataset.outcome);
}

async function useEngine(name, p = page) {
  await p.click(`label[for=engine-${name}]`);
  await p.waitForSelector(`#engine-status[data-state=ready]`, { timeout: BOOT_MS });
  assert.equal(await p.evaluate(() => document.documentElement.dataset.engine), name);
}

async function loadExample(id, p = page) {
  await p.selectOption("#examples", id);
  await p.waitForFunction(() => document.body.dataset.outcome === "");
}

// innerText puts a line break between flex items: trees are read flat.
const text = async (sel, p = page) => (await p.locator(sel).first().innerText()).replace(/\s+/g, " ").trim();
const preText = (sel, p = page) => p.locator(sel).first().innerText();
const count = (sel, p = page) => p.locator(sel).count();

// The value's one-line repr, as drawn at the top of the value tree.
async function valueRepr(p = page) {
  return p.locator(".value-tree > .t-row .v, .value-tree > details > summary .v").first().innerText();
}

// What a run drew, minus what differs between engines by nature: timing,
// object addresses, the HTTP line.
async function rendered(p = page) {
  const parts = await p.evaluate(() => ["#status .chip", "#result", "#scope-after", "#dynamic-view"]
    .map((s) => document.querySelector(s).innerText));
  return parts.join("\n---\n").replace(/ at 0x[0-9a-f]+/g, " at 0x…");
}

// The Dynamic scope panel's moments, in order: kind (snapshot, raise,
// final), the line, the heading, and each frame's text, innermost first.
async function momentsOf(p = page) {
  return p.evaluate(() => [...document.querySelectorAll("#dynamic-view .moment")].map((m) => ({
    kind: m.dataset.kind,
    line: m.dataset.line ? Number(m.dataset.line) : null,
    head: m.querySelector(".moment-head").innerText.replace(/\s+/g, " ").trim(),
    frames: [...m.querySelectorAll(".frame")].map((f) => f.innerText.replace(/\s+/g, " ").trim()),
  })));
}

// Asserts the moments: [kind, line, [frame patterns...]] each.
async function assertMoments(want, p = page) {
  const got = await momentsOf(p);
  const shown = JSON.stringify(got, null, 1);
  assert.deepEqual(got.map((m) => [m.kind, m.line]), want.map(([k, l]) => [k, l]), shown);
  want.forEach(([, , frames], i) => {
    assert.equal(got[i].frames.length, frames.length, `moment ${i + 1}: ${shown}`);
    frames.forEach((re, j) => assert.match(got[i].frames[j], re, `moment ${i + 1}, frame ${j + 1}: ${shown}`));
  });
  return got;
}

const VIEWS = { "#code-editor": "code", "#scope-editor": "scope", "#dynamic-editor": "dynamic" };

async function editorText(sel, p = page) {
  return p.evaluate((k) => window.scopebox.views[k].state.doc.toString(), VIEWS[sel]);
}

// Replaces an editor's text as one edit, as a paste would.
async function setEditor(sel, value, p = page) {
  await p.evaluate(([k, v]) => {
    const view = window.scopebox.views[k];
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: v }, userEvent: "input.paste" });
  }, [VIEWS[sel], value]);
}

// What each example must show; the same checks run on both engines.
const CHECKS = {
  async hello() {
    assert.equal(await valueRepr(), "'hello, ada!'");
    assert.match(await text("#scope-after"), /ADDED\s*message = 'hello, ada!'/);
    // The snapshot greet() took shows where `user` was found; at the end,
    // only the root binding is left.
    const m = await assertMoments([
      ["snapshot", 6, [/^<module>\(\) line 10 innermost user = 'ada'$/, /^<request> .*greeting = 'hello'$/]],
      ["final", null, [/^<request> .*greeting = 'hello'$/]],
    ]);
    assert.match(m[0].head, /dynscope\.snapshot\(\) at line 6 in greet\(\)/);
  },
  async generator() {
    const out = await preText(".stream-stdout pre");
    assert.match(out, /^dynscope: {4}in-gen unbound$/m);
    assert.match(out, /^dynscope: {4}in-gen caller$/m);
    assert.match(out, /^dynscope: {4}unbound$/m);
    assert.match(out, /^contextvars: in-gen in-gen$/m);
    assert.match(out, /^contextvars: caller caller$/m);
    assert.match(out, /^contextvars: in-gen$/m);
    // While gen() runs its x is on top, the caller's shadowed; suspended, it
    // is not on the stack at all.
    await assertMoments([
      ["snapshot", 7, [/^gen\(\) line 7 innermost x = 'in-gen'$/]],
      ["snapshot", 7, [/^gen\(\) line 7 innermost x = 'in-gen'$/, /^<module>\(\) line 13 shadowed x = 'caller'$/i]],
      ["snapshot", 14, [/^<module>\(\) line 14 innermost x = 'caller'$/]],
      ["final", null, []],
    ]);
  },
  async comprehension() {
    assert.equal(await valueRepr(), "[(0, 'a'), (0, 'b'), (1, 'a'), (2, 'a'), (2, 'b')]");
    assert.match(await text("#scope-after"), /0 added, 0 changed, 0 removed/);
    await assertMoments([["final", null, [/^<request> .*skip = \{\(1, 'b'\)\}$/]]]);
    assert.match(await text("#dynamic-view"), /root bindings \(the Dynamic JSON\)/);
  },
  async dysco() {
    assert.match(await preText(".stream-stdout pre"), /\[r-42\] grace \(guest\) signed in\n\[r-42\] ada \(admin\) signed in\nafter the calls, user is bound: False/);
    // Both calls' stacks in order, the second the snippet's value.
    const m = await assertMoments([
      ["snapshot", 7, [/^handle\(\) line 12 innermost role = 'guest' user = 'grace'$/, /^<request> .*request_id = 'r-42'$/]],
      ["snapshot", 7, [/^handle\(\) line 12 innermost role = 'admin' user = 'ada'$/, /^<request> .*request_id = 'r-42'$/]],
      ["final", null, [/^<request> .*request_id = 'r-42'$/]],
    ]);
    assert.doesNotMatch(m[0].head, /returned as the value/);
    assert.match(m[1].head, /returned as the value/);
    // The value itself (the snippet's list) names the root frame
    // `<request>`, never the runner's own frame.
    const top = page.locator(".value-tree > details > summary").first();
    await top.click();
    const value = await page.locator(".value-tree").first().evaluate((el) => el.textContent);
    await top.click();
    assert.match(value, /'function'\W+'<request>'\W+'file'\W+None/);
    assert.doesNotMatch(value, /scopebox_worker|runner\.py/);
  },
  async block() {
    assert.equal(await valueRepr(), "(10, [5, 10])");
    // count and history are main()'s locals, not bindings: only step shows.
    await assertMoments([
      ["snapshot", 7, [/^main\(\) line 12 innermost step = 5$/]],
      ["snapshot", 7, [/^main\(\) line 13 innermost step = 5$/]],
      ["final", null, []],
    ]);
  },
  async values() {
    // The same text on both engines (the parity test compares the views);
    // here, that the text is the exact value.
    assert.match(await valueRepr(), /^\{'pi': 3\.14159, 'third': 0\.3333333333333333, 'big': 1267650600228229401496703205376, /);
    const tree = (await page.locator(".value-tree").first().innerText()).replace(/\s+/g, " ");
    for (const shown of [/'primes'\W+\{2, 3, 5, 7\}/, /'price'\W+Decimal\('19\.99'\)/,
      /'when'\W+datetime\(2026-12-01T09:30:00\)/, /'raw'\W+b'\\x00scope'/]) {
      assert.match(tree, shown);
    }
    await assertMoments([
      ["snapshot", 4, [/^<module>\(\) line 4 innermost limit = 1180591620717411303424 rate = Decimal\('0\.07'\)$/]],
      ["final", null, []],
    ]);
  },
  async error() {
    assert.equal(await text("#status .chip"), "ZeroDivisionError");
    assert.match(await text(".error-box .error-head"), /ZeroDivisionError: division by zero/);
    assert.equal(await count(".traceback li"), 2);
    assert.match(await text(".traceback li:nth-child(1)"), /line 8 in <module>/);
    assert.match(await text(".traceback li:nth-child(2)"), /line 4 in ratio/);
    assert.equal(await count('#code-editor .cm-error-line[data-error-line="4"]'), 1);
    assert.match(await text("#code-editor .cm-error-note"), /ZeroDivisionError: division by zero/);
    assert.match(await text("#scope-after"), /totals = \{'done': 3, 'failed': 0\}/);
    // The raise point keeps `stage`, which the end of the run no longer has.
    const m = await assertMoments([
      ["raise", 4, [/^<module>\(\) line 8 innermost stage = 'rates'$/]],
      ["final", null, []],
    ]);
    assert.match(m[0].head, /ZeroDivisionError at line 4 in ratio\(\)/);
  },
  async timeout() {
    assert.equal(await page.evaluate(() => document.body.dataset.outcome), "timeout");
    assert.equal(await text("#status .chip"), "Timed out");
    assert.match(await text("#result"), /time limit/);
    // What it printed and the snapshot it took before it was stopped.
    assert.equal(await preText(".stream-stdout pre"), "counting…\n");
    await assertMoments([
      ["snapshot", 6, [/^<module>\(\) line 6 innermost phase = 'counting'$/]],
      ["final", null, []],
    ]);
  },
  async session() {
    assert.equal(await valueRepr(), "1");
    await assertMoments([["final", null, [/^<request> .*run_by = 'ada'$/]]]);
  },
};

// Each example as drawn, at desktop and phone size (the acceptance's
// screenshots), with no horizontal scroll on the phone.
const PHONE = { width: 390, height: 844 };
async function exampleShots(engine, id) {
  mkdirSync(join(SHOTS, "examples"), { recursive: true });
  await shot(`examples/${engine}-${id}-1440x900.png`);
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(50);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth + 1), `${engine} ${id}: no horizontal scroll at 390 px`);
  await shot(`examples/${engine}-${id}-390x844.png`);
  await page.setViewportSize(WIDE);
}

// ---- tests --------------------------------------------------------------------------

test("the page loads cross-origin isolated, with the server engine and no console errors", async () => {
  const res = await page.goto(server.url + "/");
  const headers = res.headers();
  assert.equal(headers["cross-origin-opener-policy"], "same-origin");
  assert.equal(headers["cross-origin-embedder-policy"], "require-corp");
  assert.equal(headers["cross-origin-resource-policy"], "same-origin");
  assert.ok(headers.etag, "static files carry an ETag");
  await page.waitForSelector("html[data-ready]");
  assert.equal(await page.title(), "scopebox playground");
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), true);
  await page.waitForSelector("#engine-status[data-state=ready]");
  assert.match(await text("#engine-status"), /workers up/);
  assert.match(await editorText("#code-editor"), /dynscope\.bind\(user=name\)/);
  // Python is highlighted: a keyword takes the theme's keyword colour.
  const colors = await page.evaluate(() => {
    const span = [...document.querySelectorAll("#code-editor .cm-line span")].find((s) => s.textContent === "import");
    const probe = document.createElement("span");
    probe.style.color = "var(--hl-keyword)";
    document.body.append(probe);
    const want = getComputedStyle(probe).color;
    probe.remove();
    return [span && getComputedStyle(span).color, want];
  });
  assert.equal(colors[0], colors[1]);
  await shot("01-start-light.png");
  assertNoProblems();
});

const serverViews = {};

test("every example on the server engine", async () => {
  await withAllowed([/status of 504/], async () => {
    for (const ex of EXAMPLES) {
      await loadExample(ex.id);
      assert.equal(await editorText("#code-editor"), ex.code);
      await run();
      await CHECKS[ex.id]();
      serverViews[ex.id] = await rendered();
      await exampleShots("server", ex.id);
      if (ex.id === "dysco") await shot("02-server-dynamic-stack.png");
      if (ex.id === "error") await shot("03-server-error.png");
      if (ex.id === "timeout") await shot("04-server-timeout.png", page, false);
    }
  });
  assertNoProblems();
});

test("every example in the browser engine matches the server's answer", async () => {
  await useEngine("browser");
  assert.match(await text("#engine-status"), /Python 3\.14.*dynscope/);
  for (const ex of EXAMPLES) {
    await loadExample(ex.id);
    await run();
    await CHECKS[ex.id]();
    if (ex.id === "generator") await shot("05-browser-generator.png");
    await exampleShots("browser", ex.id);
    const view = await rendered();
    if (ex.id === "timeout") {
      // Both stop the run; only the wording of who stopped it may differ.
      assert.match(view, /^Timed out/);
    } else {
      assert.equal(view, serverViews[ex.id], `example ${ex.id}: the engines drew different answers`);
    }
  }
  assertNoProblems();
});

test("the browser engine shows output live; Stop interrupts a long run, keeps what it printed, and the interpreter lives on", async () => {
  await loadExample("timeout");
  await setEditor("#code-editor", "import dynscope\nprint('tick')\nn = 0\nwith dynscope.bind(phase='spinning'):\n    dynscope.snapshot()\n    while True:\n        n += 1\n");
  await page.fill("#timeout", "60000");
  await page.dispatchEvent("#timeout", "change");
  const before = await runs();
  await page.click("#run");
  await page.waitForSelector("#stop:not([hidden])");
  // The print is on the page while Python still spins in its worker.
  await page.waitForSelector('#result .live-output:has-text("tick")', { timeout: 30000 });
  assert.equal(await page.evaluate(() => document.body.dataset.outcome), "running");
  const t0 = Date.now();
  await page.click("#stop");
  await page.waitForFunction((n) => Number(document.body.dataset.runs) > n, before);
  assert.ok(Date.now() - t0 < 3000, "the stop took effect at once");
  assert.equal(await page.evaluate(() => document.body.dataset.outcome), "stopped");
  assert.equal(await text("#status .chip"), "Stopped");
  // What it printed and the snapshot it took are kept, with where it stopped.
  assert.equal(await preText(".stream-stdout pre"), "tick\n");
  assert.match(await text("#result .stopped-at"), /Interrupted at line [67]\b/);
  await assertMoments([["snapshot", 5, [/^<module>\(\) line 5 innermost phase = 'spinning'$/]], ["final", null, []]]);
  await shot("06-browser-stopped.png", page, false);
  // Interrupted, not killed: the next run answers at once.
  await setEditor("#code-editor", "6 * 7");
  await page.click("label[for=mode-eval]");
  assert.equal(await run(), "ok");
  assert.equal(await valueRepr(), "42");
  assert.match(await text("#engine-status"), /booted in/);
  await page.fill("#timeout", "5000");
  await page.dispatchEvent("#timeout", "change");
  assertNoProblems();
});

test("the browser engine works offline once loaded", async () => {
  await context.setOffline(true);
  try {
    await loadExample("comprehension");
    assert.equal(await run(), "ok");
    await CHECKS.comprehension();
  } finally {
    await context.setOffline(false);
  }
  assertNoProblems();
});

// One installer (wasm/runtime/install.mjs) sets Python up in both engines:
// the side module's fixed time (import caches are the same in every
// interpreter) and no importlib.metadata, which importlib.invalidate_caches()
// imported into the browser engine's copy of the boot.
test("the browser engine's Python is set up as the server's workers", async () => {
  const probe = "import os, sys, dynscope\n" +
    "(os.stat(dynscope.__file__).st_mtime, 'importlib.metadata' in sys.modules)\n";
  const seen = {};
  for (const engine of ["server", "browser"]) {
    await useEngine(engine);
    await setEditor("#code-editor", probe);
    await setEditor("#scope-editor", "{}");
    await setEditor("#dynamic-editor", "{}");
    await page.click("label[for=mode-exec]");
    assert.equal(await run(), "ok", engine);
    seen[engine] = await valueRepr();
  }
  assert.equal(seen.browser, "(1000000000.0, False)");
  assert.equal(seen.server, seen.browser);
  assertNoProblems();
});

test("the scope editors check JSON and names as you type", async () => {
  await useEngine("server");
  await loadExample("hello");
  await setEditor("#scope-editor", '{"name": "ada",}');
  await page.waitForSelector("#scope-error:not([hidden])");
  assert.match(await text("#scope-error"), /^line 1, column \d+: /);
  assert.equal(await count("#scope-editor.invalid"), 1);
  await shot("07-invalid-scope.png", page, false);
  // Running is refused with the reason, and nothing is sent.
  await page.click("#run");
  await page.waitForSelector("#result .error-box");
  assert.match(await text("#result"), /The Scope JSON is not valid/);
  await setEditor("#scope-editor", '{"class": 1}');
  await page.waitForFunction(() => /keyword/.test(document.querySelector("#scope-error").textContent));
  await setEditor("#dynamic-editor", "[1, 2]");
  await page.waitForFunction(() => /JSON object/.test(document.querySelector("#dynamic-error").textContent));
  await setEditor("#scope-editor", '{"name": "grace"}');
  await setEditor("#dynamic-editor", '{"greeting": "hi"}');
  await page.waitForSelector("#scope-error[hidden]", { state: "attached" });
  await page.waitForSelector("#dynamic-error[hidden]", { state: "attached" });
  assert.equal(await run(), "ok");
  assert.equal(await valueRepr(), "'hi, grace!'");
  // The server's own validation is shown too (a tagged value it refuses).
  await withAllowed([/status of 400/], async () => {
    await setEditor("#scope-editor", '{"name": {"$type": "int", "value": "x"}}');
    assert.equal(await run(), "api-error");
    assert.match(await text("#result"), /invalid_value/);
  });
  assertNoProblems();
});

test("output past the cap is cut, and the cut is shown", async () => {
  await useEngine("server");
  await loadExample("hello");
  await page.click("label[for=mode-exec]");
  await setEditor("#code-editor", "import sys\nprint('x' * 100000)\nprint('careful', file=sys.stderr)\n");
  assert.equal(await run(), "ok");
  // Both streams written: the combined view first (cut at the same cap,
  // before the stderr line), each stream on its own behind a disclosure.
  assert.match(await text(".stream-output .stream-head"), /truncated/);
  assert.equal(await count(".stream-output .out-stderr"), 0);
  await page.click(".stream-separate > summary");
  assert.match(await text(".stream-stdout .stream-head"), /stdout truncated/);
  assert.equal((await preText(".stream-stdout pre")).length, 65536);
  assert.equal(await preText(".stream-stderr pre"), "careful\n");
  assert.equal(await count(".stream-stderr .chip"), 0);
  assertNoProblems();
});

// Input and files (issue 15): the same stdin, file and collect pattern on
// both engines; the combined output interleaves the streams as written; a
// stateless run's files are gone at the next run.
test("stdin, files and collect on both engines, with the output in order", async () => {
  const code = "import sys\nname = input('name? ')\nprint('hi', name)\nprint('warn', file=sys.stderr)\n" +
    "print(open('data.txt').read())\nopen('out/res.txt', 'w').write(name.upper())";
  for (const engine of ["server", "browser"]) {
    await useEngine(engine);
    await loadExample("hello");
    await page.click("label[for=mode-exec]");
    if (!(await page.evaluate(() => document.querySelector("#io-panel").open))) await page.click("#io-panel > summary");
    await setEditor("#code-editor", code);
    await page.fill("#stdin", "ada\n");
    await page.click("#file-add");
    await page.fill(".io-file .file-path", "data.txt");
    await page.fill(".io-file .file-text", "file body");
    await page.click("#file-add");
    await page.fill(".io-file:nth-child(2) .file-path", "out/.keep");
    await page.fill("#collect", "out/*.txt");
    assert.match(await text("#io-hint"), /stdin: 4 characters · 2 files · collect: 1 pattern/);
    assert.equal(await run(), "ok", engine);
    assert.equal(await preText(".stream-output pre"), "name? hi ada\nwarn\nfile body\n", engine);
    assert.deepEqual(await page.locator(".stream-output pre span").evaluateAll((s) => s.map((e) => e.className)),
      ["out-stdout", "out-stderr", "out-stdout"], engine);
    assert.equal(await count(".collected-file"), 1, engine);
    assert.match(await text(".collected-file .collected-head"), /out\/res\.txt 3 bytes download/, engine);
    assert.equal(await preText(".collected-file pre"), "ADA", engine);
    if (engine === "server") await shot("io.png");
    // The next stateless run: no stdin, no files, and none left by the last.
    await page.click(".io-file:nth-child(2) .file-remove");
    await page.click(".io-file .file-remove");
    await page.fill("#stdin", "");
    await page.fill("#collect", "");
    await setEditor("#code-editor", "import os\nsorted(os.listdir('.')), os.listdir('/tmp')");
    assert.equal(await run(), "ok", engine);
    assert.equal(await valueRepr(), "([], [])", engine);
  }
  await useEngine("server");
  assertNoProblems();
});

async function sessionFlow(engine) {
  await useEngine(engine);
  await loadExample("session");
  await page.click("#session-start");
  await page.waitForSelector("#session-end:not([hidden])");
  const id = await page.evaluate(() => document.body.dataset.session);
  assert.ok(id, "a session id");
  assert.match(await text("#session-scope"), /step = 10/);
  for (let i = 1; i <= 3; i++) {
    assert.equal(await run(), "ok");
    assert.equal(await valueRepr(), String(i));
  }
  assert.match(await text("#session-state"), /3 runs/);
  assert.match(await text("#session-scope"), /counter = 3/);
  assert.match(await text("#session-scope"), /history = \[10, 20, 30\]/);
  assert.match(await text("#scope-after"), /CHANGED\s*counter = 3/);
  await page.click("#session-refresh");
  await page.waitForFunction(() => /3 runs/.test(document.querySelector("#session-state").textContent));
  if (engine === "server") await shot("08-server-session.png");
  await page.click("#session-end");
  await page.waitForSelector("#session-start:not([hidden])");
  assert.match(await text("#session-state"), /No session/);
  // Without the session, a run starts from a fresh namespace again.
  assert.equal(await run(), "ok");
  assert.equal(await valueRepr(), "1");
}

test("a session on the server keeps its namespace across runs", async () => {
  await sessionFlow("server");
  assertNoProblems();
});

test("a server session survives a reload, and only End forgets it", async () => {
  await useEngine("server");
  await loadExample("session");
  await page.click("#session-start");
  await page.waitForSelector("#session-end:not([hidden])");
  const id = await page.evaluate(() => document.body.dataset.session);
  assert.equal(await run(), "ok");
  await page.reload();
  await page.waitForSelector("html[data-ready]");
  assert.equal(await page.evaluate(() => document.body.dataset.session), id);
  assert.match(await text("#session-state"), /1 run\b/);
  assert.match(await text("#session-scope"), /counter = 1/);
  assert.equal(await run(), "ok"); // the same namespace: the counter goes on
  assert.match(await text("#session-scope"), /counter = 2/);
  await page.click("#session-end");
  await page.waitForSelector("#session-start:not([hidden])");
  await page.reload();
  await page.waitForSelector("html[data-ready]");
  assert.equal(await page.evaluate(() => document.body.dataset.session), "");
  assert.match(await text("#session-state"), /No session/);
  // A kept id the server no longer has: said so, and forgotten.
  await page.evaluate(() => localStorage.setItem("scopebox-session", JSON.stringify({ id: "0123456789abcdef0123456789abcdef" })));
  await withAllowed([/404/], async () => {
    await page.reload();
    await page.waitForSelector("html[data-ready]");
  });
  assert.match(await text("#session-state"), /has ended/);
  assert.equal(await page.evaluate(() => localStorage.getItem("scopebox-session")), null);
  assertNoProblems();
});

test("a session in the browser engine keeps its namespace across runs", async () => {
  await sessionFlow("browser");
  assertNoProblems();
});

test("the URL holds the code, scope and mode, and a shared link restores them", async () => {
  await useEngine("server");
  await loadExample("comprehension");
  await page.waitForFunction(() => location.hash.includes("mode=eval"));
  const url = page.url();
  assert.match(url, /#code=/);
  await page.click("#share");
  await page.waitForSelector("#toast:not([hidden])");
  assert.match(await text("#toast"), /link/i);
  const other = await context.newPage();
  watch(other, "shared");
  await other.goto(url);
  await other.waitForSelector("html[data-ready]");
  assert.equal(await editorText("#code-editor", other), EXAMPLES.find((e) => e.id === "comprehension").code);
  assert.match(await editorText("#scope-editor", other), /"list2": \["a","b"\]/);
  assert.equal(await other.isChecked("#mode-eval"), true);
  assert.equal(await run(other), "ok");
  assert.equal(await valueRepr(other), "[(0, 'a'), (0, 'b'), (1, 'a'), (2, 'a'), (2, 'b')]");
  await other.close();
  assertNoProblems();
});

test("keyboard: Ctrl+Enter runs, Escape then Tab leaves the editor, controls are labelled", async () => {
  await loadExample("block");
  await page.click("#code-editor .cm-content");
  assert.equal(await run(page, { keys: "Control+Enter" }), "ok");
  assert.equal(await valueRepr(), "(10, [5, 10])");
  // Tab indents inside the editor; Escape then Tab moves on to the Run button.
  await page.keyboard.press("Escape");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.id), "run");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.body.dataset.running === "");
  // Every control has an accessible name.
  const unnamed = await page.evaluate(() => [...document.querySelectorAll("button, select, input, [contenteditable=true]")]
    .filter((el) => el.offsetParent !== null || el.type === "radio")
    .filter((el) => !(el.getAttribute("aria-label") || el.labels?.length || el.textContent.trim() || el.title))
    .map((el) => el.outerHTML.slice(0, 80)));
  assert.deepEqual(unnamed, []);
  assertNoProblems();
});

test("dark theme and a narrow screen", async () => {
  await loadExample("dysco");
  await run();
  await page.click("#theme");
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "dark");
  assert.equal(await page.evaluate(() => localStorage.getItem("scopebox-theme")), "dark");
  await shot("09-dark-wide.png");
  await page.setViewportSize(NARROW);
  await page.waitForTimeout(100);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth + 1), "no horizontal scroll");
  await shot("10-dark-narrow.png");
  await page.click("#theme");
  await loadExample("error");
  await run();
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth + 1), "no horizontal scroll");
  await shot("11-light-narrow-error.png");
  await page.setViewportSize(WIDE);
  // A dark preference is followed when nothing was chosen.
  const dark = await browser.newContext({ viewport: WIDE, colorScheme: "dark" });
  const p = await dark.newPage();
  watch(p, "dark");
  await p.goto(server.url + "/");
  await p.waitForSelector("html[data-ready]");
  assert.equal(await p.evaluate(() => document.documentElement.dataset.theme), "dark");
  await dark.close();
  assertNoProblems();
});

// ---- round two: what a first-time user ran into ------------------------------------

test("the server engine shows output live, and Stop cancels the run on the server", async () => {
  // Issue 15's Stop case: three stopped infinite loops on the 2-worker
  // server, then `1 + 1` is answered (without cancel, the loops would hold
  // both workers for their 60 s limit).
  await useEngine("server");
  await page.click("label[for=mode-exec]");
  await page.fill("#timeout", "60000");
  await page.dispatchEvent("#timeout", "change");
  for (let i = 0; i < 3; i++) {
    await setEditor("#code-editor", `import time\nprint('tick ${i}')\nwhile True:\n    time.sleep(0.05)\n`);
    const before = await runs();
    await page.click("#run");
    // The print is on the page while the run still runs.
    await page.waitForSelector(`#result .live-output:has-text("tick ${i}")`, { timeout: 30000 });
    assert.equal(await page.evaluate(() => document.body.dataset.outcome), "running");
    await page.click("#stop");
    await page.waitForFunction((n) => Number(document.body.dataset.runs) > n, before);
    assert.equal(await page.evaluate(() => document.body.dataset.outcome), "stopped");
    // The cancelled run's answer keeps what it printed.
    assert.equal(await preText(".stream-stdout pre"), `tick ${i}\n`);
  }
  const cancelled = () => (server.log().match(/\(pg-[0-9-]+\) cancelled/g) ?? []).length;
  for (let t = 0; cancelled() < 3 && t < 200; t++) await page.waitForTimeout(50);
  assert.equal(cancelled(), 3, server.log());
  await page.click("label[for=mode-eval]");
  await setEditor("#code-editor", "1 + 1");
  // Issue 17 asks for this figure (within 1 s); printed, since tests assert
  // behaviour, not time: the three cancels above are what free the workers.
  const t0 = Date.now();
  assert.equal(await run(page, { timeout: 30000 }), "ok");
  console.log(`figure: 1 + 1 after three Stops answered in ${Date.now() - t0} ms`);
  assert.equal(await valueRepr(), "2");
  await page.click("label[for=mode-exec]");
  await page.fill("#timeout", "5000");
  await page.dispatchEvent("#timeout", "change");
  assertNoProblems();
});

test("a run waiting for a worker says so while it waits, and its queue time after", async () => {
  // Both of the server's workers are taken by two long runs of another
  // client (through the API); the page's run then waits in the queue.
  await useEngine("server");
  const api = (path, body) => fetch(`${server.url}/${path}`, { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body) });
  const blockers = ["blocker-1", "blocker-2"].map((id) => api("v1/run", { code: "while True:\n    pass", run_id: id, timeout_ms: 30000 }));
  try {
    for (let t = 0; t < 200; t++) {
      const h = await (await fetch(`${server.url}/healthz`)).json();
      if (h.workers.ready === 0) break;
      await page.waitForTimeout(50);
    }
    await page.click("label[for=mode-eval]");
    await setEditor("#code-editor", "1 + 1");
    const before = await runs();
    await page.click("#run");
    await page.waitForSelector('#status .status-meta:has-text("every worker busy (2 of 2)")', { timeout: 10000 });
    assert.match(await text("#status .status-meta"), /^server · \d+\.\d s · every worker busy/);
    await shot("07-server-queued.png", page, false);
    for (const id of ["blocker-1", "blocker-2"]) await api(`v1/runs/${id}/cancel`);
    await page.waitForFunction((n) => Number(document.body.dataset.runs) > n, before, { timeout: 30000 });
    assert.equal(await page.evaluate(() => document.body.dataset.outcome), "ok");
    assert.equal(await valueRepr(), "2");
    assert.match(await text("#status .status-meta"), /queue \d/);
  } finally {
    await Promise.allSettled(blockers);
  }
  await page.click("label[for=mode-exec]");
  assertNoProblems();
});

test("Esc stops a run while the focus is in the code editor", async () => {
  await useEngine("browser");
  await page.click("label[for=mode-exec]");
  await setEditor("#code-editor", "n = 0\nwhile True:\n    n += 1\n");
  await page.fill("#timeout", "60000");
  await page.dispatchEvent("#timeout", "change");
  await page.click("#code-editor .cm-content");
  const before = await runs();
  await page.keyboard.press("Control+Enter");
  await page.waitForSelector("#stop:not([hidden])");
  await page.waitForTimeout(300);
  assert.equal(await page.evaluate(() => Boolean(document.activeElement.closest(".cm-editor"))), true);
  await page.keyboard.press("Escape");
  await page.waitForFunction((n) => Number(document.body.dataset.runs) > n, before, { timeout: 10000 });
  assert.equal(await page.evaluate(() => document.body.dataset.outcome), "stopped");
  // Esc keeps its meaning in the editor: the next Tab leaves it.
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => Boolean(document.activeElement.closest(".cm-editor"))), false);
  await page.fill("#timeout", "5000");
  await page.dispatchEvent("#timeout", "change");
  assertNoProblems();
});

test("the browser engine has the server's heap cap", async () => {
  await useEngine("browser");
  await page.click("label[for=mode-exec]");
  await setEditor("#code-editor", "big = bytearray(1 << 30)\nlen(big)");
  assert.equal(await run(), "python-error");
  assert.equal(await text("#status .chip"), "MemoryError");
  // The interpreter lives on.
  await setEditor("#code-editor", "6 * 7");
  assert.equal(await run(), "ok");
  assert.equal(await valueRepr(), "42");
  assertNoProblems();
});

test("reloads and shared links select the example shown, with its note; #example= works on hashchange", async () => {
  await useEngine("server");
  await loadExample("dysco");
  await page.waitForFunction(() => location.hash.includes("example=dysco"));
  const p = await context.newPage();
  watch(p, "links");
  await p.goto(page.url());
  await p.waitForSelector("html[data-ready]");
  assert.equal(await p.inputValue("#examples"), "dysco");
  assert.match(await text("#example-note", p), /^Dysco/);
  // A link with an example's code but no name still names it.
  const gen = EXAMPLES.find((e) => e.id === "generator");
  await p.goto(`${server.url}/#code=${encodeURIComponent(gen.code)}&mode=exec`);
  await p.reload();
  await p.waitForSelector("html[data-ready]");
  assert.equal(await p.inputValue("#examples"), "generator");
  assert.equal(await p.isHidden("#example-note"), false);
  // The user's own code names no example.
  await p.goto(`${server.url}/#code=${encodeURIComponent("print('mine')")}&mode=exec`);
  await p.reload();
  await p.waitForSelector("html[data-ready]");
  assert.equal(await p.inputValue("#examples"), "");
  assert.equal(await p.isHidden("#example-note"), true);
  // #example= in a link followed inside the page.
  await p.evaluate(() => { location.hash = "example=block"; });
  await p.waitForFunction(() => document.querySelector("#examples").value === "block");
  assert.equal(await editorText("#code-editor", p), EXAMPLES.find((e) => e.id === "block").code);
  assert.equal(await p.isHidden("#example-note"), false);
  await p.close();
  assertNoProblems();
});

test("big ints typed into the Scope JSON keep every digit", async () => {
  await useEngine("server");
  await loadExample("hello");
  await page.click("label[for=mode-eval]");
  await setEditor("#code-editor", "big + 1");
  await setEditor("#scope-editor", '{"big": 123456789012345678901234567890}');
  await page.waitForSelector("#scope-error[hidden]", { state: "attached" });
  assert.equal(await run(), "ok");
  assert.equal(await valueRepr(), "123456789012345678901234567891");
  assertNoProblems();
});

test("a RecursionError's repeated frames are collapsed as CPython prints them", async () => {
  await useEngine("server");
  await loadExample("hello");
  await page.click("label[for=mode-exec]");
  await setEditor("#scope-editor", "{}");
  await setEditor("#code-editor", "def down(n):\n    return down(n + 1)\n\ndown(0)\n");
  assert.equal(await run(), "python-error");
  assert.equal(await text("#status .chip"), "RecursionError");
  const items = await page.locator(".traceback li").allInnerTexts();
  assert.ok(items.length <= 12, `collapsed to a few lines, got ${items.length}`);
  assert.ok(items.some((t) => /\[Previous line repeated \d+ more times\]/.test(t)), items.join(" | "));
  assertNoProblems();
});

test("the status dot says when the server has gone, and offers the Browser engine", async () => {
  const doomed = await startServer({ args: ["--workers", "1"] });
  const ctx = await browser.newContext({ viewport: WIDE });
  const p = await ctx.newPage();
  watch(p, "doomed");
  try {
    // Python loads in this page first, as a user who tried both engines.
    await p.goto(doomed.url + "/#engine=browser");
    await p.waitForSelector("#engine-status[data-state=ready]", { timeout: BOOT_MS });
    await useEngine("server", p);
    assert.equal(await p.isHidden("#engine-fallback"), true);
    await withAllowed([/ERR_CONNECTION_REFUSED|Failed to load resource/], async () => {
      await doomed.stop();
      await p.waitForSelector("#engine-status[data-state=error]", { timeout: 20000 });
      assert.match(await text("#engine-status", p), /Browser engine still works/);
      await p.click("#engine-fallback");
      await p.waitForSelector("#engine-status[data-state=ready]");
      assert.equal(await p.evaluate(() => document.documentElement.dataset.engine), "browser");
      await setEditor("#code-editor", "6 * 7", p);
      await p.click("label[for=mode-eval]");
      assert.equal(await run(p), "ok");
      assert.equal(await valueRepr(p), "42");
      // Until it is closed, the page may still report the dead server's
      // refused connections (a status check already under way): expected.
      await ctx.close();
    });
  } finally {
    await ctx.close();
    await doomed.stop();
  }
  assertNoProblems();
});

// Bytes on the wire (headers + bodies, gzip where the server has it), for a
// first visit and a reload with a warm cache; with the browser engine they
// include Pyodide, loaded by its Web Worker.
async function weigh(ctx, url, waitFor) {
  const p = await ctx.newPage();
  watch(p, "weight");
  const seen = [];
  p.on("requestfinished", (r) => seen.push(r.sizes().then((s) => ({ url: r.url(), bytes: s.responseHeadersSize + s.responseBodySize }))));
  const measure = async (fn) => {
    seen.length = 0;
    await fn();
    await p.waitForSelector(waitFor, { timeout: BOOT_MS });
    await p.waitForLoadState("networkidle");
    const all = await Promise.all(seen);
    return { requests: all.length, bytes: all.reduce((a, r) => a + Math.max(0, r.bytes), 0) };
  };
  const first = await measure(() => p.goto(url));
  const warm = await measure(() => p.reload());
  await p.close();
  return { first, warm };
}

test("page weight: first load and warm reload", async () => {
  const results = {};
  for (const [name, hash, waitFor] of [
    ["server engine", "", "#engine-status[data-state=ready]"],
    ["browser engine", "#engine=browser", "#engine-status[data-state=ready]"],
  ]) {
    const ctx = await browser.newContext({ viewport: WIDE });
    results[name] = await weigh(ctx, server.url + "/" + hash, waitFor);
    await ctx.close();
  }
  const lines = Object.entries(results).map(([name, r]) =>
    `page weight (${name}): first load ${r.first.bytes} bytes in ${r.first.requests} requests; ` +
    `warm reload ${r.warm.bytes} bytes in ${r.warm.requests} requests`);
  for (const l of lines) console.log(l);
  writeFileSync(join(SHOTS, "page-weight.json"), JSON.stringify(results, null, 2) + "\n");
  const s = results["server engine"], b = results["browser engine"];
  // Issue 17's budget: within 10% of the 172 KB the server engine's first
  // load took before round two.
  assert.ok(s.first.bytes <= 172 * 1024 * 1.1, `the page itself stays small: ${s.first.bytes}`);
  assert.ok(s.warm.bytes < s.first.bytes / 20, "a warm reload only revalidates");
  assert.ok(b.warm.bytes < b.first.bytes / 100, "Pyodide is not downloaded again");
  assertNoProblems();
});
