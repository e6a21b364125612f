// The scopebox playground: write a snippet, set its variables and dynamic
// bindings, run it on the server or in the browser, and see its value,
// output, error, scope and dynamic scope. Bundled by web/build.mjs.
import { h, $, clear } from "./src/dom.js";
import { pythonEditor, jsonEditor, setDoc, markError, goToLine, setDark } from "./src/editors.js";
import { ServerEngine, BrowserEngine } from "./src/engines.js";
import { EXAMPLES, exampleById } from "./src/examples.js";
import { readHash, makeHash } from "./src/url-state.js";
import { checkVariables } from "./src/variables.js";
import { ioPanel } from "./src/io-panel.js";
import { packState, unpackHash, isShortHash } from "./src/share.js";
import { runHistory, saveDraft, readDraft } from "./src/run-history.js";
import { docsPanel, apiDocs } from "./src/docs-panel.js";
import { snippetCompletions } from "./src/completion.js";
import { classify, renderStatus, renderRunning, renderResult, renderScope, scopeTree } from "./src/render.js";
import { renderDynamic } from "./src/dynamic-panel.js";
import { runClock } from "./src/run-clock.js";

const DEFAULT_TIMEOUT = 5000;
const MAX_TIMEOUT = 60000;
const store = {
  get(k) {
    try {
      return localStorage.getItem(`scopebox-${k}`);
    } catch {
      return null;
    }
  },
  set(k, v) {
    try {
      if (v === null) localStorage.removeItem(`scopebox-${k}`);
      else localStorage.setItem(`scopebox-${k}`, v);
    } catch {
      /* private mode: preferences are not kept */
    }
  },
};

const els = {
  examples: $("#examples"),
  note: $("#example-note"),
  run: $("#run"),
  stop: $("#stop"),
  timeout: $("#timeout"),
  ret: $("#return"),
  status: $("#status"),
  result: $("#result"),
  scopeAfter: $("#scope-after"),
  dynamicView: $("#dynamic-view"),
  raw: $("#raw"),
  engineStatus: $("#engine-status"),
  engineFallback: $("#engine-fallback"),
  theme: $("#theme"),
  share: $("#share"),
  toast: $("#toast"),
  sessionState: $("#session-state"),
  sessionStart: $("#session-start"),
  sessionRefresh: $("#session-refresh"),
  sessionEnd: $("#session-end"),
  sessionScope: $("#session-scope"),
  sessionError: $("#session-error"),
};

const app = {
  engine: "server",
  mode: "exec",
  running: null,
  session: null, // { engine, id, runs, idle_ttl_ms }
  engineState: { server: ["loading", "checking the server…"], browser: ["idle", "loads Python (about 13 MB) when chosen"] },
};

const engines = {
  server: new ServerEngine(),
  browser: new BrowserEngine({ onStatus: (state, text) => setEngineState("browser", state, text) }),
};

// ---- editors ----------------------------------------------------------------

function formatVars(obj) {
  const entries = Object.entries(obj ?? {});
  if (!entries.length) return "{}";
  return "{\n" + entries.map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(",\n") + "\n}";
}

// The example a state shows: the one it names, if its code is that
// example's (or absent), else the one whose code it holds; none for the
// user's own code, so the dropdown never names an example that is not shown.
function exampleFor(s) {
  const named = exampleById(s.example);
  if (named && (s.code === undefined || s.code === named.code)) return named;
  if (s.code === undefined) return EXAMPLES[0];
  return EXAMPLES.find((ex) => ex.code === s.code) ?? null;
}

// A short link (#z=), else a long one, else the draft left here last time.
const initial = (isShortHash() ? await unpackHash() : readHash()) ?? (location.hash ? null : readDraft()) ?? {};
const firstExample = exampleFor(initial);
const start = {
  code: initial.code ?? firstExample?.code ?? "",
  scope: initial.scope ?? formatVars(firstExample?.scope),
  dynamic: initial.dynamic ?? formatVars(firstExample?.dynamic),
  mode: initial.mode ?? firstExample?.mode ?? "exec",
  timeout: initial.timeout ?? firstExample?.timeout ?? DEFAULT_TIMEOUT,
  return: initial.return ?? "data",
  engine: initial.engine ?? store.get("engine") ?? "server",
};

const checks = { scope: { value: {} }, dynamic: { value: {} } };

let shownExample = null; // the example whose note is shown, while its code is untouched

const codeView = pythonEditor($("#code-editor"), {
  doc: start.code,
  onRun: () => run(),
  extensions: [snippetCompletions({
    api: apiDocs,
    names: () => [["scope", checks.scope.value], ["dynamic binding", checks.dynamic.value]]
      .flatMap(([detail, v]) => Object.keys(v ?? {}).map((label) => ({ label, detail }))),
  })],
  onChange: (doc) => {
    // Once the code is the user's own, the example's note no longer applies.
    if (shownExample && doc !== shownExample.code) {
      showNote(null);
      els.examples.value = "";
    }
    stateChanged();
  },
});
const scopeView = jsonEditor($("#scope-editor"), {
  doc: start.scope,
  label: "Scope: JSON object of variables",
  onRun: () => run(),
  onChange: () => validate("scope"),
});
const dynamicView = jsonEditor($("#dynamic-editor"), {
  doc: start.dynamic,
  label: "Dynamic bindings: JSON object of root bindings",
  onRun: () => run(),
  onChange: () => validate("dynamic"),
});
const views = { scope: scopeView, dynamic: dynamicView };
const io = ioPanel({});

function validate(which, { quiet = false } = {}) {
  const view = views[which];
  const text = view.state.doc.toString();
  const c = checkVariables(text);
  checks[which] = c;
  const el = $(`#${which}-error`);
  const box = $(`#${which}-editor`);
  if (c.error) {
    el.textContent = c.error;
    el.hidden = false;
    box.classList.add("invalid");
    box.setAttribute("aria-invalid", "true");
    markError(view, { line: c.line, column: c.column }, { scroll: false });
  } else {
    el.hidden = true;
    el.textContent = "";
    box.classList.remove("invalid");
    box.removeAttribute("aria-invalid");
    markError(view, null, { scroll: false });
  }
  updateRunnable();
  if (!quiet) stateChanged();
  return c;
}

function updateRunnable() {
  const bad = ["scope", "dynamic"].filter((k) => checks[k].error);
  els.run.dataset.blocked = bad.length ? "1" : "";
  els.run.title = bad.length ? `Fix the ${bad.join(" and ")} JSON first` : "Run (Ctrl+Enter)";
}

// ---- shareable state ----------------------------------------------------------

function currentState() {
  return {
    code: codeView.state.doc.toString(),
    scope: scopeView.state.doc.toString(),
    dynamic: dynamicView.state.doc.toString(),
    mode: app.mode,
    timeout: timeoutValue(),
    return: els.ret.value,
    engine: app.engine,
    example: shownExample?.id,
  };
}

let hashTimer = null;
function stateChanged() {
  clearTimeout(hashTimer);
  hashTimer = setTimeout(() => {
    history.replaceState(null, "", makeHash(currentState()));
    saveDraft(currentState());
  }, 300);
  markStale();
}

function applyState(s) {
  if (s.code !== undefined) setDoc(codeView, s.code);
  if (s.scope !== undefined) setDoc(scopeView, s.scope);
  if (s.dynamic !== undefined) setDoc(dynamicView, s.dynamic);
  if (s.mode) setMode(s.mode);
  if (s.timeout) els.timeout.value = String(s.timeout);
  if (s.return) els.ret.value = s.return;
  validate("scope", { quiet: true });
  validate("dynamic", { quiet: true });
  if (s.engine && s.engine !== app.engine) setEngine(s.engine);
}

window.addEventListener("hashchange", async () => {
  const s = isShortHash() ? await unpackHash() : readHash();
  if (!s) return;
  if (s.code === undefined && s.example !== undefined) {
    loadExample(exampleById(s.example) ?? EXAMPLES[0]);
    return;
  }
  applyState(s);
  const ex = exampleFor({ ...s, code: codeView.state.doc.toString() });
  els.examples.value = ex?.id ?? "";
  showNote(ex);
});

// ---- controls -------------------------------------------------------------------

function timeoutValue() {
  const n = Math.round(Number(els.timeout.value));
  return Number.isFinite(n) && n >= 1 ? Math.min(n, MAX_TIMEOUT) : DEFAULT_TIMEOUT;
}

function setMode(mode) {
  app.mode = mode;
  for (const r of document.querySelectorAll('input[name="mode"]')) r.checked = r.value === mode;
}

for (const r of document.querySelectorAll('input[name="mode"]')) {
  r.addEventListener("change", () => {
    setMode(r.value);
    stateChanged();
  });
}
els.timeout.addEventListener("change", () => {
  els.timeout.value = String(timeoutValue());
  stateChanged();
});
els.ret.addEventListener("change", stateChanged);

for (const ex of EXAMPLES) els.examples.append(h("option", { value: ex.id }, ex.title));
els.examples.addEventListener("change", () => {
  const ex = exampleById(els.examples.value);
  if (ex) loadExample(ex);
});

function loadExample(ex) {
  applyState({
    code: ex.code, scope: formatVars(ex.scope), dynamic: formatVars(ex.dynamic),
    mode: ex.mode, timeout: ex.timeout ?? DEFAULT_TIMEOUT, return: "data",
  });
  els.examples.value = ex.id;
  showNote(ex);
  markError(codeView, null);
  resetOutput();
  stateChanged();
}

// `backticks` in a note are code.
function showNote(ex) {
  shownExample = ex;
  els.note.hidden = !ex;
  const parts = ex ? ex.note.split("`").map((t, i) => (i % 2 ? h("code", {}, t) : t)) : [];
  clear(els.note, ex ? [h("strong", {}, ex.title + ". "), parts] : []);
}

// ---- theme ------------------------------------------------------------------------

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  const next = theme === "dark" ? "light" : "dark";
  els.theme.setAttribute("aria-label", `Switch to the ${next} theme`);
  els.theme.title = `Switch to the ${next} theme`;
  els.theme.dataset.theme = theme;
  setDark([codeView, scopeView, dynamicView], theme === "dark");
}
els.theme.addEventListener("click", () => {
  const theme = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  store.set("theme", theme);
  applyTheme(theme);
});
applyTheme(document.documentElement.dataset.theme === "dark" ? "dark" : "light");
// Until a theme is chosen here, the system's preference is followed live.
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", (e) => {
  if (!store.get("theme")) applyTheme(e.matches ? "dark" : "light");
});

// ---- share --------------------------------------------------------------------------

let toastTimer = null;
function toast(text) {
  els.toast.textContent = text;
  els.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (els.toast.hidden = true), 2500);
}

els.share.addEventListener("click", async () => {
  clearTimeout(hashTimer);
  history.replaceState(null, "", await packState(currentState()));
  try {
    await navigator.clipboard.writeText(location.href);
    toast("Link copied: it holds the code, scope, bindings, mode and engine.");
  } catch {
    toast("The address bar now holds a link to this snippet.");
  }
});

// ---- engines ----------------------------------------------------------------------

function setEngineState(name, state, text) {
  app.engineState[name] = [state, text];
  if (name === app.engine) drawEngineState();
}

function drawEngineState() {
  const [state, text] = app.engineState[app.engine];
  els.engineStatus.dataset.state = state;
  clear(els.engineStatus, h("span", { class: "dot", "aria-hidden": "true" }), h("span", { class: "text" }, text));
  // A server that is down leaves the Browser engine, which needs none.
  els.engineFallback.hidden = !(app.engine === "server" && state === "error");
}

// The server can go away while the page is open: its state is asked again
// every few seconds while it is the engine in use, and at once after a run
// could not reach it, so the dot never stays green for a dead server.
const HEALTH_EVERY_MS = 5000;
function refreshServerState() {
  return engines.server.boot().then(([state, text]) => {
    setEngineState("server", state, state === "error" ? `${text} · the Browser engine still works` : text);
  });
}
setInterval(() => {
  if (app.engine === "server" && !document.hidden && !app.running) refreshServerState();
}, HEALTH_EVERY_MS);
els.engineFallback.addEventListener("click", () => setEngine("browser"));

function setEngine(name, { initial = false } = {}) {
  if (name !== "server" && name !== "browser") name = "server";
  app.engine = name;
  store.set("engine", name);
  for (const r of document.querySelectorAll('input[name="engine"]')) r.checked = r.value === name;
  document.documentElement.dataset.engine = name;
  drawEngineState();
  if (app.session && app.session.engine !== name) endSession({ quiet: true });
  drawSession();
  if (name === "server") {
    refreshServerState();
  } else {
    engines.browser.boot().catch(() => {});
  }
  if (!initial) stateChanged();
}

for (const r of document.querySelectorAll('input[name="engine"]')) {
  r.addEventListener("change", () => setEngine(r.value));
}

// ---- running ----------------------------------------------------------------------

function resetOutput() {
  clear(els.status);
  clear(els.result, h("p", { class: "empty" }, "Run the snippet with ", h("kbd", {}, "Ctrl"), "+", h("kbd", {}, "Enter"),
    " (", h("kbd", {}, "⌘"), "+", h("kbd", {}, "Enter"), " on a Mac) to see its value, its output and any error here."));
  clear(els.scopeAfter, h("p", { class: "muted small" }, "The namespace after the run, with added, changed and removed names marked."));
  clear(els.dynamicView, h("p", { class: "muted small" }, "The dynamic scope at each moment that mattered: every dynscope.snapshot() the snippet calls, where an error was raised, and the end of the run."));
  els.raw.textContent = "";
  document.body.dataset.outcome = "";
  delete document.body.dataset.stale;
  $("#stale-note").hidden = true;
}

// Keyboard users keep their place: focus moves from Run to Stop and back.
function setRunning(on) {
  const hadFocus = document.activeElement === (on ? els.run : els.stop);
  els.run.disabled = on;
  els.run.setAttribute("aria-busy", on ? "true" : "false");
  els.stop.hidden = !on;
  document.body.dataset.running = on ? "1" : "";
  if (hadFocus) (on ? els.stop : els.run).focus();
}

async function run() {
  if (app.running) return;
  const scopeCheck = validate("scope", { quiet: true });
  const dynCheck = validate("dynamic", { quiet: true });
  const bad = scopeCheck.error ? "scope" : dynCheck.error ? "dynamic" : null;
  if (bad) {
    renderStatus(els.status, { status: 0, body: { ok: false, error: { code: "invalid_json" } } }, app.engine);
    clear(els.result, h("div", { class: "error-box" }, h("div", { class: "error-head" },
      h("strong", { class: "error-type" }, `The ${bad === "scope" ? "Scope" : "Dynamic bindings"} JSON is not valid`)),
      h("p", { class: "error-msg-block" }, checks[bad].error)));
    views[bad].focus();
    return;
  }
  const engineName = app.engine;
  const engine = engines[engineName];
  const req = {
    code: codeView.state.doc.toString(),
    mode: app.mode,
    scope: scopeCheck.value,
    dynamic: dynCheck.value,
    return: els.ret.value,
    timeout_ms: timeoutValue(),
    ...io.fields(),
  };
  const session = app.session && app.session.engine === engineName ? app.session.id : null;
  // A session got the Scope when it started; sending it again would reset
  // those names on every run.
  if (session) req.scope = {};
  const ranState = currentState();
  const controller = new AbortController();
  app.running = { controller };
  setRunning(true);
  markError(codeView, null);
  const booting = engineName === "browser" && app.engineState.browser[0] !== "ready";
  const label = booting ? "browser · waiting for Python to load" : `${engineName}${session ? " · session" : ""}`;
  renderRunning(els.status, engineName, label);
  const clock = runClock(els.status, label, { busy: engineName === "server" ? () => engine.busyNote() : null });
  document.body.dataset.outcome = "running";
  // The server engine streams what the snippet writes: shown as it comes,
  // replaced by the whole answer at the end.
  let live = null;
  const onOutput = (stream, text) => {
    clock.running();
    if (live === null) {
      live = h("pre", { class: "stream-text live-output", "aria-live": "polite" });
      clear(els.result, h("div", { class: "stream stream-live" },
        h("div", { class: "stream-head" }, h("span", {}, "output so far")), live));
    }
    live.append(stream === "stderr" ? h("span", { class: "live-stderr" }, text) : text);
  };
  let outcome;
  try {
    outcome = await engine.run(req, { signal: controller.signal, session, onOutput });
  } catch (e) {
    outcome = { status: 0, body: { ok: false, error: { code: "engine_error", message: String(e?.message ?? e) } } };
  }
  clock.stop();
  app.running = null;
  setRunning(false);
  show(outcome, engineName, req);
  runs.add(ranState, outcome, engineName);
  if (engineName === "server" && outcome.body?.error?.code === "network_error") refreshServerState();
  if (session) afterSessionRun(outcome);
  // On a narrow screen the answer is below the inputs: bring it into view.
  const panel = $(".panel-result");
  if (matchMedia("(max-width: 900px)").matches && panel.getBoundingClientRect().top > innerHeight * 0.6) {
    panel.scrollIntoView({ block: "start", behavior: matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth" });
  }
}

let finished = 0;
function show(outcome, engineName, req) {
  delete document.body.dataset.stale;
  $("#stale-note").hidden = true;
  const c = renderStatus(els.status, outcome, engineName);
  document.body.dataset.outcome = c.kind;
  document.body.dataset.runs = String(++finished);
  renderResult(els.result, outcome, { mode: req.mode, onLine: (line) => goToLine(codeView, line) });
  renderScope(els.scopeAfter, outcome, req.scope);
  renderDynamic(els.dynamicView, outcome, { onLine: (line) => goToLine(codeView, line) });
  els.raw.textContent = JSON.stringify(outcome.body, null, 2);
  if (c.kind === "python-error") {
    const e = outcome.body.error;
    if (e.line) markError(codeView, { line: e.line, column: e.column, note: `${e.type}: ${e.message}`.slice(0, 120) });
  }
}

// An answer drawn for inputs that have been edited since says so.
function markStale() {
  const o = document.body.dataset.outcome;
  if (!o || o === "running") return;
  document.body.dataset.stale = "1";
  $("#stale-note").hidden = false;
}

// ---- history and docs (src/run-history.js, src/docs-panel.js) --------------------

const runs = runHistory($("#history"), {
  onOpen({ state, engine, outcome }) {
    const { engine: _ignored, ...inputs } = state; // the answer says which engine; the switch stays
    applyState(inputs);
    const ex = exampleFor(inputs);
    els.examples.value = ex?.id ?? "";
    showNote(ex);
    show(outcome, engine, { mode: state.mode, scope: checkVariables(state.scope).value ?? {} });
    $(".panel-result").scrollIntoView({ block: "nearest" });
  },
});
const docs = docsPanel({
  panel: $("#docs"),
  openers: document.querySelectorAll("[data-open-docs]"),
  onTry(code) {
    setDoc(codeView, code);
    setMode("exec");
    codeView.focus();
  },
});

els.run.addEventListener("click", () => run());
els.stop.addEventListener("click", () => app.running?.controller.abort());
document.addEventListener("keydown", (e) => {
  if (e.defaultPrevented) return;
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    run();
  }
});
// Esc stops a run wherever the focus is, editors included (where Ctrl+Enter
// started it). Seen before the editor does and not consumed, so inside an
// editor it keeps its own meaning too: the next Tab leaves the editor.
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && app.running) app.running.controller.abort();
}, { capture: true });

// ---- sessions ---------------------------------------------------------------------

// A server session outlives the page: its id is kept in the page's storage
// and a reload attaches to it again; only End (or the server, when it has
// ended it) forgets it. A browser-engine session lives in this page's
// interpreter and dies with it, so it is never kept.
function keepSession(s) {
  store.set("session", s && s.engine === "server" ? JSON.stringify({ id: s.id }) : null);
}

function keptSession() {
  try {
    const kept = JSON.parse(store.get("session") ?? "null");
    return typeof kept?.id === "string" && /^[A-Za-z0-9_-]{1,64}$/.test(kept.id) ? kept.id : null;
  } catch {
    return null;
  }
}

async function resumeKeptSession() {
  const id = keptSession();
  if (!id || app.engine !== "server" || app.session) return;
  app.session = { engine: "server", id, runs: 0, idle_ttl_ms: undefined };
  clear(els.sessionState, "Reattaching the session kept from before the reload…");
  await refreshSession();
}

function drawSession(extra) {
  const s = app.session;
  keepSession(s);
  $("#scope-hint").textContent = s ? "the session's starting scope" : "global variables, JSON";
  els.sessionStart.hidden = Boolean(s);
  els.sessionRefresh.hidden = !s;
  els.sessionEnd.hidden = !s;
  document.body.dataset.session = s ? s.id : "";
  if (!s) {
    clear(els.sessionState, extra ?? "No session: every run starts from a fresh namespace.");
    els.sessionScope.hidden = true;
    clear(els.sessionScope);
    return;
  }
  const secs = Math.round((s.idle_ttl_ms ?? 0) / 1000);
  const ttl = !secs ? "lives as long as this tab" :
    `ends after ${secs % 60 === 0 ? `${secs / 60} min` : `${secs} s`} idle`;
  clear(els.sessionState, h("code", { class: "session-id" }, s.id), ` · ${s.runs} run${s.runs === 1 ? "" : "s"} · ${s.engine} · ${ttl}`);
  els.sessionScope.hidden = false;
}

function sessionError(outcome) {
  const e = outcome.body?.error;
  els.sessionError.hidden = !e;
  els.sessionError.textContent = e ? `${e.code}: ${e.message}` : "";
}

function drawSessionScope(body) {
  clear(els.sessionScope, h("div", { class: "session-scope-head" }, "Session scope"),
    scopeTree(body.scope, body.definitions, { added: [], changed: [], removed: [] }));
}

async function startSession() {
  const c = validate("scope", { quiet: true });
  if (c.error) {
    scopeView.focus();
    return;
  }
  const engineName = app.engine;
  els.sessionStart.disabled = true;
  clear(els.sessionState, "Starting a session…");
  const outcome = await engines[engineName].createSession(c.value);
  els.sessionStart.disabled = false;
  sessionError(outcome);
  if (outcome.status === 201 || outcome.status === 200) {
    const b = outcome.body;
    app.session = { engine: engineName, id: b.id, runs: b.runs ?? 0, idle_ttl_ms: b.idle_ttl_ms };
    drawSession();
    drawSessionScope(b);
  } else {
    drawSession();
  }
}

async function refreshSession() {
  const s = app.session;
  if (!s) return;
  const outcome = await engines[s.engine].getSession(s.id);
  if (app.session !== s) return;
  sessionError(outcome);
  if (outcome.status === 200) {
    s.runs = outcome.body.runs ?? s.runs;
    if (outcome.body.idle_ttl_ms !== undefined) s.idle_ttl_ms = outcome.body.idle_ttl_ms;
    drawSession();
    drawSessionScope(outcome.body);
  } else if (outcome.status === 404) {
    app.session = null;
    drawSession("The session has ended (idle too long, or its worker stopped). Start a new one.");
  } else {
    drawSession(); // unreachable for now: the session is kept, the error shown
  }
}

async function endSession({ quiet = false } = {}) {
  const s = app.session;
  if (!s) return;
  app.session = null;
  drawSession(quiet ? `The ${s.engine} session ${s.id} was ended: sessions belong to one engine.` : undefined);
  const outcome = await engines[s.engine].deleteSession(s.id);
  if (!quiet && outcome.status !== 200 && outcome.status !== 404) sessionError(outcome);
}

function afterSessionRun(outcome) {
  const s = app.session;
  if (!s) return;
  const c = classify(outcome);
  if (outcome.body?.error?.code === "session_not_found") {
    app.session = null;
    drawSession("The session has ended (idle too long, or its worker stopped). Start a new one.");
    return;
  }
  if (c.kind === "ok" || c.kind === "python-error") {
    s.runs += 1;
    drawSession();
    drawSessionScope(outcome.body);
  } else {
    refreshSession();
  }
}

els.sessionStart.addEventListener("click", () => startSession());
els.sessionRefresh.addEventListener("click", () => refreshSession());
els.sessionEnd.addEventListener("click", () => endSession());

// ---- start ------------------------------------------------------------------------

if (/Mac|iPhone|iPad/.test(navigator.platform)) {
  for (const k of document.querySelectorAll(".kbd-hint")) k.textContent = "⌘+Enter";
}
setMode(start.mode);
els.timeout.value = String(start.timeout);
els.ret.value = start.return;
validate("scope", { quiet: true });
validate("dynamic", { quiet: true });
els.examples.value = firstExample?.id ?? "";
showNote(firstExample);
resetOutput();
const keptId = keptSession();
setEngine(start.engine, { initial: true });
// (setEngine drew "no session", which forgot it: put it back to reattach)
if (keptId) store.set("session", JSON.stringify({ id: keptId }));
resumeKeptSession().finally(() => {
  document.documentElement.dataset.ready = "1";
});

// For the browser tests and the curious: the last answers, as data.
window.scopebox = { engines, app, run, runs, docs, examples: EXAMPLES, views: { code: codeView, scope: scopeView, dynamic: dynamicView } };
