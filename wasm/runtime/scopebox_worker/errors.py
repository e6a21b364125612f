"""A snippet's exception as data: type, message, the snippet line it came
from and a traceback of the snippet's own frames (our runner's are left out,
line numbers are the snippet's)."""
import linecache

from .codec import safe_repr, type_name

SNIPPET = "<snippet>"
MAX_FRAMES = 50


def _source(line):
    text = linecache.getline(SNIPPET, line) if line else ""
    return text.rstrip("\n") or None


def _frames(tb):
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == SNIPPET:
            frames.append({"function": code.co_name, "line": tb.tb_lineno, "source": _source(tb.tb_lineno)})
        tb = tb.tb_next
    if len(frames) > MAX_FRAMES:  # deep recursion: keep both ends
        half = MAX_FRAMES // 2
        frames = frames[:half] + [{"function": "…", "line": None, "source": None,
                                    "omitted": len(frames) - 2 * half}] + frames[-half:]
    return frames


def _message(exc):
    try:
        return str(exc)
    except Exception:  # a broken __str__ must not break the answer
        return safe_repr(exc)


def describe(exc):
    if isinstance(exc, SyntaxError) and exc.filename == SNIPPET:
        line = exc.lineno
        error = {"type": type_name(exc), "message": exc.msg, "line": line,
                 "column": exc.offset, "source": _source(line), "traceback": []}
        return error
    frames = _frames(exc.__traceback__)
    line = frames[-1]["line"] if frames else None
    return {"type": type_name(exc), "message": _message(exc), "line": line,
            "source": _source(line), "traceback": frames}
