// Draws an answer: the status line, the value, the error with its
// traceback, stdout/stderr, the scope after the run as a tree with its
// changes marked (the dynamic scope: dynamic-panel.js).
import { h, clear } from "./dom.js";
import { valueTree, repr, PyFloat } from "./values.js";

const API_ERROR_TITLES = {
  timeout: "Timed out",
  queue_timeout: "Timed out in the queue",
  stopped: "Stopped",
  queue_full: "Server busy",
  too_many_sessions: "No session slot free",
  session_not_found: "Session not found",
  worker_crashed: "Worker crashed",
  network_error: "Network error",
};

export function classify(outcome) {
  const b = outcome.body ?? {};
  if (outcome.stopped) return { kind: "stopped", chip: "Stopped", cls: "warn" };
  if (b.ok === true) return { kind: "ok", chip: "OK", cls: "ok" };
  // A timeout answer (TimeoutResult) also says where the run stopped: its
  // `code` tells it from a Python exception.
  if (b.ok === false && b.error && "traceback" in b.error && !("code" in b.error)) {
    return { kind: "python-error", chip: b.error.type, cls: "err" };
  }
  const code = b.error?.code ?? "error";
  if (code === "timeout" || code === "queue_timeout") return { kind: "timeout", chip: API_ERROR_TITLES[code], cls: "warn" };
  return { kind: "api-error", chip: API_ERROR_TITLES[code] ?? `${outcome.status || ""} ${code}`.trim(), cls: "err" };
}

function fmtMs(value) {
  const ms = value instanceof PyFloat ? Number(value.text) : value;
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "?";
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
}

export function renderStatus(el, outcome, engine) {
  const c = classify(outcome);
  const t = outcome.body?.timing;
  const bits = [engine];
  // Only the server answers over HTTP: the browser engine's status codes
  // are the API's shapes, not something the user's request went through.
  if (outcome.status && engine === "server") bits.push(`HTTP ${outcome.status}`);
  if (t) {
    bits.push(`run ${fmtMs(t.run_ms)}`);
    if (engine === "server") bits.push(`queue ${fmtMs(t.queue_ms)}`);
  }
  clear(el,
    h("span", { class: `chip chip-${c.cls}`, "data-kind": c.kind }, c.chip),
    h("span", { class: "status-meta" }, bits.join(" · ")));
  return c;
}

export function renderRunning(el, engine, text) {
  clear(el, h("span", { class: "chip chip-run", "data-kind": "running" }, h("span", { class: "spinner", "aria-hidden": "true" }), "Running"),
    h("span", { class: "status-meta" }, text ?? engine));
}

function section(title, ...kids) {
  return h("section", { class: "out-section" }, h("h3", {}, title), ...kids);
}

function stream(name, text, truncated) {
  return h("div", { class: `stream stream-${name}` },
    h("div", { class: "stream-head" }, h("span", {}, name),
      truncated ? h("span", { class: "chip chip-warn" }, "truncated: the rest was cut") : null),
    h("pre", { class: "stream-text", tabindex: "0" }, text));
}

// A traceback as CPython prints it: a frame repeated more than three times
// in a row (a RecursionError's 50 identical lines) is shown three times,
// then "[Previous line repeated N more times]".
const SHOWN_REPEATS = 3;
export function collapseRepeats(frames) {
  const out = [];
  let prev = null, same = 0;
  const flush = () => {
    if (same > SHOWN_REPEATS) out.push({ repeated: same - SHOWN_REPEATS });
  };
  for (const f of frames) {
    const key = f.omitted ? null : `${f.function}\u0000${f.line}\u0000${f.source}`;
    if (key !== null && key === prev) {
      if (++same <= SHOWN_REPEATS) out.push(f);
      continue;
    }
    flush();
    prev = key;
    same = 1;
    out.push(f);
  }
  flush();
  return out;
}

function tracebackItem(f, onLine) {
  if (f.omitted) return h("span", { class: "muted" }, `… ${f.omitted} frames omitted`);
  if (f.repeated) return h("span", { class: "muted" }, `[Previous line repeated ${f.repeated} more time${f.repeated === 1 ? "" : "s"}]`);
  return [
    h("button", { type: "button", class: "linklike", onclick: () => onLine(f.line), disabled: !f.line },
      f.line ? `line ${f.line}` : "line ?"),
    h("span", { class: "tb-fn" }, " in ", h("code", {}, f.function)),
    f.source ? h("pre", { class: "tb-src" }, f.source.trim()) : null,
  ];
}

function errorBox(err, onLine) {
  const where = err.line ? h("div", { class: "error-where" },
    h("button", { type: "button", class: "linklike", onclick: () => onLine(err.line) },
      `line ${err.line}${err.column ? `, column ${err.column}` : ""}`),
    err.source ? h("code", {}, err.source.trim()) : null) : null;
  const tb = (err.traceback ?? []).length ? h("div", { class: "traceback" },
    h("div", { class: "traceback-head" }, "Traceback, outermost first"),
    h("ol", {}, collapseRepeats(err.traceback).map((f) => h("li", {}, tracebackItem(f, onLine))))) : null;
  return h("div", { class: "error-box", role: "group", "aria-label": "Python error" },
    h("div", { class: "error-head" }, h("strong", { class: "error-type" }, err.type),
      err.message ? h("span", { class: "error-msg" }, ": " + err.message) : null),
    where, tb);
}

function apiErrorBox(outcome, c) {
  const e = outcome.body?.error ?? {};
  return h("div", { class: `error-box ${c.cls === "warn" ? "warn-box" : ""}` },
    h("div", { class: "error-head" }, h("strong", { class: "error-type" }, c.chip),
      e.code && e.code !== "stopped" ? h("span", { class: "error-code" }, ` (${e.code})`) : null),
    h("p", { class: "error-msg-block" }, e.message ?? "The request failed."),
    e.field ? h("p", { class: "muted" }, `field: ${e.field}`) : null);
}

// The result panel's body.
export function renderResult(el, outcome, { mode, onLine }) {
  const b = outcome.body ?? {};
  const c = classify(outcome);
  if (c.kind !== "ok" && c.kind !== "python-error") {
    // A run stopped by its limit or by Stop keeps what it printed until then.
    const kept = (c.kind === "timeout" || c.kind === "stopped") && typeof b.stdout === "string";
    clear(el, apiErrorBox(outcome, c), kept ? [stoppedAt(b.error, onLine), outputParts(b)] : null);
    return;
  }
  const parts = [];
  if (c.kind === "python-error") {
    parts.push(errorBox(b.error, onLine));
    // The usual SyntaxError of eval mode is a statement where one expression goes.
    if (mode === "eval" && b.error.type === "SyntaxError") {
      parts.push(h("p", { class: "hint eval-hint" }, "eval mode takes one expression. For statements (assignments, imports, loops, def), choose exec: its final expression is still the value."));
    }
  }
  else {
    const isSnapshot = b.dynamic?.returned != null;
    const valueEl = valueTree(null, b.result, { open: !isSnapshot });
    parts.push(section("Value",
      h("div", { class: "tree value-tree" }, valueEl),
      isSnapshot ? h("p", { class: "muted small" }, "A dynscope snapshot: drawn as a stack under Dynamic scope.") : null,
      b.result === null && mode === "exec" ? h("p", { class: "muted small" }, "exec mode: the value of a final expression statement, like a notebook cell.") : null));
  }
  parts.push(outputParts(b));
  clear(el, parts);
}

function stoppedAt(e, onLine) {
  if (!e?.line) return null;
  return h("p", { class: "muted small stopped-at" }, "Interrupted at ",
    h("button", { type: "button", class: "linklike", onclick: () => onLine(e.line) }, `line ${e.line}`),
    e.source ? [": ", h("code", {}, e.source.trim())] : null);
}

// stdout, stderr (or both in order), and the collected files.
function outputParts(b) {
  const parts = [];
  for (const url of fileUrls.splice(0)) URL.revokeObjectURL(url);
  const out = b.stdout ?? "", err = b.stderr ?? "";
  const separate = [];
  if (out || b.truncated?.stdout) separate.push(stream("stdout", out, b.truncated?.stdout));
  if (err || b.truncated?.stderr) separate.push(stream("stderr", err, b.truncated?.stderr));
  // Both streams written: what a terminal would have shown, in order, with
  // each stream on its own behind a disclosure.
  if (out && err && Array.isArray(b.output)) {
    parts.push(combined(b.output, b.truncated?.output),
      h("details", { class: "stream-separate" }, h("summary", {}, "stdout and stderr separately"), separate));
  } else {
    parts.push(separate);
  }
  if (!out && !err) parts.push(h("p", { class: "muted small no-output" }, "No output on stdout or stderr."));
  if (b.files?.length || b.truncated?.files) parts.push(collected(b.files ?? [], b.truncated?.files ?? 0));
  return parts;
}

function combined(chunks, truncated) {
  return h("div", { class: "stream stream-output" },
    h("div", { class: "stream-head" }, h("span", {}, "output"), h("span", { class: "muted" }, "stdout and stderr in the order written"),
      truncated ? h("span", { class: "chip chip-warn" }, "truncated: the rest was cut") : null),
    h("pre", { class: "stream-text", tabindex: "0" },
      chunks.map((c) => h("span", { class: `out-${c.stream === "stderr" ? "stderr" : "stdout"}` }, c.text))));
}

// The files `collect` returned: text shown, bytes offered for download
// (object URLs, released when the next answer is drawn).
let fileUrls = [];
function collected(files, leftOut) {
  const items = files.map((f) => {
    const head = h("div", { class: "collected-head" }, h("span", { class: "file-path" }, f.path),
      h("span", { class: "muted" }, `${f.size} bytes`));
    if (f.omitted) return h("li", { class: "collected-file" }, head, h("p", { class: "muted small" }, "contents left out: past the answer's bounds"));
    const bytes = "base64" in f ? Uint8Array.from(atob(f.base64), (ch) => ch.charCodeAt(0)) : f.text;
    const url = URL.createObjectURL(new Blob([bytes]));
    fileUrls.push(url);
    head.append(h("a", { href: url, download: f.path.split("/").pop() }, "download"));
    return h("li", { class: "collected-file" }, head,
      "text" in f ? h("pre", { class: "stream-text", tabindex: "0" }, f.text) : h("p", { class: "muted small" }, "binary"));
  });
  return section("Files",
    h("ul", { class: "collected" }, items),
    leftOut ? h("p", { class: "muted small" }, `${leftOut} more matching file${leftOut === 1 ? "" : "s"} left out`) : null);
}

const MARKS = { added: "added", changed: "changed", removed: "removed" };

function badge(kind) {
  return kind ? h("span", { class: `mark mark-${kind}`, title: kind }, kind) : null;
}

// A namespace: its data names as trees, its definitions by kind, and what
// changed. `previous` holds the values sent, to show what a removed name was.
export function scopeTree(scope, definitions, changes, previous = {}) {
  const marks = new Map();
  for (const k of Object.keys(MARKS)) for (const n of changes?.[k] ?? []) marks.set(n, k);
  const rows = [];
  for (const [name, v] of Object.entries(scope ?? {})) {
    const m = marks.get(name);
    rows.push(valueTree(name, v, { mark: m ? `row-${m}` : "", badge: badge(m) }));
  }
  for (const [name, kind] of Object.entries(definitions ?? {})) {
    const m = marks.get(name);
    rows.push(h("div", { class: `t-row t-leaf t-def ${m ? `row-${m}` : ""}` }, badge(m),
      h("span", { class: "t-label" }, name), h("span", { class: "t-sep" }, " : "),
      h("span", { class: `chip chip-kind kind-${kind}` }, kind)));
  }
  for (const name of changes?.removed ?? []) {
    rows.push(h("div", { class: "t-row t-leaf row-removed" }, badge("removed"),
      h("span", { class: "t-label" }, name),
      name in previous ? [h("span", { class: "t-sep" }, " = "), h("span", { class: "v was" }, repr(previous[name], 80))] : null));
  }
  if (!rows.length) return h("p", { class: "muted small" }, "The namespace is empty.");
  return h("div", { class: "tree" }, rows);
}

export function renderScope(el, outcome, previous) {
  const b = outcome.body ?? {};
  const c = classify(outcome);
  if (c.kind !== "ok" && c.kind !== "python-error") {
    clear(el, h("p", { class: "muted small" }, "No scope: the run did not finish."));
    return;
  }
  const ch = b.changes ?? { added: [], changed: [], removed: [] };
  const counts = ["added", "changed", "removed"].map((k) => `${ch[k]?.length ?? 0} ${k}`).join(", ");
  clear(el, h("p", { class: "muted small scope-summary" }, counts), scopeTree(b.scope, b.definitions, ch, previous));
}
