// Short share links: the whole state (code, scope, dynamic bindings, mode,
// time limit, return, engine, example) as JSON, deflate-compressed by the
// browser's own CompressionStream, in the fragment as "#z=<base64url>".
// Nothing is stored on a server, and the fragment never reaches one. The
// long "#code=...&mode=..." form (url-state.js) still opens.
const KEY = "z";
const FIELDS = ["code", "scope", "dynamic", "mode", "timeout", "return", "engine", "example"];

async function pipe(bytes, stream) {
  const out = new Blob([bytes]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(out).arrayBuffer());
}

function toBase64Url(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64Url(text) {
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

export async function packState(s) {
  const picked = {};
  for (const k of FIELDS) if (s[k] !== undefined && s[k] !== null && s[k] !== "") picked[k] = s[k];
  const json = new TextEncoder().encode(JSON.stringify(picked));
  return `#${KEY}=${toBase64Url(await pipe(json, new CompressionStream("deflate-raw")))}`;
}

export function isShortHash(hash = location.hash) {
  return new URLSearchParams(hash.replace(/^#/, "")).has(KEY);
}

// The state a short link holds, checked as url-state.js checks the long
// form; null for anything else (a long link, a damaged one).
export async function unpackHash(hash = location.hash) {
  const packed = new URLSearchParams(hash.replace(/^#/, "")).get(KEY);
  if (!packed) return null;
  let s;
  try {
    const bytes = await pipe(fromBase64Url(packed), new DecompressionStream("deflate-raw"));
    s = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
  if (!s || typeof s !== "object") return null;
  const out = {};
  for (const k of ["code", "scope", "dynamic", "example"]) if (typeof s[k] === "string") out[k] = s[k];
  if (s.mode === "exec" || s.mode === "eval") out.mode = s.mode;
  if (s.engine === "server" || s.engine === "browser") out.engine = s.engine;
  if (s.return === "data" || s.return === "all") out.return = s.return;
  if (Number.isInteger(s.timeout) && s.timeout > 0) out.timeout = s.timeout;
  return out;
}
