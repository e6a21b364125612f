// Completion in the code editor, next to the Python language's own: after
// "dynscope." (or "dynscope.dynamic." / an imported name's prefix) the
// module's public names with their docstring lines (api-docs.json, loaded
// on first use), and elsewhere the names the Scope and Dynamic bindings
// editors define, which the snippet reads as globals or dynamic names.
import { EditorState } from "@codemirror/state";

// names(): [{ label, detail }] of the scope's names, at the time of asking.
export function snippetCompletions({ names, api }) {
  async function source(ctx) {
    const member = ctx.matchBefore(/\bdynscope\.\w*$/);
    if (member) {
      let d;
      try {
        d = await api();
      } catch {
        return null;
      }
      return {
        from: member.from + "dynscope.".length,
        options: d.names.map((n) => ({ label: n.name, type: n.kind === "class" ? "class" : n.kind === "function" ? "function" : "variable",
          detail: n.signature ? n.signature.slice(n.name.length) : n.kind, info: n.line })),
        validFor: /^\w*$/,
      };
    }
    const word = ctx.matchBefore(/\w+$/);
    if (!word && !ctx.explicit) return null;
    // Not after a dot: an attribute is not a scope name.
    const from = word ? word.from : ctx.pos;
    if (from > 0 && ctx.state.sliceDoc(from - 1, from) === ".") return null;
    const options = names().map((n) => ({ ...n, type: "variable", boost: 1 }));
    return options.length ? { from, options, validFor: /^\w*$/ } : null;
  }
  return EditorState.languageData.of(() => [{ autocomplete: source }]);
}
