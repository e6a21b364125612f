// The docs panel beside the editor: "what is dynamic scope" and dynscope's
// public API, each name with its line and an example with what it prints.
// The data (api-docs.json) is made at build time from the module itself
// (web/gen-api-docs.mjs) and fetched on first use only, so the first load
// does not pay for it. onTry(code) puts an example into the editor.
import { h, clear } from "./dom.js";

let loading = null;
export function apiDocs() {
  if (!loading) {
    loading = fetch(new URL("api-docs.json", document.baseURI)).then((r) => {
      if (!r.ok) throw new Error(`api-docs.json: HTTP ${r.status}`);
      return r.json();
    });
    loading.catch(() => (loading = null)); // a later open tries again
  }
  return loading;
}

// `code`, **bold** and *emphasis* in a line of the docs' Markdown, as elements.
function inline(text) {
  return text.split(/(`[^`]+`|\*\*[^*]+\*\*|\*[^*\s][^*]*\*)/).map((t) =>
    t.startsWith("`") && t.endsWith("`") && t.length > 1 ? h("code", {}, t.slice(1, -1))
      : t.startsWith("**") && t.endsWith("**") && t.length > 3 ? h("strong", {}, t.slice(2, -2))
      : t.startsWith("*") && t.endsWith("*") && t.length > 2 ? h("em", {}, t.slice(1, -1)) : t);
}

// The few Markdown forms of docs/dynamic-scope.md's model section:
// paragraphs, "1." lists and "-" lists.
function markdown(md) {
  const out = [];
  for (const block of md.split(/\n\s*\n/)) {
    const lines = block.split("\n");
    const item = /^\s*(\d+\.|-)\s+/;
    if (item.test(lines[0])) {
      const ordered = /^\s*\d/.test(lines[0]);
      const items = [];
      for (const l of lines) {
        if (item.test(l)) items.push(l.replace(item, ""));
        else items[items.length - 1] += " " + l.trim();
      }
      out.push(h(ordered ? "ol" : "ul", {}, items.map((t) => h("li", {}, inline(t)))));
    } else {
      out.push(h("p", {}, inline(lines.map((l) => l.trim()).join(" "))));
    }
  }
  return out;
}

function entry(n, onTry) {
  return h("article", { class: "api-entry", id: `api-${n.name}`, "data-name": n.name },
    h("h4", {}, h("code", {}, n.signature ? `dynscope.${n.signature}` : `dynscope.${n.name}`),
      h("span", { class: "chip chip-kind" }, n.kind)),
    h("p", { class: "api-line" }, inline(n.line)),
    n.text !== n.line ? h("details", { class: "api-more" }, h("summary", {}, "more"), h("p", {}, inline(n.text))) : null,
    h("pre", { class: "api-example" }, n.example),
    n.output ? [h("div", { class: "api-output-label" }, "prints"), h("pre", { class: "api-output" }, n.output)] : null,
    h("button", { type: "button", class: "api-try", onclick: () => onTry(n.example) }, "Try it"));
}

export function docsPanel({ panel, openers, onTry }) {
  const body = panel.querySelector(".docs-body");
  let drawn = false;

  async function fill() {
    if (drawn) return;
    clear(body, h("p", { class: "muted small" }, "Loading the docs…"));
    let d;
    try {
      d = await apiDocs();
    } catch (e) {
      clear(body, h("p", { class: "field-error" }, `The docs could not be loaded: ${e.message}`));
      return;
    }
    drawn = true;
    const toc = h("nav", { class: "api-toc", "aria-label": "dynscope names" },
      d.names.map((n) => h("a", { href: `#api-${n.name}`, onclick: (e) => {
        e.preventDefault(); // the fragment holds the snippet
        panel.querySelector(`#api-${CSS.escape(n.name)}`).scrollIntoView({ block: "start" });
      } }, n.name)));
    clear(body,
      h("section", { class: "docs-model" }, h("h3", {}, "What is dynamic scope"),
        h("p", {}, "A name that is not local, global or builtin is looked up in the bindings of whoever is calling right now, not of the place the function was written. The rules:"),
        markdown(d.model),
        h("p", { class: "muted small" }, `From ${d.source}.`)),
      h("section", { class: "docs-api" }, h("h3", {}, `The dynscope API (${d.names.length} names, dynscope ${d.version})`),
        h("p", { class: "muted small" }, "Each line is the name's own docstring; each example ran at build time and printed what is shown."),
        toc, d.names.map((n) => entry(n, onTry))));
  }

  function open(on = panel.hidden) {
    panel.hidden = !on;
    document.body.dataset.docs = on ? "1" : "";
    for (const o of openers) o.setAttribute("aria-expanded", String(on));
    if (on) {
      fill();
      panel.querySelector(".docs-close").focus();
    }
  }

  for (const o of openers) o.addEventListener("click", (e) => {
    e.preventDefault();
    open();
  });
  panel.querySelector(".docs-close").addEventListener("click", () => open(false));
  panel.addEventListener("keydown", (e) => {
    if (e.key === "Escape") open(false);
  });
  return { open, data: apiDocs };
}
