"""CPU time a process has used so far, read from /proc/PID/stat: every
bench's A/B and the tests that watch a process spin read it this way.
Wall time on a shared 2-core machine is mostly other processes'; a
process's own CPU seconds are what a change moves."""
import os
import time

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid, *, reaped=False, gone=None):
    """utime + stime of `pid`, all its threads; with `reaped`, also the
    children it has waited for (a server's recycled workers land there).
    A process that is gone raises FileNotFoundError, or returns `gone`
    when that is given (a worker exiting mid-measure)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        if gone is None:
            raise
        return gone
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICK


def thread_cpu_seconds(pid):
    """utime + stime of each thread of `pid`, by thread id: which thread
    works, where cpu_seconds gives only the sum."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue  # a thread that ended meanwhile
        out[tid] = (int(fields[11]) + int(fields[12])) / _TICK
    return out


def wait_still(pids, quiet_s=0.5, max_s=15.0):
    """Waits until the processes' CPU times stand still for `quiet_s` (at
    most `max_s`); returns the seconds waited. Right after a worker is ready
    V8's compile thread is still tiering up the boot's hot wasm functions
    (seconds on a loaded machine), its compile zones resident meanwhile:
    an idle worker is one that has stopped."""
    t0 = time.monotonic()
    last, still_since = None, t0
    while time.monotonic() - t0 < max_s:
        now = [cpu_seconds(p, gone=0.0) for p in pids]
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= quiet_s:
            break
        time.sleep(0.05)
    return time.monotonic() - t0
