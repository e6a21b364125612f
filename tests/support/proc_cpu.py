"""CPU time a process has used so far, read from /proc/PID/stat: every
bench's A/B and the tests that watch a process spin read it this way.
Wall time on a shared 2-core machine is mostly other processes'; a
process's own CPU seconds are what a change moves."""
import os

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
