// The "Input and files" panel: a run's `stdin`, the `files` put into its
// working directory and the `collect` patterns (server/openapi.yaml,
// RunRequest). It only gathers them; the server checks them (bounds, paths)
// and the browser engine's runner refuses paths outside the writable
// directories the same way.
import { h, $ } from "./dom.js";

// Uploaded bytes that are not UTF-8 travel as base64, as the API takes them.
function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function ioPanel({ onChange }) {
  const els = {
    panel: $("#io-panel"), hint: $("#io-hint"), stdin: $("#stdin"), files: $("#files"),
    add: $("#file-add"), upload: $("#file-upload"), collect: $("#collect"),
  };
  const defaultHint = els.hint.textContent;

  function describe() {
    const f = els.files.children.length;
    const bits = [];
    if (els.stdin.value) bits.push(`stdin: ${els.stdin.value.length} characters`);
    if (f) bits.push(`${f} file${f === 1 ? "" : "s"}`);
    const c = patterns().length;
    if (c) bits.push(`collect: ${c} pattern${c === 1 ? "" : "s"}`);
    els.hint.textContent = bits.length ? bits.join(" · ") : defaultHint;
    onChange?.();
  }

  // A file row: its path and its text, or (uploaded binary) its bytes.
  function addFile({ path = "", text = "", base64 = null, size = 0 } = {}) {
    const n = els.files.children.length + 1;
    const pathInput = h("input", { class: "io-text file-path", type: "text", value: path, spellcheck: "false",
      "aria-label": `File ${n} path`, placeholder: "data.csv" });
    const body = base64 === null
      ? h("textarea", { class: "io-text file-text", rows: "3", spellcheck: "false", "aria-label": `File ${n} contents` })
      : h("p", { class: "muted file-binary" }, `binary, ${size} bytes`);
    if (base64 === null) body.value = text;
    const remove = h("button", { type: "button", class: "ghost file-remove", "aria-label": `Remove file ${n}` }, "Remove");
    const row = h("li", { class: "io-file" }, pathInput, remove, body);
    if (base64 !== null) row.dataset.base64 = base64;
    remove.addEventListener("click", () => {
      row.remove();
      describe();
    });
    pathInput.addEventListener("input", describe);
    if (base64 === null) body.addEventListener("input", describe);
    els.files.append(row);
    describe();
    return pathInput;
  }

  function patterns() {
    return els.collect.value.split(/[\s,]+/).filter(Boolean);
  }

  els.add.addEventListener("click", () => addFile().focus());
  els.upload.addEventListener("change", async () => {
    for (const file of els.upload.files) {
      const bytes = new Uint8Array(await file.arrayBuffer());
      try {
        addFile({ path: file.name, text: new TextDecoder("utf-8", { fatal: true }).decode(bytes) });
      } catch {
        addFile({ path: file.name, base64: toBase64(bytes), size: bytes.length });
      }
    }
    els.upload.value = "";
  });
  els.stdin.addEventListener("input", describe);
  els.collect.addEventListener("input", describe);

  return {
    // The request's fields; absent when empty, so a plain run stays plain.
    fields() {
      const out = {};
      if (els.stdin.value) out.stdin = els.stdin.value;
      const files = [...els.files.children].map((row) => {
        const path = row.querySelector(".file-path").value.trim();
        return row.dataset.base64 !== undefined ? { path, base64: row.dataset.base64 }
          : { path, text: row.querySelector(".file-text").value };
      }).filter((f) => f.path);
      if (files.length) out.files = files;
      const collect = patterns();
      if (collect.length) out.collect = collect;
      return out;
    },
    addFile,
  };
}
