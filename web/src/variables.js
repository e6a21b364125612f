// The Scope and Dynamic bindings editors hold JSON objects of names to
// values in the API's encoding. Checked as you type, with the same rules
// the runner applies (an identifier, not a keyword, not a dunder name), so
// most mistakes show before a request is sent.
import { lineCol } from "./text-pos.js";

const KEYWORDS = new Set(("False None True and as assert async await break class continue def del " +
  "elif else except finally for from global if import in is lambda nonlocal not or pass raise " +
  "return try while with yield").split(" "));
const IDENTIFIER = /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*$/u;

function keyLine(text, name) {
  const at = text.indexOf(JSON.stringify(name));
  return at < 0 ? { line: 1 } : lineCol(text, at);
}

export function nameProblem(name) {
  if (!IDENTIFIER.test(name)) return `${JSON.stringify(name)} is not a Python identifier`;
  if (KEYWORDS.has(name)) return `${JSON.stringify(name)} is a Python keyword`;
  if (name.startsWith("__") && name.endsWith("__")) return `${JSON.stringify(name)} is reserved (dunder names belong to the runtime)`;
  return null;
}

// JSON.parse reads every number as a double, so an integer literal past
// 2^53 would silently lose digits (123456789012345678901234567890 becoming
// 1.2345678901234568e29); Python's ints do not. Such a literal is sent as the
// API's tagged int, made from its source text. A browser without JSON.parse
// source text access refuses it instead, saying how to write it.
class LossyInteger extends Error {}
function losslessInts(key, value, context) {
  if (typeof value !== "number" || !Number.isInteger(value) || Number.isSafeInteger(value)) return value;
  const src = context?.source;
  if (src === undefined) throw new LossyInteger(String(value));
  return /^-?\d+$/.test(src) ? { $type: "int", value: src } : value;
}

// The first Python literal (True, False, None) outside a JSON string: the
// usual reason a scope typed from Python is not JSON, and the parser's
// message neither names it nor says where it is.
const PY_LITERALS = { True: "true", False: "false", None: "null" };
function pythonLiteral(text) {
  const re = /"(?:[^"\\]|\\.)*"|\b(True|False|None)\b/g;
  for (let m; (m = re.exec(text));) if (m[1]) return { word: m[1], at: m.index };
  return null;
}

// { value } or { error, line, column }
export function checkVariables(text) {
  if (!text.trim()) return { value: {} };
  let value;
  try {
    value = JSON.parse(text, losslessInts);
  } catch (e) {
    if (e instanceof LossyInteger) {
      return { error: `${e.message} is too big for a JSON number: write it as {"$type": "int", "value": "<digits>"}`, line: 1 };
    }
    const lit = pythonLiteral(text);
    if (lit) {
      const where = lineCol(text, lit.at);
      return { error: `line ${where.line}, column ${where.column}: ${lit.word} is Python; JSON uses true/false/null (write ${PY_LITERALS[lit.word]})`, ...where };
    }
    const msg = String(e.message ?? e);
    const m = /at position (\d+)/.exec(msg);
    const where = m ? lineCol(text, Number(m[1])) : lineCol(text, text.length);
    const reason = msg.replace(/\s*in JSON at position \d+.*$/s, "").replace(/^JSON\.parse: /, "");
    return { error: `line ${where.line}, column ${where.column}: ${reason}`, ...where };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { error: "must be a JSON object of names to values, like {\"x\": 1}", line: 1 };
  }
  for (const name of Object.keys(value)) {
    const problem = nameProblem(name);
    if (problem) return { error: problem, ...keyLine(text, name) };
  }
  return { value };
}
