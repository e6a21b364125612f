"""A worker that is ready and has no run waits: right after ready, V8's one
compile thread (server/sandbox.c: --v8-pool-size=1) is still tiering up the
boot's hot wasm functions, and no other thread of the worker should be
working. Before --single-threaded-gc the interpreter thread's Oilpan sweep
re-posted itself to its event loop for as long as the compile thread was
busy (~1 s of CPU per worker, taken from the other workers' boots). Counts
the threads that were busy over a window right after ready: whether a
second thread spins, not how fast anything is (on a loaded machine a
spinning thread still gets far more than the bar)."""
import time

from proc_cpu import thread_cpu_seconds
from scopebox_server import ScopeboxServer

WINDOW_S = 1.5
BUSY = 0.15  # of the window: a thread above it was working, not waiting


def test_an_idle_worker_spins_no_second_thread():
    with ScopeboxServer("--workers", "1") as server:
        (pid,) = server.worker_pids()
        before, t0 = thread_cpu_seconds(pid), time.monotonic()
        time.sleep(WINDOW_S)
        after, wall = thread_cpu_seconds(pid), time.monotonic() - t0
    used = {tid: after[tid] - before.get(tid, 0) for tid in after}
    busy = sorted((s for s in used.values() if s > BUSY * wall), reverse=True)
    assert len(busy) <= 1, f"{len(busy)} threads of the idle worker were busy in {wall:.2f} s: CPU s {busy}"
