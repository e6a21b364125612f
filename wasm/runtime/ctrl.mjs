// The words a worker's two threads share (an Int32Array on a
// SharedArrayBuffer), so that the controlling thread (worker.mjs) can stop a
// run and know which run is in flight without waiting for the interpreter
// thread (interp.mjs), which is busy running Python, to answer a message.
export const CTRL = Object.freeze({
  // Pyodide's interrupt buffer: 2 = SIGINT (KeyboardInterrupt at the next
  // bytecode, or at once inside time.sleep).
  INTERRUPT: 0,
  // 1 once the controlling thread decided the run in flight timed out: tells
  // a KeyboardInterrupt from the watchdog from one the snippet raised.
  TIMED_OUT: 1,
  // The run in flight (a sequence number of the interpreter thread's), 0
  // when none: set when its frame is read, cleared before the answer is
  // written; -run while the controlling thread flags that run (claimRun).
  RUN: 2,
  // Its time limit (ms), for the watchdog.
  TIMEOUT_MS: 3,
  // Counts runs started; the controlling thread waits on it.
  STARTS: 4,
  // The host's id of the run in flight (its low 31 bits; PROTOCOL.md `cancel`
  // names runs by it), set before RUN.
  JOB: 5,
  // The id (low 31 bits) of the last run the host cancelled, written by the
  // controlling thread: a cancel that arrives before its run has started is
  // found here by the interpreter thread when the run starts.
  CANCEL_ID: 6,
  // 1 once the run in flight was cancelled (TIMED_OUT is 1 too, so that the
  // Python side stops it exactly as at its limit): it answers `cancelled`.
  CANCELLED: 7,
});
export const CTRL_WORDS = 8;
// Host ids as ctrl words hold them (Int32Array; ids count up from 1).
export const jobWord = (id) => (id % 0x7fffffff) + 1;

// The one rule of these words (PROTOCOL.md, "Control words"): the
// controlling thread writes a run's flags (INTERRUPT, TIMED_OUT, CANCELLED)
// only while it holds that run's claim, RUN = -run, taken by compare-and-swap
// from the run's own number; the interpreter thread ends a run by swapping
// its number for 0, waiting out a claim. A decision to stop run N thus
// lands before N's end is decided, or not at all: made late, the claim
// finds RUN changed and nothing is written, so it cannot reach the next run
// (which clears the flags and sets RUN only after N's end).

// The controlling thread: true if `run` is still in flight, now claimed.
export function claimRun(ctrl, run) {
  return run > 0 && Atomics.compareExchange(ctrl, CTRL.RUN, run, -run) === run;
}

export function releaseRun(ctrl, run) {
  Atomics.store(ctrl, CTRL.RUN, run);
  Atomics.notify(ctrl, CTRL.RUN);
}

// The interpreter thread, at the end of `run`: afterwards its flags are
// final and no claim can be taken. A claim is held for a few stores, so the
// wait is short (as long as the controlling thread is descheduled, at worst).
export function endRun(ctrl, run) {
  for (;;) {
    const seen = Atomics.compareExchange(ctrl, CTRL.RUN, run, 0);
    if (seen === run) return;
    if (seen !== -run) throw new Error(`ctrl: run ${run} ended while the run word held ${seen}`);
    Atomics.wait(ctrl, CTRL.RUN, seen);
  }
}
