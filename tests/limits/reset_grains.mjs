// What a trivial stateless run leaves for the reset to copy back (issue 16):
// the interpreter booted, warmed and captured as a worker does (interp.mjs),
// then trivial frames run and restored as the worker runs them. Checks:
// - the pristine heap's objects are immortal (scopebox_worker/immortal.py):
//   a run sees the runner's own function as immortal, and reading pristine
//   objects writes no reference counts, so a `1+1` run marks at most
//   MAX_GRAINS grains (~400 when every read object's count was written,
//   ~220 since; the grain is the build's, wasm/dirty);
// - entropy served from the pool (entropy.mjs) is never handed out twice,
//   within a run or across the resets.
//   node reset_grains.mjs <runtimeDir>
import { resolve } from "node:path";
import { bootWorker } from "../support/sandboxed_boot.mjs";

const runtimeDir = resolve(process.argv[2] ?? "runtime");
const MAX_GRAINS_4K = 300;
const { runFrame, iso, snap } = await bootWorker(runtimeDir);
iso.restore();

const failures = [];
const run = (code, mode = "eval") => {
  iso.beforeRun(false);
  const frame = Buffer.from(JSON.stringify({ type: "run", id: 1, code, mode, scope: {}, dynamic: {}, return: "data", timeout_ms: 5000, output_cap: 1 << 20 }));
  const out = runFrame(frame);
  const answer = JSON.parse(Buffer.from(out.toJs ? out.toJs() : out).toString());
  const grains = iso.markedGrains().length;
  iso.restore();
  return { answer, grains };
};

// The capture's share (what the boot made after the snapshot's restore,
// the runner among it) and the snapshot's own (json), which are frozen.
if (!(snap.immortal > 500)) failures.push(`capture made ${snap.immortal} objects immortal`);
const seen = run("(lambda gc, json, sys: [sys._is_immortal(sys.modules['scopebox_worker'].run_frame), sys._is_immortal(json.dumps), gc.get_freeze_count() > 10000])(*map(__import__, ('gc', 'json', 'sys')))");
if (JSON.stringify(seen.answer.result) !== "[true,true,true]") failures.push(`pristine objects are not immortal (runner, json, frozen): ${JSON.stringify(seen.answer)}`);

if (!snap.tracked) {
  failures.push("the build's restore is not tracked");
} else {
  const scale = 2 ** (12 - iso.tracked.shift); // grains per 4 KiB
  const counts = [];
  for (let i = 0; i < 200; i++) {
    const { answer, grains } = run("1+1");
    if (answer.result !== 2) failures.push(`1+1 gave ${JSON.stringify(answer)}`);
    counts.push(grains);
  }
  counts.sort((a, b) => a - b);
  const median = counts[counts.length >> 1];
  console.log(`1+1: median ${median} grains of 2 ** ${iso.tracked.shift} bytes marked`);
  if (median > MAX_GRAINS_4K * scale) failures.push(`a trivial run marks ${median} grains (at most ${MAX_GRAINS_4K * scale})`);
}

const draws = new Set();
let drawn = 0;
for (let i = 0; i < 100; i++) {
  const { answer } = run("[__import__('os').urandom(n).hex() for n in (16, 256, 3000, 40000)]");
  if (!Array.isArray(answer.result)) {
    console.error("FAIL: urandom run answered", JSON.stringify(answer).slice(0, 300));
    process.exit(1);
  }
  for (const item of answer.result) {
    // Long strings come back tagged (the runner's data encoding).
    const hex = typeof item === "string" ? item : item.value;
    for (let k = 0; k + 32 <= hex.length; k += 32) {
      draws.add(hex.slice(k, k + 32));
      drawn++;
    }
  }
}
if (draws.size !== drawn) failures.push(`${drawn - draws.size} of ${drawn} 16-byte blocks of entropy repeated`);

if (failures.length) {
  console.error("FAIL\n" + failures.join("\n"));
  process.exit(1);
}
console.log(`ok: the capture made ${snap.immortal} objects immortal (the snapshot's were already), ${drawn} blocks of entropy all distinct`);
