// The API's value encoding (server/openapi.yaml, `Value`) shown the way
// Python would print it, as one-line reprs and as expandable trees.
import { h } from "./dom.js";

// A float as Python wrote it ("1.0", "1e+16"): JSON.parse alone would turn
// 1.0 into 1, so answers are parsed with parseAnswer, which keeps the text.
export class PyFloat {
  constructor(text) {
    this.text = text;
  }
  toJSON() {
    return typeof JSON.rawJSON === "function" ? JSON.rawJSON(this.text) : Number(this.text);
  }
}

// JSON.parse with the reviver's source access (Chrome 114+, Firefox 135+),
// falling back to plain numbers where the browser lacks it.
export function parseAnswer(text) {
  return JSON.parse(text, function (key, value, context) {
    if (typeof value === "number" && context && typeof context.source === "string" &&
        /[.eE]/.test(context.source)) {
      return new PyFloat(context.source);
    }
    return value;
  });
}

export function isTagged(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof PyFloat) &&
    typeof v.$type === "string";
}

function isPlainObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof PyFloat) && !isTagged(v);
}

export function strRepr(s) {
  const q = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = q;
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (ch === "\\") out += "\\\\";
    else if (ch === q) out += "\\" + q;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20 || c === 0x7f) out += "\\x" + c.toString(16).padStart(2, "0");
    else out += ch;
  }
  return out + q;
}

function bytesRepr(b64) {
  let bin;
  try {
    bin = atob(b64);
  } catch {
    return "b'?'";
  }
  const hasSingle = bin.includes("'"), hasDouble = bin.includes('"');
  const q = hasSingle && !hasDouble ? '"' : "'";
  let out = "b" + q;
  for (let i = 0; i < bin.length; i++) {
    const c = bin.charCodeAt(i), ch = bin[i];
    if (ch === "\\") out += "\\\\";
    else if (ch === q) out += "\\" + q;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20 || c >= 0x7f) out += "\\x" + c.toString(16).padStart(2, "0");
    else out += ch;
  }
  return out + q;
}

// The children of a container value as [label, value] pairs, or null for a
// leaf. `more` counts items the encoder left out.
export function children(v) {
  if (Array.isArray(v)) return { kind: "list", open: "[", close: "]", entries: v.map((x, i) => [String(i), x]) };
  if (isPlainObject(v)) {
    return { kind: "dict", open: "{", close: "}", dict: true,
             entries: Object.entries(v).map(([k, x]) => [strRepr(k), x]) };
  }
  if (!isTagged(v)) return null;
  const more = v.truncated && typeof v.length === "number" && Array.isArray(v.items)
    ? Math.max(0, v.length - v.items.length) : 0;
  switch (v.$type) {
    case "list":
    case "tuple":
    case "set":
    case "frozenset": {
      const items = Array.isArray(v.items) ? v.items : [];
      const shapes = { list: ["[", "]"], tuple: ["(", ")"], set: ["{", "}"], frozenset: ["frozenset({", "})"] };
      return { kind: v.$type, open: shapes[v.$type][0], close: shapes[v.$type][1], more,
               entries: items.map((x, i) => [String(i), x]) };
    }
    case "dict": {
      const items = Array.isArray(v.items) ? v.items : [];
      return { kind: "dict", open: "{", close: "}", dict: true, more,
               entries: items.map((pair) => [repr(pair[0], 40), pair[1]]) };
    }
    default:
      return null;
  }
}

// One-line Python repr, cut at about `max` characters.
export function repr(v, max = Infinity) {
  const out = [];
  let len = 0;
  const push = (s) => {
    out.push(s);
    len += s.length;
    return len <= max;
  };
  walk(v, push);
  const text = out.join("");
  return text.length > max ? text.slice(0, Math.max(1, max - 1)) + "…" : text;
}

function walk(v, push) {
  if (v === null || v === undefined) return push("None");
  if (v === true) return push("True");
  if (v === false) return push("False");
  if (typeof v === "number") return push(String(v));
  if (v instanceof PyFloat) return push(v.text);
  if (typeof v === "string") return push(strRepr(v));
  const c = children(v);
  if (c && c.entries.length === 0 && !c.more && (c.kind === "set" || c.kind === "frozenset")) {
    return push(`${c.kind}()`);
  }
  if (c) {
    if (!push(c.open)) return false;
    let first = true;
    for (const [label, x] of c.entries) {
      if (!first && !push(", ")) return false;
      first = false;
      if (c.dict && !push(label + ": ")) return false;
      if (!walk(x, push)) return false;
    }
    if (c.more && !push(`${first ? "" : ", "}…+${c.more}`)) return false;
    if (c.kind === "tuple" && c.entries.length === 1 && !c.more && !push(",")) return false;
    return push(c.close);
  }
  return push(scalarRepr(v));
}

// Tagged values that are not containers.
export function scalarRepr(v) {
  switch (v.$type) {
    case "int":
      return v.hex ? `0x${v.hex}` : String(v.value);
    case "float":
      return String(v.value);
    case "str":
      return strRepr(String(v.value ?? "")) + (v.truncated ? "…" : "");
    case "bytes":
      return bytesRepr(v.base64 ?? "");
    case "bytearray":
      return `bytearray(${bytesRepr(v.base64 ?? "")})`;
    case "datetime":
    case "date":
    case "time":
      return `${v.$type}(${v.iso})`;
    case "timedelta":
      return `timedelta(seconds=${v.seconds})`;
    case "decimal":
      return `Decimal(${strRepr(String(v.value))})`;
    case "complex": {
      const re = Number(v.real), im = Number(v.imag);
      if (re === 0 && !Object.is(re, -0)) return `${im}j`;
      return `(${re}${im < 0 || Object.is(im, -0) ? "-" : "+"}${Math.abs(im)}j)`;
    }
    case "truncated":
      return "…";
    case "cycle":
      return v.of === "dict" ? "{...}" : "[...]";
    default:
      return typeof v.repr === "string" ? v.repr : `<${v.$type}>`;
  }
}

// 1,000 rather than 1000: the counts of a cut value are read at a glance.
const count = (n) => (typeof n === "number" ? n.toLocaleString("en-US") : "?");

// The note shown next to a value: its type when the repr does not say it,
// and what the encoder cut.
export function valueNote(v) {
  if (!isTagged(v)) return null;
  switch (v.$type) {
    case "str":
      return v.truncated ? `showing ${count(String(v.value ?? "").length)} of ${count(v.length)} characters` : null;
    case "truncated":
      return v.reason === "depth" ? "truncated: too deep" : "truncated: too many values";
    case "cycle":
      return `cycle: this ${v.of} contains itself`;
    case "list":
    case "tuple":
    case "set":
    case "frozenset":
    case "dict":
      return v.truncated ? `showing ${count(Array.isArray(v.items) ? v.items.length : 0)} of ${count(v.length)} items` : null;
    case "int":
      return v.hex ? "int, in hex" : null;
    case "float":
    case "bytes":
    case "bytearray":
    case "decimal":
    case "complex":
    case "timedelta":
    case "datetime":
    case "date":
    case "time":
      return null;
    default:
      return v.$type;
  }
}

function typeName(v) {
  if (v === null || v === undefined) return "NoneType";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float";
  if (v instanceof PyFloat) return "float";
  if (typeof v === "string") return "str";
  if (Array.isArray(v)) return "list";
  if (isPlainObject(v)) return "dict";
  return v.$type;
}

function valueSpan(v, max) {
  const classes = ["v"];
  if (v === null || v === undefined || typeof v === "boolean") classes.push("v-const");
  else if (typeof v === "number" || v instanceof PyFloat || (isTagged(v) && ["int", "float", "complex", "decimal"].includes(v.$type))) classes.push("v-num");
  else if (typeof v === "string" || (isTagged(v) && ["str", "bytes", "bytearray"].includes(v.$type))) classes.push("v-str");
  else if (isTagged(v) && !children(v) && valueNote(v) === v.$type) classes.push("v-obj");
  return h("span", { class: classes.join(" ") }, repr(v, max));
}

// A long leaf (a string of a page or more) shows its start and a "show
// more" button that puts the rest (up to what was sent) in place.
const CLAMP_CHARS = 300;
const LEAF_MAX = 100000;
function clamped(v) {
  const full = repr(v, LEAF_MAX);
  if (full.length <= CLAMP_CHARS + 40) return valueSpan(v, LEAF_MAX);
  const span = valueSpan(v, CLAMP_CHARS);
  const more = h("button", { type: "button", class: "linklike show-more" }, `show more (${count(full.length)} characters)`);
  more.addEventListener("click", () => {
    span.textContent = full;
    more.remove();
  });
  return [span, more];
}

function noteChip(v) {
  const note = valueNote(v);
  return note ? h("span", { class: "chip chip-note" }, note) : null;
}

// A tree of a value: containers are <details> (keyboard reachable through
// their <summary>), leaves one line. `label` is the name, index or key.
// opts.open: open the top node; opts.mark: a class for the top row.
export function valueTree(label, v, opts = {}) {
  const c = children(v);
  const labelEl = label === null ? null : h("span", { class: `t-label ${opts.labelClass ?? ""}` }, label);
  const sep = label === null ? null : h("span", { class: "t-sep" }, opts.sep ?? " = ");
  // Containers short enough to read at a glance are one line too.
  if (!c || (c.entries.length === 0 && !c.more) || (!opts.open && !c.more && repr(v, 61).length <= 60)) {
    return h("div", { class: `t-row t-leaf ${opts.mark ?? ""}` }, opts.badge ?? null, labelEl, sep,
      clamped(v), noteChip(v));
  }
  const count = c.entries.length + (c.more ?? 0);
  const d = h("details", { class: `t-node ${opts.mark ?? ""}` });
  if (opts.open) d.open = true;
  const summary = h("summary", { class: "t-row" }, opts.badge ?? null, labelEl, sep,
    h("span", { class: "t-preview" }, valueSpan(v, 90)),
    h("span", { class: "chip chip-count" }, `${typeName(v)} · ${count}`), noteChip(v));
  d.append(summary);
  // Children are built when first opened: big answers stay cheap.
  const fill = () => {
    if (d.dataset.filled) return;
    d.dataset.filled = "1";
    const ul = h("div", { class: "t-children" });
    for (const [k, x] of c.entries) {
      ul.append(valueTree(k, x, { depth: (opts.depth ?? 0) + 1, sep: ": ",
                                  labelClass: c.dict ? "t-key" : "t-index" }));
    }
    if (c.more) ul.append(h("div", { class: "t-row t-more" }, `… ${c.more} more not sent`));
    d.append(ul);
  };
  if (d.open) fill();
  d.addEventListener("toggle", () => d.open && fill());
  return d;
}
