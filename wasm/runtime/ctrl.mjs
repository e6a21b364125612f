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
  // written.
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
