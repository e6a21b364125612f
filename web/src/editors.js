// CodeMirror 6 editors: the Python snippet and the two JSON variable sets.
// One theme serves light and dark: its colours are CSS variables
// (style.css), so switching themes is a change of the page's data-theme.
import { EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter,
         drawSelection, dropCursor, highlightSpecialChars, Decoration, WidgetType } from "@codemirror/view";
import { EditorState, StateField, StateEffect, Compartment, Prec } from "@codemirror/state";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { syntaxHighlighting, indentOnInput, bracketMatching, HighlightStyle, indentUnit } from "@codemirror/language";
import { closeBrackets, closeBracketsKeymap, autocompletion, completionKeymap } from "@codemirror/autocomplete";
import { searchKeymap, highlightSelectionMatches } from "@codemirror/search";
import { python } from "@codemirror/lang-python";
import { json } from "@codemirror/lang-json";
import { tags as t } from "@lezer/highlight";

const highlight = HighlightStyle.define([
  { tag: [t.keyword, t.controlKeyword, t.definitionKeyword, t.moduleKeyword, t.operatorKeyword], color: "var(--hl-keyword)" },
  { tag: [t.string, t.special(t.string), t.regexp], color: "var(--hl-string)" },
  { tag: [t.number, t.bool, t.null, t.atom], color: "var(--hl-number)" },
  { tag: [t.comment, t.lineComment, t.blockComment], color: "var(--hl-comment)", fontStyle: "italic" },
  { tag: [t.function(t.variableName), t.function(t.definition(t.variableName))], color: "var(--hl-function)" },
  { tag: [t.definition(t.variableName)], color: "var(--hl-def)" },
  { tag: [t.className, t.definition(t.className)], color: "var(--hl-class)" },
  { tag: [t.propertyName, t.function(t.propertyName)], color: "var(--hl-property)" },
  { tag: [t.self, t.special(t.variableName)], color: "var(--hl-self)" },
  { tag: [t.meta, t.processingInstruction], color: "var(--hl-meta)" },
  { tag: [t.operator, t.punctuation, t.separator, t.bracket], color: "var(--hl-punct)" },
  { tag: t.invalid, color: "var(--err)" },
]);

const theme = EditorView.theme({
  "&": { color: "var(--fg)", backgroundColor: "var(--editor-bg)", fontSize: "var(--code-size)" },
  "&.cm-focused": { outline: "none" },
  ".cm-scroller": { fontFamily: "var(--mono)", lineHeight: "1.55" },
  ".cm-content": { caretColor: "var(--accent)", padding: "8px 0" },
  ".cm-cursor, .cm-dropCursor": { borderLeftColor: "var(--accent)", borderLeftWidth: "2px" },
  "&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, .cm-selectionBackground, .cm-content ::selection":
    { backgroundColor: "var(--selection) !important" },
  ".cm-gutters": { backgroundColor: "var(--editor-gutter)", color: "var(--muted)", border: "none",
                   borderRight: "1px solid var(--border)" },
  ".cm-activeLine": { backgroundColor: "var(--active-line)" },
  ".cm-activeLineGutter": { backgroundColor: "var(--active-line)", color: "var(--fg)" },
  ".cm-matchingBracket, &.cm-focused .cm-matchingBracket": { backgroundColor: "var(--bracket-match)", outline: "none" },
  ".cm-selectionMatch": { backgroundColor: "var(--selection-match)" },
  ".cm-tooltip": { backgroundColor: "var(--panel)", color: "var(--fg)", border: "1px solid var(--border)" },
  ".cm-tooltip-autocomplete > ul > li[aria-selected]": { backgroundColor: "var(--accent)", color: "var(--on-accent)" },
  ".cm-panels": { backgroundColor: "var(--panel)", color: "var(--fg)" },
  ".cm-error-line": { backgroundColor: "var(--err-line)", boxShadow: "inset 3px 0 0 var(--err)" },
  ".cm-error-char": { textDecoration: "underline wavy var(--err)", textUnderlineOffset: "3px" },
  ".cm-error-note": { color: "var(--err)", fontFamily: "var(--sans)", fontSize: "0.85em", marginLeft: "1.5em",
                      whiteSpace: "pre", userSelect: "none" },
});

// ---- error marks: a line (and column) the last run or the JSON check blamed

export const setError = StateEffect.define();

class NoteWidget extends WidgetType {
  constructor(text) {
    super();
    this.text = text;
  }
  eq(other) {
    return other.text === this.text;
  }
  toDOM() {
    const span = document.createElement("span");
    span.className = "cm-error-note";
    span.textContent = "← " + this.text;
    span.setAttribute("aria-hidden", "true");
    return span;
  }
}

function errorDecorations(state, err) {
  if (!err || !err.line || err.line < 1 || err.line > state.doc.lines) return Decoration.none;
  const line = state.doc.line(err.line);
  const ranges = [Decoration.line({ class: "cm-error-line", attributes: { "data-error-line": String(err.line) } }).range(line.from)];
  if (err.column && err.column >= 1 && line.from + err.column - 1 < line.to) {
    const at = line.from + err.column - 1;
    ranges.push(Decoration.mark({ class: "cm-error-char" }).range(at, at + 1));
  } else if (err.column && line.length === 0) {
    // nothing to underline on an empty line
  }
  if (err.note) ranges.push(Decoration.widget({ widget: new NoteWidget(err.note), side: 1 }).range(line.to));
  return Decoration.set(ranges, true);
}

const errorField = StateField.define({
  create: () => Decoration.none,
  update(deco, tr) {
    for (const e of tr.effects) if (e.is(setError)) return errorDecorations(tr.state, e.value);
    // The mark describes the code as it ran: an edit clears it.
    return tr.docChanged ? Decoration.none : deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});

export const darkMode = new Compartment();

function common({ onRun, onChange, label }) {
  return [
    history(),
    drawSelection(),
    dropCursor(),
    highlightSpecialChars(),
    indentOnInput(),
    bracketMatching(),
    closeBrackets(),
    highlightSelectionMatches(),
    syntaxHighlighting(highlight),
    theme,
    darkMode.of(EditorView.darkTheme.of(document.documentElement.dataset.theme === "dark")),
    errorField,
    EditorView.contentAttributes.of({ "aria-label": label }),
    Prec.highest(keymap.of([{ key: "Mod-Enter", run: () => (onRun(), true) }])),
    keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...searchKeymap, ...historyKeymap,
               ...completionKeymap, indentWithTab]),
    EditorView.updateListener.of((u) => {
      if (u.docChanged) onChange(u.state.doc.toString());
    }),
  ];
}

// `extensions`: more for this editor (completion.js's sources, say).
export function pythonEditor(parent, { doc, onRun, onChange, extensions = [] }) {
  return new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightActiveLine(),
        indentUnit.of("    "),
        python(),
        autocompletion({ activateOnTyping: true }),
        common({ onRun, onChange, label: "Python code" }),
        extensions,
      ],
    }),
  });
}

export function jsonEditor(parent, { doc, onRun, onChange, label }) {
  return new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [indentUnit.of("  "), json(), common({ onRun, onChange, label })],
    }),
  });
}

export function setDoc(view, text) {
  if (view.state.doc.toString() === text) return;
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}

export function markError(view, err, { scroll = true } = {}) {
  const effects = [setError.of(err)];
  if (err && scroll && err.line >= 1 && err.line <= view.state.doc.lines) {
    effects.push(EditorView.scrollIntoView(view.state.doc.line(err.line).from, { y: "center" }));
  }
  view.dispatch({ effects });
}

export function goToLine(view, line) {
  if (!line || line < 1 || line > view.state.doc.lines) return;
  const pos = view.state.doc.line(line).from;
  view.dispatch({ selection: { anchor: pos }, effects: EditorView.scrollIntoView(pos, { y: "center" }) });
  view.focus();
}

export function setDark(views, dark) {
  for (const v of views) v.dispatch({ effects: darkMode.reconfigure(EditorView.darkTheme.of(dark)) });
}

// (lineCol lives in text-pos.js, so that pages without an editor can use it)
export { lineCol } from "./text-pos.js";
