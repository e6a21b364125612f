"""The dynamic scope where a snippet's exception was raised (issue 13 §7).

By the time the runner catches a snippet's exception, the with-blocks it
passed through have unwound their bindings. sys.monitoring's RAISE event
fires in each frame an exception passes through, innermost first, with that
frame as the callback's caller and before its handlers run: the first time
an exception is seen in a frame of the snippet's code, the bindings visible
there (dynscope.snapshot(frame)) are recorded. Code that raises nothing pays
nothing: RAISE needs no instrumentation of the code that runs. And while no
binding has changed since the run started (the common case: a snippet that
binds nothing, raising and catching in a loop), the scope anywhere in the
run is the request's root one, which outlives the snippet: nothing is
recorded then, and the root is snapshotted once, for the answer.
"""
import sys

import dynscope

from . import snapshots
from .errors import SNIPPET

# The unwrapped snapshot: the runner's own looks are not the snippet's
# dynscope.snapshot() calls (dynamic.snapshots).
_snapshot = snapshots.real_snapshot

MAX_KEPT = 64          # exceptions remembered per run, the latest ones
MAX_FRAMES = 50        # frames in error.dynamic (deep recursion: both ends)
_NAME = "scopebox raised"
_TOOLS = (4, 3)        # the ids sys.monitoring leaves unassigned
_monitoring = getattr(sys, "monitoring", None)
_tool = None
_seen = {}             # id(exc) -> (exc, snapshot or None: the root's), oldest first
_unchanged = None      # dynscope.scope_version() while only the root is bound


def _on_raise(code, offset, exc):
    if code.co_filename != SNIPPET:
        return
    entry = _seen.get(id(exc))
    if entry is not None and entry[0] is exc:
        return         # recorded in an inner frame already
    try:
        if dynscope.scope_version() == _unchanged:
            snap = None
        else:
            snap = _snapshot(sys._getframe(1))
    except Exception:  # MemoryError, RecursionError: the answer goes without
        return
    if len(_seen) >= MAX_KEPT:
        del _seen[next(iter(_seen))]
    _seen[id(exc)] = (exc, snap)


def arm():
    """Inside the request's root bind, before the snippet runs: nothing
    remembered, and the hook on (a session's earlier snippet may have
    turned it off; a stateless run's state is restored anyway)."""
    global _unchanged
    _seen.clear()
    _unchanged = None
    try:
        _arm()
    except Exception:  # out of memory, or whatever a snippet did to
        pass           # sys.monitoring: no hook, the run goes on


def _arm():
    global _tool, _unchanged
    # The shortcut holds only if every live binding is one seen from here
    # (a session's suspended generator may hold others).
    seen_here = sum(len(f["bindings"]) for f in _snapshot())
    if seen_here == dynscope.live_count():
        _unchanged = dynscope.scope_version()
    if _monitoring is None:
        return
    if _tool is None or _monitoring.get_tool(_tool) != _NAME:
        _tool = next((t for t in _TOOLS if _monitoring.get_tool(t) is None), None)
        if _tool is None:
            return     # a snippet took both ids: its errors go without
        _monitoring.use_tool_id(_tool, _NAME)
    _monitoring.register_callback(_tool, _monitoring.events.RAISE, _on_raise)
    if _monitoring.get_events(_tool) != _monitoring.events.RAISE:
        _monitoring.set_events(_tool, _monitoring.events.RAISE)


def scope_at_raise(exc):
    """The snapshot where exc was raised in the snippet; for an exception
    no snippet frame saw (a SyntaxError), the one seen from here, which is
    the runner's: the request's root bindings."""
    entry = _seen.get(id(exc))
    if entry is not None and entry[0] is exc and entry[1] is not None:
        return entry[1]
    return _snapshot()


def dynamic_of(exc, relabel):
    """error.dynamic: scope_at_raise(exc) through the runner's relabel,
    a deep stack cut to its two ends as the traceback is; None when it
    cannot be made (out of memory)."""
    try:
        snap = relabel(scope_at_raise(exc))
        if len(snap) > MAX_FRAMES:
            half = MAX_FRAMES // 2
            snap = snap[:half] + [{"function": "…", "file": None, "line": None, "bindings": {},
                                   "omitted": len(snap) - 2 * half}] + snap[-half:]
        return snap
    except Exception:
        return None


def release():
    """After a run: the remembered exceptions and values are let go."""
    global _unchanged
    _seen.clear()
    _unchanged = None
