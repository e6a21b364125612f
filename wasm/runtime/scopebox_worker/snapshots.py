"""dynscope.snapshot() as a snippet sees it, and as the answer reports it.

The request's root bindings are made by the runner's own frame; everywhere
(inside the snippet too) that frame is shown as `<request>`, and no other
frame is relabelled (a binding made inside exec() keeps its "<string>").

`dynamic.returned` is the snippet's result only when that result *is* a list
dynscope.snapshot() returned during the run (by identity, never by shape):
the module's `snapshot` is wrapped here, once, before the pristine state is
captured, and during a run the wrapper remembers the last KEEP lists it
handed out.
"""
import collections
import os

import dynscope

from .codec import encode

KEEP = 1000
_OURS = os.path.dirname(os.path.abspath(__file__)) + os.sep
_real_snapshot = dynscope.snapshot
_handed_out = collections.deque(maxlen=KEEP)


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
    return frames


snapshot.__doc__ = _real_snapshot.__doc__
snapshot.__qualname__ = snapshot.__name__ = "snapshot"
snapshot.__module__ = "dynscope"
dynscope.snapshot = snapshot
# Only during a run (between start_run and returned) are snapshots kept, so
# that outside one the wrapper holds no reference to what it handed out.
_recording = False


def start_run():
    global _recording
    _handed_out.clear()
    _recording = True


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
