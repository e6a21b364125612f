// Where a session run's worker time goes, beside a stateless run's (issue
// 14, "16 connections over 16 sessions"): boots the worker's interpreter as
// interp.mjs does (lockdown, warm-up runs, pristine capture), then runs 16
// sessions in turn on it, so that every run applies an image as on a pool
// serving more sessions than it has workers, and times each step of the
// worker's session path (the frame parsed, the image decoded and checked,
// the reset and the apply, the run, the capture); then stateless runs
// (reset, run). Prints medians of the process's CPU time per step (wall
// time on this shared machine is mostly other processes'), after waiting
// until V8's background compiles of the interpreter are done (they count
// in the process's CPU time). The host's share (HMAC, base64, the store)
// is not here: `perf record` on the server sees it. Asserts nothing.
//   node bench_session_phases.mjs <runtimeDir> [rounds]
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { bootWorker } from "../../support/sandboxed_boot.mjs";

const runtimeDir = resolve(process.argv[2] ?? "runtime");
const ROUNDS = Number(process.argv[3] ?? 20);
const WARM_ROUNDS = 3;
const mod = (f) => import(pathToFileURL(join(runtimeDir, f)).href);
const { captureImage, parseImage, warmImage } = await mod("image.mjs");
const { runFrame, iso } = await bootWorker(runtimeDir);
warmImage();

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const steps = {};
const took = (name, t0) => {
  const t = cpuMs();
  (steps[name] ??= []).push(t - t0);
  return t;
};
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const frame = (o) => Buffer.from(JSON.stringify(o));

// 16 sessions created with a scope, as bench_sessions.py's are.
let id = 0;
const images = [];
for (let i = 0; i < 16; i++) {
  iso.resume(null);
  runFrame(frame({ type: "inspect", id: ++id, scope: { n: 0 }, persist: true }));
  images.push(captureImage(iso).toString("base64"));
}
const bytes = [];
const grains = [];
for (let r = 0; r < ROUNDS + WARM_ROUNDS; r++) {
  if (r === WARM_ROUNDS) {
    for (let k = 0; k < 60; k++) {
      const before = cpuMs();
      await new Promise((done) => setTimeout(done, 500));
      if (cpuMs() - before < 25) break;
    }
    for (const k in steps) delete steps[k];
    bytes.length = grains.length = 0;
  }
  for (let i = 0; i < 16; i++) {
    // As the host sends it (server/session_jobs.c, frame_with_image) and
    // interp.mjs takes it (onFrame, sendImage).
    const payload = Buffer.from(`{"type":"run","id":${++id},"code":"n += 1","mode":"exec","capture":true,"image":"${images[i]}"}`);
    let t = cpuMs();
    const msg = JSON.parse(payload.toString("utf8"));
    t = took("session: frame parsed", t);
    const raw = Buffer.from(msg.image, "base64");
    const parsed = parseImage(iso, raw);
    t = took("session: image decoded, checked", t);
    iso.resume(parsed);
    t = took("session: reset + apply", t);
    delete msg.image;
    msg.persist = true;
    const run = Buffer.from(JSON.stringify(msg));
    iso.beforeRun(true);
    runFrame(run);
    t = took("session: run", t);
    const image = captureImage(iso);
    images[i] = image.toString("base64");
    took("session: capture (+ base64)", t);
    bytes.push(image.length);
  }
  for (let i = 0; i < 16; i++) {
    const payload = frame({ type: "run", id: ++id, code: "n = 1", mode: "exec" });
    let t = cpuMs();
    JSON.parse(payload.toString("utf8"));
    iso.beforeRun(false);
    t = took("stateless: reseed", t);
    runFrame(payload);
    t = took("stateless: run", t);
    iso.restore();
    took("stateless: reset", t);
    grains.push(iso.lastGrains);
  }
}
const total = { session: 0, stateless: 0 };
console.log(`session path vs stateless (CPU ms, median of ${ROUNDS * 16} each; 16 sessions in turn, each run applying an image)`);
for (const [name, samples] of Object.entries(steps)) {
  const m = median(samples);
  total[name.split(":")[0]] += m;
  console.log(`  ${name.padEnd(34)} ${m.toFixed(3)}`);
}
console.log(`  ${"session run, worker's part".padEnd(34)} ${total.session.toFixed(3)}`);
console.log(`  ${"stateless run, worker's part".padEnd(34)} ${total.stateless.toFixed(3)}`);
console.log(`  image ${(median(bytes) / 1024).toFixed(1)} KiB; a stateless reset puts back ${median(grains)} grains`);
