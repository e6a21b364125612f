// embed.html: one snippet with its scope and dynamic bindings, from the
// fragment of a playground link, run on its engine (the server this page
// comes from, or Pyodide in this page) when the visitor presses Run, or at
// once with "run=1". Made for another site's <iframe> (web/README.md).
import { $, clear, h } from "./src/dom.js";
import { ServerEngine, BrowserEngine } from "./src/engines.js";
import { readHash } from "./src/url-state.js";
import { unpackHash, isShortHash } from "./src/share.js";
import { checkVariables } from "./src/variables.js";
import { exampleById } from "./src/examples.js";
import { renderStatus, renderRunning, renderResult } from "./src/render.js";

const theme = new URLSearchParams(location.hash.slice(1)).get("theme");
document.documentElement.dataset.theme = theme === "dark" || theme === "light" ? theme
  : matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";

const s = (isShortHash() ? await unpackHash() : readHash()) ?? {};
const ex = exampleById(s.example);
const code = s.code ?? ex?.code ?? "";
const scope = checkVariables(s.scope ?? JSON.stringify(ex?.scope ?? {}));
const dynamic = checkVariables(s.dynamic ?? JSON.stringify(ex?.dynamic ?? {}));
const engineName = s.engine === "browser" ? "browser" : "server";
const engineEl = $("#embed-engine");
const engine = engineName === "server" ? new ServerEngine()
  : new BrowserEngine({ onStatus: (state, text) => (engineEl.textContent = `browser engine · ${text}`) });
engineEl.textContent = engineName === "server" ? "server engine" : "browser engine · loads Python (about 13 MB) on Run";
document.documentElement.dataset.engine = engineName;

$("#embed-code").textContent = code;
$("#embed-open").href = new URL(`./${location.hash}`, location.href).href;
const inputs = [["scope", s.scope], ["dynamic", s.dynamic]].filter(([, t]) => t && t.trim() !== "{}");
$("#embed-inputs").hidden = !inputs.length;
$("#embed-inputs").textContent = inputs.map(([k, t]) => `${k}: ${t.replace(/\s+/g, " ")}`).join(" · ");

const runButton = $("#embed-run");
let finished = 0;
async function run() {
  const bad = scope.error ? ["scope", scope] : dynamic.error ? ["dynamic", dynamic] : null;
  if (bad || !code) {
    clear($("#result"), h("p", { class: "field-error" }, bad ? `The link's ${bad[0]} is not valid: ${bad[1].error}` : "The link holds no code."));
    return;
  }
  runButton.disabled = true;
  renderRunning($("#status"), engineName);
  document.body.dataset.outcome = "running";
  const outcome = await engine.run({ code, mode: s.mode ?? ex?.mode ?? "exec", scope: scope.value, dynamic: dynamic.value,
    return: s.return ?? "data", timeout_ms: s.timeout ?? ex?.timeout ?? 5000 }, {});
  runButton.disabled = false;
  const c = renderStatus($("#status"), outcome, engineName);
  renderResult($("#result"), outcome, { mode: s.mode, onLine: () => {} });
  document.body.dataset.outcome = c.kind;
  document.body.dataset.runs = String(++finished);
}
runButton.addEventListener("click", run);
if (new URLSearchParams(location.hash.slice(1)).get("run") === "1") run();
document.documentElement.dataset.ready = "1";
