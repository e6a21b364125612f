// Run history and drafts, in the browser's storage:
// - the last runs of this tab (sessionStorage: a tab's own, kept across its
//   reloads), each with the inputs it ran with and its answer, listed in
//   the History panel; any run re-opens, and two runs compare side by side
//   with a line diff of their answers;
// - the draft (localStorage): the inputs as last edited, restored when the
//   page opens without a link of its own.
import { h, clear } from "./dom.js";
import { parseAnswer, repr } from "./values.js";
import { classify } from "./render.js";

const HISTORY_KEY = "scopebox-history";
const DRAFT_KEY = "scopebox-draft";
const KEEP = 20;
// An answer bigger than this is kept as its summary only, so a run that
// prints megabytes cannot push the others out of the storage quota.
const MAX_ANSWER_CHARS = 200000;

function load(storage, key) {
  try {
    return JSON.parse(storage.getItem(key) ?? "null");
  } catch {
    return null;
  }
}

function save(storage, key, value) {
  try {
    storage.setItem(key, JSON.stringify(value));
    return true;
  } catch {
    return false; // private mode or full: the page works without it
  }
}

export function saveDraft(state) {
  save(localStorage, DRAFT_KEY, state);
}

export function readDraft() {
  const d = load(localStorage, DRAFT_KEY);
  if (!d || typeof d !== "object" || typeof d.code !== "string") return null;
  const out = {};
  for (const k of ["code", "scope", "dynamic", "example"]) if (typeof d[k] === "string") out[k] = d[k];
  if (d.mode === "exec" || d.mode === "eval") out.mode = d.mode;
  if (d.return === "data" || d.return === "all") out.return = d.return;
  if (d.engine === "server" || d.engine === "browser") out.engine = d.engine;
  if (Number.isInteger(d.timeout) && d.timeout > 0) out.timeout = d.timeout;
  return out;
}

// What an answer says, in one line.
function summary(outcome) {
  const c = classify(outcome);
  const b = outcome.body ?? {};
  if (c.kind === "ok") return b.result === null || b.result === undefined ? "None" : repr(b.result, 80);
  if (c.kind === "python-error") return `${b.error.type}: ${b.error.message ?? ""}`.slice(0, 120);
  return `${c.chip}: ${b.error?.message ?? ""}`.slice(0, 120);
}

// The answer as comparable text: its JSON without what differs from run to
// run by nature (timing).
function answerText(entry) {
  if (entry.answer === null) return `(answer not kept: over ${MAX_ANSWER_CHARS} characters)\n${entry.summary}`;
  const body = parseAnswer(entry.answer);
  if (body && typeof body === "object") delete body.timing;
  return JSON.stringify(body, null, 2);
}

// A line diff (longest common subsequence), bounded so that two huge
// answers cannot stall the page: past the bound, lines are paired in order.
const DIFF_MAX_LINES = 1500;
export function diffLines(a, b) {
  const x = a.split("\n"), y = b.split("\n");
  if (x.length > DIFF_MAX_LINES || y.length > DIFF_MAX_LINES) {
    const out = [];
    for (let i = 0; i < Math.max(x.length, y.length); i++) {
      if (x[i] === y[i]) out.push(["same", x[i]]);
      else {
        if (i < x.length) out.push(["del", x[i]]);
        if (i < y.length) out.push(["add", y[i]]);
      }
    }
    return out;
  }
  const n = x.length, m = y.length;
  const L = Array.from({ length: n + 1 }, () => new Uint16Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  }
  const out = [];
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) {
      out.push(["same", x[i]]);
      i++;
      j++;
    } else if (L[i + 1][j] >= L[i][j + 1]) out.push(["del", x[i++]]);
    else out.push(["add", y[j++]]);
  }
  while (i < n) out.push(["del", x[i++]]);
  while (j < m) out.push(["add", y[j++]]);
  return out;
}

// root: the History panel's body. onOpen(entry) puts a run back into the
// editors and the result panels.
export function runHistory(root, { onOpen }) {
  let entries = load(sessionStorage, HISTORY_KEY);
  if (!Array.isArray(entries)) entries = [];
  const picked = new Set();
  let seq = entries.reduce((n, e) => Math.max(n, e.n ?? 0), 0);
  const list = h("ol", { class: "history-list", "aria-label": "Runs of this tab, newest first" });
  const compareView = h("div", { class: "history-compare", hidden: true });
  const note = h("p", { class: "muted small history-note" });
  clear(root, note, list, compareView);

  function persist() {
    // Oldest first out until the list fits the tab's storage.
    while (!save(sessionStorage, HISTORY_KEY, entries) && entries.length > 1) entries.pop();
  }

  function draw() {
    note.textContent = entries.length
      ? "Open puts a run back; tick two to compare their answers."
      : "Runs of this tab appear here, newest first, with their inputs and answers.";
    clear(list, entries.map((e) => {
      const box = h("input", { type: "checkbox", class: "history-pick", "aria-label": `Compare run ${e.n}`,
        checked: picked.has(e.n) });
      box.addEventListener("change", () => {
        if (box.checked) picked.add(e.n);
        else picked.delete(e.n);
        // Two at a time: the oldest pick gives way.
        while (picked.size > 2) picked.delete(picked.values().next().value);
        draw();
      });
      const time = new Date(e.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
      return h("li", { class: "history-item", "data-run": String(e.n) },
        box,
        h("span", { class: `chip chip-${e.cls}` }, e.chip),
        h("span", { class: "history-meta" }, `#${e.n} · ${time} · ${e.engine} · ${e.state.mode}`),
        h("code", { class: "history-code", title: e.state.code }, firstLine(e.state.code)),
        h("span", { class: "history-summary" }, e.summary),
        h("button", { type: "button", class: "history-open", onclick: () => onOpen(reopen(e)) }, "Open"));
    }));
    drawCompare();
  }

  function drawCompare() {
    const two = entries.filter((e) => picked.has(e.n)).reverse(); // older first
    compareView.hidden = two.length !== 2;
    if (two.length !== 2) return clear(compareView);
    const [a, b] = two;
    const diff = diffLines(answerText(a), answerText(b));
    const changed = diff.filter(([k]) => k !== "same").length;
    const side = (e) => h("div", { class: "history-side" },
      h("div", { class: "history-side-head" }, h("strong", {}, `Run #${e.n}`), ` · ${e.engine} · `,
        h("span", { class: `chip chip-${e.cls}` }, e.chip)),
      h("pre", { class: "history-side-code" }, e.state.code),
      inputsLine(e.state),
      h("p", { class: "history-side-summary" }, e.summary));
    clear(compareView,
      h("div", { class: "history-sides" }, side(a), side(b)),
      h("div", { class: "history-diff-head" }, changed
        ? `Answers of #${a.n} and #${b.n}: ${changed} line${changed === 1 ? "" : "s"} differ (timing left out)`
        : `Answers of #${a.n} and #${b.n} are the same (timing left out)`),
      h("pre", { class: "history-diff", tabindex: "0" },
        diff.map(([k, line]) => h("span", { class: `diff-${k}` }, (k === "add" ? "+ " : k === "del" ? "- " : "  ") + line + "\n"))));
  }

  function add(state, outcome, engine) {
    const c = classify(outcome);
    let answer = JSON.stringify(outcome.body ?? null);
    if (answer.length > MAX_ANSWER_CHARS) answer = null;
    entries.unshift({ n: ++seq, at: Date.now(), engine, state, answer, summary: summary(outcome),
      chip: c.chip, cls: c.cls, status: outcome.status ?? 0, stopped: Boolean(outcome.stopped) });
    entries.length = Math.min(entries.length, KEEP);
    for (const n of [...picked]) if (!entries.some((e) => e.n === n)) picked.delete(n);
    persist();
    draw();
  }

  draw();
  return { add, entries: () => entries };
}

function firstLine(code) {
  const line = code.split("\n").find((l) => l.trim() && !l.trim().startsWith("#")) ?? "";
  return line.length > 60 ? line.slice(0, 59) + "…" : line;
}

function inputsLine(s) {
  const bits = [];
  if (s.scope && s.scope.trim() !== "{}") bits.push(`scope ${s.scope.replace(/\s+/g, " ")}`);
  if (s.dynamic && s.dynamic.trim() !== "{}") bits.push(`dynamic ${s.dynamic.replace(/\s+/g, " ")}`);
  return bits.length ? h("p", { class: "muted small history-side-inputs" }, bits.join(" · ")) : null;
}

// An entry as the page shows it again: its inputs, and its answer as the
// engine gave it (or its summary, when the answer was too big to keep).
function reopen(e) {
  const body = e.answer === null
    ? { ok: false, error: { code: "not_kept", message: `This run's answer was too big to keep. ${e.summary}` } }
    : parseAnswer(e.answer);
  const outcome = { status: e.status, body };
  if (e.stopped) outcome.stopped = true;
  return { state: e.state, engine: e.engine, outcome, n: e.n };
}
