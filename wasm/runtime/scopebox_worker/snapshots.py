"""dynscope.snapshot() as a snippet sees it, and as the answer reports it.

The request's root bindings are made by the runner's own frame; everywhere
(inside the snippet too) that frame is shown as `<request>`, and no other
frame is relabelled (a binding made inside exec() keeps its "<string>").

`dynamic.returned` is the snippet's result only when that result *is* a list
dynscope.snapshot() returned during the run (by identity, never by shape):
the module's `snapshot` is wrapped here, once, before the pristine state is
captured, and during a run the wrapper remembers the last KEEP lists it
handed out.

`dynamic.snapshots` are the moments a snippet chose to look at: every
dynscope.snapshot() call of the run, in order (the first TAKEN), with the
snippet line and function it was called from. Each keeps its frames and
their bindings as they were at the call (a later with-block cannot change
what was bound then); the values are encoded with the answer, as
error.dynamic's are.
"""
import collections
import os
import sys

import dynscope

from .codec import encode
from .errors import SNIPPET

KEEP = 1000
TAKEN = 50
_OURS = os.path.dirname(os.path.abspath(__file__)) + os.sep
_real_snapshot = dynscope.snapshot
real_snapshot = _real_snapshot  # for the runner's own looks (raised.py)
_handed_out = collections.deque(maxlen=KEEP)
_taken = []            # (line, function, frames) of the run's first TAKEN calls
_taken_count = 0       # all calls of the run


def _is_ours(frame):
    file = frame.get("file") if type(frame) is dict else None
    return type(file) is str and file.startswith(_OURS)


def relabel(frames):
    """The root frame(s) of the runner as `<request>`, in place."""
    for i, frame in enumerate(frames):
        if _is_ours(frame):
            frames[i] = {"function": "<request>", "file": None, "line": None, "bindings": frame.get("bindings", {})}
    return frames


def snapshot(frame=None):
    """dynscope.snapshot(frame=None), with the request's root frame as
    `<request>`."""
    frames = relabel(_real_snapshot() if frame is None else _real_snapshot(frame))
    if _recording:
        _handed_out.append(frames)
        try:
            _take(frames)
        except MemoryError:  # the snippet's call still answers; the panel goes without it
            pass
    return frames


def _take(frames):
    global _taken_count
    _taken_count += 1
    if len(_taken) >= TAKEN:
        return
    # The line it was called from: the innermost frame of the snippet's own
    # code (a call from a module the snippet imported counts where the
    # snippet called into it).
    caller = sys._getframe(2)
    while caller is not None and caller.f_code.co_filename != SNIPPET:
        caller = caller.f_back
    where = (caller.f_lineno, caller.f_code.co_name) if caller is not None else (None, None)
    kept = [dict(f, bindings=dict(f["bindings"])) if type(f.get("bindings")) is dict else dict(f) for f in frames]
    _taken.append((*where, kept))


snapshot.__doc__ = _real_snapshot.__doc__
snapshot.__qualname__ = snapshot.__name__ = "snapshot"
snapshot.__module__ = "dynscope"
dynscope.snapshot = snapshot
# Only during a run (between start_run and returned) are snapshots kept, so
# that outside one the wrapper holds no reference to what it handed out.
_recording = False


def start_run():
    global _recording, _taken_count
    _handed_out.clear()
    _taken.clear()
    _taken_count = 0
    _recording = True


def taken():
    """([(line, function, frames)], how many calls past TAKEN), once per
    run: the recording is let go."""
    global _taken_count
    out, more = list(_taken), max(0, _taken_count - len(_taken))
    _taken.clear()
    _taken_count = 0
    return out, more


def encode_taken(taken, omitted, budget):
    """dynamic.snapshots and dynamic.snapshots_omitted; past the budget the
    rest are left out and counted."""
    out = []
    for line, function, frames in taken:
        if budget.spent:
            budget.cut = True
            omitted += 1
            continue
        budget.force(40)
        name = None
        if function is not None:
            name, _ = budget.text(function[:1000])
        out.append({"line": line, "function": name, "frames": encode_frames(frames, budget)})
    return out, omitted


def final():
    """The snapshot where the runner stands (its own frame as `<request>`)."""
    return relabel(_real_snapshot())


def returned(result):
    """Ends the run's recording: `result` if it is a snapshot handed out
    during the run, else None."""
    global _recording
    _recording = False
    found = type(result) is list and any(result is s for s in _handed_out)
    _handed_out.clear()
    return result if found else None


def encode_frames(frames, budget):
    """A snapshot for the answer: each frame's bindings encoded, names and
    values charged to `budget`. Frames the snippet edited are shown as they
    are, as far as they still look like frames."""
    out = []
    for frame in list(frames):
        if budget.spent:
            budget.cut = True
            break
        if type(frame) is not dict:
            continue
        function, file, line = frame.get("function"), frame.get("file"), frame.get("line")
        entry = {"function": function if type(function) is str else "?",
                 "file": file if type(file) is str or file is None else None,
                 "line": line if type(line) is int else None, "bindings": {}}
        for k in ("function", "file"):
            if entry[k] is not None:
                entry[k], _ = budget.text(entry[k][:1000])
        budget.force(60)
        bindings = frame.get("bindings")
        for name, value in list(bindings.items()) if type(bindings) is dict else ():
            if budget.spent:
                budget.names_omitted += 1
            elif budget.name(name):
                entry["bindings"][name] = encode(value, budget)
        out.append(entry)
    return out
