// The Dynamic scope panel: the bindings a run's free names were looked up
// in, at the moments that mattered, in the order they happened:
//   - each dynscope.snapshot() the snippet called (dynamic.snapshots), with
//     the line and function it was called from;
//   - where an exception was raised (error.dynamic), before the with-blocks
//     it left unwound their bindings;
//   - the end of the run (dynamic.final): what outlived the snippet, the
//     request's root bindings.
// Each moment is a stack, innermost frame on top: a lookup (docs/
// dynamic-scope.md, "A lookup walks the live stack") starts there and walks
// down; the first binding met wins, and one met again further down is
// shadowed.
import { h, clear } from "./dom.js";
import { valueTree } from "./values.js";
import { classify } from "./render.js";

const SHOWN_OPEN = 8; // moments drawn open; past these, closed behind their heading

function frameHead(f, i, onLine) {
  const root = f.function === "<request>";
  const where = root ? h("span", { class: "frame-where" }, "root bindings from the request")
    : f.omitted ? null
    : f.line ? h("button", { type: "button", class: "linklike frame-where", onclick: () => onLine(f.line), title: "Show this line" },
      f.file && f.file !== "<snippet>" ? `${f.file}, line ${f.line}` : `line ${f.line}`)
    : null;
  return h("div", { class: "frame-head" },
    h("code", { class: "frame-fn" }, root ? "<request>" : f.omitted ? "…" : `${f.function}()`),
    where,
    i === 0 ? h("span", { class: "chip chip-note" }, "innermost") : null);
}

// One snapshot as a stack of frames with their bindings.
export function stack(frames, label, { onLine = () => {} } = {}) {
  const seen = new Map();
  const items = frames.map((f, i) => {
    if (f.omitted) {
      return h("li", { class: "frame frame-omitted" }, h("p", { class: "muted small" }, `… ${f.omitted} frames left out`));
    }
    const rows = Object.entries(f.bindings ?? {}).map(([name, v]) => {
      const by = seen.get(name);
      if (!by) seen.set(name, f.function);
      return valueTree(name, v, by ? { mark: "shadowed", badge: h("span", { class: "mark mark-shadowed", title: `shadowed by ${by}` }, "shadowed") } : {});
    });
    return h("li", { class: `frame ${f.function === "<request>" ? "frame-root" : ""}` },
      frameHead(f, i, onLine),
      rows.length ? h("div", { class: "frame-bindings tree" }, rows) : h("p", { class: "muted small" }, "no bindings"));
  });
  return h("div", { class: `stack-wrap ${items.length === 1 ? "stack-single" : ""}` },
    h("div", { class: "stack-arrow", "aria-hidden": "true" }, h("span", {}, "lookup")),
    h("ol", { class: "stack", "aria-label": label }, items));
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// The moments of a run, in order.
export function moments(body) {
  const d = body?.dynamic ?? {};
  const out = [];
  const snaps = d.snapshots ?? [];
  // The snapshot the snippet returned is one it took: marked there, not
  // drawn twice (the last equal one: the value is the latest such call).
  let returnedAt = -1;
  if (d.returned) {
    for (let i = snaps.length - 1; i >= 0; i--) {
      if (same(snaps[i].frames, d.returned)) {
        returnedAt = i;
        break;
      }
    }
  }
  snaps.forEach((s, i) => out.push({ kind: "snapshot", n: i + 1, line: s.line, function: s.function, frames: s.frames, returned: i === returnedAt }));
  if (d.returned && returnedAt < 0) out.push({ kind: "snapshot", n: null, line: null, function: null, frames: d.returned, returned: true });
  const e = body?.error;
  if (e && Array.isArray(e.dynamic)) {
    const inner = e.traceback?.length ? e.traceback[e.traceback.length - 1] : null;
    out.push({ kind: "raise", line: e.line, function: inner?.function ?? null, frames: e.dynamic, error: e });
  }
  if (Array.isArray(d.final)) out.push({ kind: "final", frames: d.final });
  return { list: out, omitted: d.snapshots_omitted ?? 0 };
}

function lineButton(line, fn, onLine) {
  if (!line) return fn ? h("span", {}, ` in ${fn}()`) : null;
  return [" at ", h("button", { type: "button", class: "linklike", onclick: () => onLine(line) }, `line ${line}`),
    fn ? [" in ", h("code", {}, fn === "<module>" ? "<module>" : `${fn}()`)] : null];
}

function heading(m, onLine, stopped) {
  if (m.kind === "snapshot") {
    return [h("span", { class: "moment-tag tag-snapshot" }, m.n ? `snapshot ${m.n}` : "snapshot"),
      h("code", {}, "dynscope.snapshot()"), lineButton(m.line, m.function, onLine),
      m.returned ? h("span", { class: "chip chip-note" }, "returned as the value") : null];
  }
  if (m.kind === "raise") {
    return [h("span", { class: "moment-tag tag-raise" }, "raised"),
      h("code", {}, m.error.type), lineButton(m.line, m.function, onLine)];
  }
  return [h("span", { class: "moment-tag tag-final" }, stopped ? "when it stopped" : "after the run")];
}

function explain(m, list, stopped) {
  if (m.kind === "raise") return "Where it was raised, before the with-blocks it left unwound: the bindings the failing code saw.";
  if (m.kind !== "final") return null;
  const made = list.some((x) => x.kind !== "final" && x.frames.some((f) => f.function !== "<request>" && Object.keys(f.bindings ?? {}).length));
  if (!m.frames.length) {
    return made ? "Nothing is bound any more: every binding ended with its with-block or its frame."
      : "Nothing is bound: the request sent no root bindings and the snippet left none.";
  }
  if (made) return "The snippet's own bindings ended with their blocks and frames; the request's root bindings remain.";
  if (m.frames.every((f) => f.function === "<request>")) {
    return "The request's root bindings (the Dynamic JSON): visible from every frame, for the whole run.";
  }
  return stopped ? "What was still bound where the run stopped." : "The bindings visible when the run ended.";
}

function moment(m, i, list, onLine, stopped) {
  const label = m.kind === "snapshot" ? `snapshot ${m.n ?? ""}` : m.kind === "raise" ? "where it was raised" : "after the run";
  const body = [m.frames.length ? stack(m.frames, `Dynamic scope, ${label}`, { onLine }) : null,
    explain(m, list, stopped) ? h("p", { class: "muted small moment-note" }, explain(m, list, stopped)) : null];
  const attrs = { class: `moment moment-${m.kind}`, "data-kind": m.kind };
  if (m.line) attrs["data-line"] = String(m.line);
  // Many snapshots (a loop): the first few open, the others a click away.
  if (i >= SHOWN_OPEN && m.kind === "snapshot") {
    return h("li", attrs, h("details", {}, h("summary", { class: "moment-head" }, heading(m, onLine, stopped)), body));
  }
  return h("li", attrs, h("div", { class: "moment-head" }, heading(m, onLine, stopped)), body);
}

export function renderDynamic(el, outcome, { onLine = () => {} } = {}) {
  const b = outcome.body ?? {};
  const c = classify(outcome);
  // A timeout or cancel that interrupted the run still says what it took.
  const stopped = c.kind === "timeout" || c.kind === "stopped" || b.error?.code === "cancelled";
  if ((c.kind !== "ok" && c.kind !== "python-error" && !stopped) || !b.dynamic) {
    clear(el, h("p", { class: "muted small" }, "No dynamic scope: the run did not get far enough to say."));
    return;
  }
  const { list, omitted } = moments(b);
  const taken = list.some((m) => m.kind === "snapshot");
  const parts = [h("p", { class: "small dyn-lead" },
    "A name that is not local, global or builtin is looked up here: from the innermost frame down, the first binding wins.")];
  parts.push(h("ol", { class: "moments" }, list.map((m, i) => moment(m, i, list, onLine, stopped))));
  if (omitted) parts.push(h("p", { class: "muted small" }, `${omitted} more dynscope.snapshot() call${omitted === 1 ? "" : "s"} not shown (the first 50 are kept).`));
  if (!taken) {
    parts.push(h("p", { class: "muted small dyn-hint" }, "Call ", h("code", {}, "dynscope.snapshot()"),
      " anywhere in the snippet to see the bindings at that moment, here, in order."));
  }
  clear(el, parts);
}
