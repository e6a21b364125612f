// While a run is in flight the status line counts its seconds and, on the
// server engine, says when every worker is busy: a run that waits in the
// server's queue is then not a bare spinner. (Only the answer says how long
// it waited, timing.queue_ms; the workers may be busy with other runs.)
// Once the run has written output it is known to be running, and the
// workers are no longer asked.
const TICK_MS = 250;
const PROBE_MS = 1000;

export function runClock(el, label, { busy = null } = {}) {
  const started = performance.now();
  let note = "", done = false, running = false, asking = false;
  const draw = () => {
    const meta = el.querySelector(".status-meta");
    if (done || !meta) return;
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    meta.textContent = `${label} · ${secs} s${note ? ` · ${note}` : ""}`;
  };
  const ask = async () => {
    if (asking || running || done) return;
    asking = true;
    try {
      const text = await busy();
      if (!running && !done) {
        note = text;
        draw();
      }
    } catch {
      /* the status dot reports a server that is gone */
    } finally {
      asking = false;
    }
  };
  const tick = setInterval(draw, TICK_MS);
  const probe = busy ? setInterval(ask, PROBE_MS) : null;
  return {
    // The run wrote output: it has a worker.
    running() {
      running = true;
      note = "";
      draw();
    },
    stop() {
      done = true;
      clearInterval(tick);
      clearInterval(probe);
    },
  };
}
