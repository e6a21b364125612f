// The playground's should-haves end to end, in headless Chromium against a
// real scopebox-server: run history and drafts, short share links, the docs
// panel and completion, the embeddable snippet in a page of another origin,
// and the smaller items (stale answers, the status line of the browser
// engine, the footer's docs link). Screenshots go to $SCOPEBOX_SCREENSHOTS.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startServer } from "./server.mjs";
import { EXAMPLES } from "../../web/src/examples.js";

const SHOTS = process.env.SCOPEBOX_SCREENSHOTS ?? join(process.cwd(), "screenshots");
const CHROMIUM = process.env.SCOPEBOX_CHROMIUM ?? "/usr/bin/chromium";
const LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync"];
const WIDE = { width: 1400, height: 1000 };
const BOOT_MS = 120000;

let server, browser, context, page;
const problems = [];

function watch(p, label) {
  p.on("console", (m) => {
    if (m.type() === "error") problems.push(`${label} console.error: ${m.text()}`);
  });
  p.on("pageerror", (e) => problems.push(`${label} page error: ${e.message}`));
}

function assertNoProblems() {
  assert.deepEqual(problems.splice(0), [], "console errors or page errors");
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await startServer({ args: ["--workers", "2"] });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
  context = await browser.newContext({ viewport: WIDE, colorScheme: "light" });
  page = await context.newPage();
  watch(page, "main");
  await page.goto(server.url + "/");
  await page.waitForSelector("html[data-ready]");
  await page.waitForSelector("#engine-status[data-state=ready]");
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const text = async (sel, p = page) => (await p.locator(sel).first().innerText()).replace(/\s+/g, " ").trim();
const VIEWS = { "#code-editor": "code", "#scope-editor": "scope", "#dynamic-editor": "dynamic" };
const editorText = (sel, p = page) => p.evaluate((k) => window.scopebox.views[k].state.doc.toString(), VIEWS[sel]);
async function setEditor(sel, value, p = page) {
  await p.evaluate(([k, v]) => {
    const view = window.scopebox.views[k];
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: v }, userEvent: "input.paste" });
  }, [VIEWS[sel], value]);
}
async function run(p = page) {
  const n = Number(await p.evaluate(() => document.body.dataset.runs || "0"));
  await p.click("#run");
  await p.waitForFunction((k) => Number(document.body.dataset.runs || "0") > k, n, { timeout: 60000 });
  return p.evaluate(() => document.body.dataset.outcome);
}
const valueRepr = (p = page) => p.locator(".value-tree > .t-row .v, .value-tree > details > summary .v").first().innerText();
async function loadExample(id, p = page) {
  await p.selectOption("#examples", id);
  await p.waitForFunction(() => document.body.dataset.outcome === "");
}

test("run history: runs are listed, re-open, and two compare with a diff of their answers", async () => {
  await loadExample("hello");
  assert.equal(await run(), "ok");
  await setEditor("#scope-editor", '{"name": "grace"}');
  assert.equal(await run(), "ok");
  assert.equal(await valueRepr(), "'hello, grace!'");
  await page.click("#history-panel > summary");
  assert.equal(await page.locator(".history-item").count(), 2);
  assert.match(await text(".history-item >> nth=0"), /'hello, grace!'/);
  assert.match(await text(".history-item >> nth=1"), /'hello, ada!'/);
  // Re-open the older run: its inputs and its answer come back.
  await page.locator(".history-item >> nth=1").locator(".history-open").click();
  await page.waitForFunction(() => /"ada"/.test(window.scopebox.views.scope.state.doc.toString()));
  assert.equal(await valueRepr(), "'hello, ada!'");
  assert.match(await text("#scope-after"), /message = 'hello, ada!'/);
  // Compare the two.
  await page.locator(".history-item >> nth=0").locator(".history-pick").check();
  await page.locator(".history-item >> nth=1").locator(".history-pick").check();
  await page.waitForSelector(".history-compare:not([hidden])");
  assert.match(await text(".history-diff-head"), /lines? differ/);
  const diff = await page.locator(".history-diff").innerText();
  assert.match(diff, /^- .*hello, ada!/m);
  assert.match(diff, /^\+ .*hello, grace!/m);
  assert.doesNotMatch(diff, /run_ms/, "timing is left out of the comparison");
  await page.screenshot({ path: join(SHOTS, "x01-history-compare.png"), fullPage: true });
  // Kept in the tab's storage: a reload lists them again.
  await page.reload();
  await page.waitForSelector("html[data-ready]");
  assert.equal(await page.locator(".history-item").count(), 2);
  assertNoProblems();
});

test("drafts: the inputs as last edited come back when the page opens without a link", async () => {
  await setEditor("#code-editor", "draft_value = 41 + 1\ndraft_value\n");
  await setEditor("#dynamic-editor", '{"who": "me"}');
  await page.waitForFunction(() => /draft_value/.test(localStorage.getItem("scopebox-draft") ?? ""));
  await page.goto(server.url + "/");
  await page.waitForSelector("html[data-ready]");
  assert.equal(await editorText("#code-editor"), "draft_value = 41 + 1\ndraft_value\n");
  assert.match(await editorText("#dynamic-editor"), /"who": "me"/);
  assertNoProblems();
});

test("a short share link carries code, scope, bindings, mode and engine, and opens the example with its note", async () => {
  await loadExample("comprehension");
  await page.click("#share");
  await page.waitForSelector("#toast:not([hidden])");
  const url = page.url();
  assert.match(url, /#z=[A-Za-z0-9_-]+$/);
  // The long form of the same state (url-state.js's keys), so both carry
  // code, scope, dynamic bindings, mode, engine and example.
  const long = await page.evaluate(() => {
    const v = window.scopebox.views;
    const p = new URLSearchParams({ code: v.code.state.doc.toString(), scope: v.scope.state.doc.toString(),
      dynamic: v.dynamic.state.doc.toString(), mode: "eval", engine: "server", example: "comprehension" });
    return location.origin + "/#" + p.toString();
  });
  assert.ok(url.length < long.length, `the short link (${url.length}) is shorter than the long form (${long.length})`);
  const ctx = await browser.newContext({ viewport: WIDE });
  const other = await ctx.newPage();
  watch(other, "shared");
  await other.goto(url);
  await other.waitForSelector("html[data-ready]");
  const ex = EXAMPLES.find((e) => e.id === "comprehension");
  assert.equal(await editorText("#code-editor", other), ex.code);
  assert.match(await editorText("#scope-editor", other), /"list2": \["a","b"\]/);
  assert.equal(await other.isChecked("#mode-eval"), true);
  assert.equal(await other.inputValue("#examples"), "comprehension");
  assert.match(await text("#example-note", other), /Nested comprehension/);
  assert.equal(await run(other), "ok");
  assert.equal(await valueRepr(other), "[(0, 'a'), (0, 'b'), (1, 'a'), (2, 'a'), (2, 'b')]");
  // Dynamic bindings and the engine travel too; a hashchange to a short link applies it.
  await setEditor("#dynamic-editor", '{"greeting": "bonjour"}');
  await loadExample("hello");
  await setEditor("#dynamic-editor", '{"greeting": "bonjour"}');
  // The link records the engine in use (set here without booting Python).
  const short2 = await page.evaluate(async () => {
    const { app } = window.scopebox;
    const saved = app.engine;
    app.engine = "browser";
    document.querySelector("#share").click();
    await new Promise((r) => setTimeout(r, 200));
    app.engine = saved;
    return location.hash;
  });
  assert.match(short2, /^#z=/);
  await other.evaluate((h) => (location.hash = h), short2);
  await other.waitForFunction(() => /bonjour/.test(window.scopebox.views.dynamic.state.doc.toString()));
  await other.waitForFunction(() => document.documentElement.dataset.engine === "browser");
  assert.equal(await other.inputValue("#examples"), "hello");
  await ctx.close();
  assertNoProblems();
});

test("the docs panel lists every public name of dynscope with a line and an example, and what dynamic scope is", async () => {
  // The module's public names, asked of the module itself on the server.
  await setEditor("#code-editor", "import dynscope\nprint(*sorted(n for n in dir(dynscope) if not n.startswith('_')))\n");
  await page.click("label[for=mode-exec]");
  assert.equal(await run(), "ok");
  const names = (await page.locator(".stream-stdout pre").innerText()).trim().split(" ");
  assert.ok(names.length >= 17, `dynscope has ${names.length} public names`);
  await page.click("#docs-open");
  await page.waitForSelector("#docs .api-entry");
  const entries = await page.$$eval("#docs .api-entry", (els) => els.map((e) => ({
    name: e.dataset.name, line: e.querySelector(".api-line").textContent, example: e.querySelector(".api-example").textContent })));
  assert.deepEqual(entries.map((e) => e.name).sort(), names);
  for (const e of entries) {
    assert.ok(e.line.length > 10, `${e.name} has a line`);
    assert.ok(e.example.length > 10, `${e.name} has an example`);
  }
  assert.match(await text("#docs .docs-model"), /What is dynamic scope.*A binding belongs to a frame/);
  assert.match(await text("#api-bind"), /dynscope\.bind\(mapping=None, \/, \*\*names\).*context manager.*prints ada/);
  await page.screenshot({ path: join(SHOTS, "x02-docs-panel.png") });
  // "Try it" puts the example into the editor; it runs as documented.
  await page.locator("#api-get .api-try").click();
  assert.match(await editorText("#code-editor"), /dynscope\.get\("colour", "unbound"\)/);
  assert.equal(await page.evaluate(() => document.querySelector("#docs").hidden), false);
  await page.keyboard.press("Escape");
  await page.click("#docs .docs-close").catch(() => {});
  await page.waitForFunction(() => document.querySelector("#docs").hidden);
  assert.equal(await run(), "ok");
  assert.equal(await page.locator(".stream-stdout pre").innerText(), "unbound\nred\n");
  // The footer's link opens the same panel.
  await page.click("footer [data-open-docs]");
  await page.waitForFunction(() => !document.querySelector("#docs").hidden);
  await page.click("#docs .docs-close");
  assertNoProblems();
});

test("completion offers dynscope's names after 'dynscope.' and the scope's names elsewhere", async () => {
  await loadExample("hello");
  await setEditor("#code-editor", "import dynscope\n");
  await setEditor("#scope-editor", '{"request_total": 3}');
  await setEditor("#dynamic-editor", '{"greeting_word": "hi"}');
  await page.click("#code-editor .cm-content");
  await page.keyboard.press("Control+End");
  await page.keyboard.type("dynscope.sna");
  await page.waitForSelector(".cm-tooltip-autocomplete li");
  const opts = await page.$$eval(".cm-tooltip-autocomplete li", (els) => els.map((e) => e.textContent));
  assert.ok(opts.some((o) => o.startsWith("snapshot")), `offered: ${opts}`);
  // CodeMirror ignores Enter for its interactionDelay (75 ms) after the
  // list opens, so that a fast typist's newline is not taken as a choice.
  await page.waitForTimeout(200);
  await page.keyboard.press("Enter");
  assert.match(await editorText("#code-editor"), /dynscope\.snapshot$/);
  await page.keyboard.press("Enter");
  await page.keyboard.type("request_t");
  await page.waitForSelector(".cm-tooltip-autocomplete li");
  const opts2 = await page.$$eval(".cm-tooltip-autocomplete li", (els) => els.map((e) => e.textContent));
  assert.ok(opts2.some((o) => o.startsWith("request_total")), `offered: ${opts2}`);
  await page.keyboard.press("Escape");
  await page.keyboard.type("\ngreeting_w");
  await page.waitForSelector(".cm-tooltip-autocomplete li");
  const opts3 = await page.$$eval(".cm-tooltip-autocomplete li", (els) => els.map((e) => e.textContent));
  assert.ok(opts3.some((o) => o.startsWith("greeting_word")), `offered: ${opts3}`);
  await page.keyboard.press("Escape");
  assertNoProblems();
});

test("an answer is marked stale once the inputs are edited, and not after the next run", async () => {
  await loadExample("hello");
  assert.equal(await run(), "ok");
  assert.equal(await page.isHidden("#stale-note"), true);
  await setEditor("#dynamic-editor", '{"greeting": "hey"}');
  await page.waitForSelector("#stale-note:not([hidden])");
  assert.equal(await page.evaluate(() => document.body.dataset.stale), "1");
  assert.equal(await run(), "ok");
  assert.equal(await page.isHidden("#stale-note"), true);
  assert.equal(await valueRepr(), "'hey, ada!'");
  assertNoProblems();
});

// A page of another origin (another loopback port) that embeds a snippet
// with the documented <iframe> snippet.
async function hostPage(src) {
  const host = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(`<!doctype html><title>another site</title><h1>Someone's blog</h1>
<iframe src="${src}" width="640" height="420" style="border:0" title="scopebox snippet"></iframe>`);
  });
  await new Promise((r) => host.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${host.address().port}/`, close: () => new Promise((r) => host.close(r)) };
}

test("the embeddable snippet runs inside a page of another origin, on both engines", async () => {
  // The documented recipe: the playground's link, with embed.html before the fragment.
  await loadExample("hello");
  await page.click("#share");
  await page.waitForFunction(() => location.hash.startsWith("#z="));
  const hash = await page.evaluate(() => location.hash);
  const ctx = await browser.newContext({ viewport: WIDE });
  const p = await ctx.newPage();
  watch(p, "host");
  for (const [engine, src] of [
    ["server", `${server.url}/embed.html${hash}`],
    ["browser", `${server.url}/embed.html#code=${encodeURIComponent("import dynscope\nwith dynscope.bind(user=name):\n    r = dynscope.get('user')\nr")}` +
      `&scope=${encodeURIComponent('{"name": "lin"}')}&engine=browser&mode=exec`],
  ]) {
    const host = await hostPage(src);
    await p.goto(host.url);
    const frame = p.frameLocator("iframe");
    const origin = await p.evaluate(() => location.origin);
    assert.notEqual(origin, new URL(server.url).origin);
    await frame.locator("html[data-ready]").waitFor({ state: "attached" });
    await frame.locator("#embed-run").click();
    await frame.locator("body[data-runs]").waitFor({ state: "attached", timeout: BOOT_MS });
    assert.equal(await frame.locator("body").getAttribute("data-outcome"), "ok");
    const v = await frame.locator(".value-tree > .t-row .v, .value-tree > details > summary .v").first().innerText();
    assert.equal(v, engine === "server" ? "'hello, ada!'" : "'lin'");
    assert.match(await frame.locator("#embed-engine").innerText(), new RegExp(`${engine} engine`));
    await p.screenshot({ path: join(SHOTS, `x03-embed-${engine}.png`) });
    await host.close();
  }
  await ctx.close();
  assertNoProblems();
});

test("the browser engine's status line has no HTTP status", async () => {
  await loadExample("hello");
  await page.click("label[for=engine-browser]");
  await page.waitForSelector("#engine-status[data-state=ready]", { timeout: BOOT_MS });
  assert.equal(await run(), "ok");
  assert.doesNotMatch(await text("#status"), /HTTP/);
  await page.click("label[for=engine-server]");
  await page.waitForSelector("#engine-status[data-state=ready]");
  assert.equal(await run(), "ok");
  assert.match(await text("#status"), /HTTP 200/);
  assertNoProblems();
});

test("a Python literal in the Scope JSON is located, with the JSON spelling", async () => {
  await loadExample("hello");
  await setEditor("#scope-editor", '{\n  "name": "True",\n  "flag": True\n}');
  await page.waitForSelector("#scope-error:not([hidden])");
  assert.equal(await text("#scope-error"), "line 3, column 11: True is Python; JSON uses true/false/null (write true)");
  assert.equal(await page.locator("#scope-editor .cm-error-line").count(), 1);
  await setEditor("#scope-editor", '{"name": "ada"}');
  await page.waitForSelector("#scope-error[hidden]", { state: "attached" });
  assertNoProblems();
});

test("a statement in eval mode gets the hint to choose exec", async () => {
  await setEditor("#code-editor", "x = 1\n");
  await page.click("label[for=mode-eval]");
  assert.equal(await run(), "python-error");
  assert.match(await text("#result"), /SyntaxError/);
  assert.match(await text(".eval-hint"), /eval mode takes one expression.*choose exec/);
  await page.click("label[for=mode-exec]");
  assert.equal(await run(), "ok");
  assert.equal(await page.locator(".eval-hint").count(), 0);
  assertNoProblems();
});

test("a long string is clamped with 'show more', and a cut list says how much it shows", async () => {
  await page.click("label[for=mode-eval]");
  await setEditor("#code-editor", "'ab' * 3000\n");
  assert.equal(await run(), "ok");
  const v = page.locator(".value-tree .v").first();
  assert.ok((await v.innerText()).length < 400, "clamped");
  await page.click(".value-tree .show-more");
  assert.ok((await v.innerText()).length >= 6002, "the whole string after 'show more'");
  assert.equal(await page.locator(".value-tree .show-more").count(), 0);
  await setEditor("#code-editor", "list(range(100000))\n");
  assert.equal(await run(), "ok");
  assert.match(await text(".value-tree .chip-note"), /^showing [\d,]+ of 100,000 items$/);
  await page.click("label[for=mode-exec]");
  assertNoProblems();
});

test("the Examples menu shows whole titles on a wide screen", async () => {
  const r = await page.evaluate(() => {
    const sel = document.querySelector("#examples");
    const cs = getComputedStyle(sel);
    const ctx = document.createElement("canvas").getContext("2d");
    ctx.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
    const widest = Math.max(...[...sel.options].map((o) => ctx.measureText(o.text).width));
    return { widest, box: sel.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) };
  });
  assert.ok(r.widest <= r.box, `the longest title (${r.widest.toFixed(0)} px) fits the menu (${r.box} px)`);
  assertNoProblems();
});

// Relative luminance contrast (WCAG 2) of two computed rgb() colours.
function contrast(a, b) {
  const lum = (c) => {
    const [r, g, bl] = c.match(/[\d.]+/g).slice(0, 3).map(Number).map((x) => {
      x /= 255;
      return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

test("shadowed bindings keep a readable contrast on both themes", async () => {
  await setEditor("#code-editor", "import dynscope\ndef f():\n    with dynscope.bind(x=2):\n        return dynscope.snapshot()\nwith dynscope.bind(x=1):\n    s = f()\ns\n");
  await page.click("label[for=mode-exec]");
  assert.equal(await run(), "ok");
  for (const theme of ["light", "dark"]) {
    await page.evaluate((t) => (document.documentElement.dataset.theme = t), theme);
    const c = await page.evaluate(() => {
      const row = document.querySelector("#dynamic-view .shadowed");
      let el = row, opacity = 1;
      for (let e = row; e; e = e.parentElement) opacity *= Number(getComputedStyle(e).opacity);
      while (el && getComputedStyle(el).backgroundColor.replace(/\s/g, "").match(/rgba\(.*,0\)|transparent/)) el = el.parentElement;
      return { fg: getComputedStyle(row.querySelector(".t-label")).color, bg: getComputedStyle(el).backgroundColor, opacity };
    });
    assert.equal(c.opacity, 1, "not faded");
    const ratio = contrast(c.fg, c.bg);
    assert.ok(ratio >= 4.5, `${theme}: shadowed label ${c.fg} on ${c.bg} is ${ratio.toFixed(2)}:1`);
  }
  await page.evaluate(() => (document.documentElement.dataset.theme = "light"));
  assertNoProblems();
});

test("phones: no sideways scroll at 320 px, a two-row header, and touch hints instead of keys", async () => {
  const ctx = await browser.newContext({ viewport: { width: 320, height: 640 }, hasTouch: true, isMobile: true });
  const p = await ctx.newPage();
  watch(p, "phone");
  for (const width of [320, 390]) {
    await p.setViewportSize({ width, height: 740 });
    await p.goto(server.url + "/#example=hello");
    await p.waitForSelector("html[data-ready]");
    const scrollWidth = await p.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(scrollWidth <= width, `${width} px: no sideways scroll (the page is ${scrollWidth} px wide)`);
    const header = await p.evaluate(() => document.querySelector(".topbar").getBoundingClientRect().height);
    assert.ok(header <= 100, `${width} px: the header is ${header} px high`);
    assert.ok(await p.isVisible("#examples") && await p.isVisible("#engine-switch") && await p.isVisible("#share"));
    assert.ok((await p.locator("#examples").boundingBox()).width >= 100, "the Examples menu keeps a usable width");
    await p.screenshot({ path: join(SHOTS, `x04-phone-${width}.png`) });
  }
  assert.equal(await p.isVisible(".footer .touch-hint"), true);
  assert.equal(await p.isVisible(".footer .keys-hint"), false);
  assert.equal(await page.isVisible(".footer .touch-hint"), false, "a desktop keeps the keyboard hints");
  await ctx.close();
  assertNoProblems();
});

test("Tab indents in the JSON editors, and Escape then Tab leaves them", async () => {
  await setEditor("#scope-editor", '{\n"name": "ada"\n}');
  await page.click("#scope-editor .cm-line >> nth=1");
  await page.keyboard.press("Home");
  await page.keyboard.press("Tab");
  assert.match(await editorText("#scope-editor"), /^\{\n {2}"name": "ada"\n\}$/);
  assert.equal(await page.evaluate(() => document.activeElement.closest("#scope-editor") !== null), true);
  await page.keyboard.press("Escape");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.closest("#scope-editor") === null), true, "focus left the editor");
  assertNoProblems();
});
