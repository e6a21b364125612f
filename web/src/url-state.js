// Shareable state in the URL's fragment: the code, the scope, the dynamic
// bindings, the mode, the time limit, the engine and the example shown. The fragment never
// reaches the server, so a shared snippet is not logged anywhere.
const KEYS = ["code", "scope", "dynamic", "mode", "timeout", "engine", "return"];

export function readHash(hash = location.hash) {
  const text = hash.startsWith("#") ? hash.slice(1) : hash;
  if (!text) return null;
  const params = new URLSearchParams(text);
  const out = {};
  for (const k of KEYS) if (params.has(k)) out[k] = params.get(k);
  if (params.has("example")) out.example = params.get("example");
  if (out.mode !== undefined && out.mode !== "exec" && out.mode !== "eval") delete out.mode;
  if (out.engine !== undefined && out.engine !== "server" && out.engine !== "browser") delete out.engine;
  if (out.return !== undefined && out.return !== "data" && out.return !== "all") delete out.return;
  if (out.timeout !== undefined) {
    const n = Number(out.timeout);
    if (Number.isInteger(n) && n > 0) out.timeout = n;
    else delete out.timeout;
  }
  return Object.keys(out).length ? out : null;
}

export function makeHash(s) {
  const params = new URLSearchParams();
  params.set("code", s.code);
  if (s.scope.trim() && s.scope.trim() !== "{}") params.set("scope", s.scope);
  if (s.dynamic.trim() && s.dynamic.trim() !== "{}") params.set("dynamic", s.dynamic);
  params.set("mode", s.mode);
  if (s.timeout) params.set("timeout", String(s.timeout));
  if (s.return && s.return !== "data") params.set("return", s.return);
  params.set("engine", s.engine);
  // The example shown, so that a reload or a shared link selects it and
  // shows its note (only while its code is unedited: app.js).
  if (s.example) params.set("example", s.example);
  // URLSearchParams writes spaces as "+": keep them readable either way.
  return "#" + params.toString();
}
