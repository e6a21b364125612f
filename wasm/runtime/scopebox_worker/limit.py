"""Past its time limit, a run's own code cannot go on.

The watchdog's interrupt raises KeyboardInterrupt once per 50 ms, which a
snippet can catch (`except BaseException: pass` in a loop). Once the run is
past its limit, every line of the snippet's code that starts also raises it
(a sys.monitoring LINE callback, installed only then: nothing is monitored
on the normal path), so the first line of any handler that caught it raises
again, and the run stops by interrupt with its answer instead of by the host
killing the worker. Code below the snippet's (the runner, the stdlib, C
loops such as sum(range(10**12))) is not touched: the host's kill stays the
backstop for what never reaches a line of the snippet.
"""
import sys

from .errors import SNIPPET

# Of sys.monitoring's six ids, 3 and 4 are unassigned by CPython: the raise
# hook (raised.py) holds one of them through a run, this takes the other.
_TOOLS = (3, 4)
_mon = sys.monitoring
_active = False
_tool = None


def _line(code, line):
    # Not DISABLE for other code: that would outlive this run in a session.
    if code.co_filename == SNIPPET:
        raise KeyboardInterrupt


def escalate():
    """From the watchdog's interrupt, once the run is past its limit."""
    global _active, _tool
    if _active:
        return
    _tool = next((t for t in _TOOLS if _mon.get_tool(t) is None), None)
    if _tool is None:  # the snippet took the ids: the interrupts and the kill remain
        return
    _mon.use_tool_id(_tool, "scopebox time limit")
    _active = True
    _mon.register_callback(_tool, _mon.events.LINE, _line)
    _mon.set_events(_tool, _mon.events.LINE)


def relax():
    """Before the answer is written, and before every run (a session's)."""
    global _active
    if not _active:
        return
    _active = False
    _mon.set_events(_tool, 0)
    _mon.register_callback(_tool, _mon.events.LINE, None)
    _mon.free_tool_id(_tool)
