"""A snippet's exception as data: type, message, the snippet line and
columns it came from, a traceback of the snippet's own frames (our runner's
are left out, line numbers are the snippet's), its chained causes and
ExceptionGroup members (bounded), and the traceback text Python would print.
"""
import linecache
import os
import traceback

from .codec import MAX_STR, clip, safe_repr, type_name

SNIPPET = "<snippet>"
MAX_FRAMES = 50
MAX_NESTED_FRAMES = 10  # frames kept of each cause, context and group member
MAX_LINKED = 16  # causes, contexts and group members described, in all
MAX_MEMBERS = 10  # members kept of one ExceptionGroup
MAX_SOURCE = 1000
MAX_NAME = 1000
MAX_NESTED_MESSAGE = 4096
_OURS = os.path.dirname(os.path.abspath(__file__)) + os.sep


def lines(code):
    """The snippet's lines as the tokenizer counts them (\\r\\n, \\r and \\n
    end a line; str.splitlines would also split at \\f, \\v, \\x1c-\\x1e,
    \\x85, \\u2028 and \\u2029, which Python does not)."""
    text = code.replace("\r\n", "\n").replace("\r", "\n")
    out = text.split("\n")
    return [line + "\n" for line in out[:-1]] + ([out[-1]] if out[-1] else [])


def remember(code):
    """Makes the snippet's source what linecache (and so tracebacks) read."""
    linecache.cache[SNIPPET] = (len(code), None, lines(code), SNIPPET)


def _source(line):
    text = linecache.getline(SNIPPET, line) if line else ""
    text = text.rstrip("\r\n")
    return clip(text, MAX_SOURCE) if text else None


def _char_col(line, byte_col):
    """A 1-based character column for a 0-based UTF-8 byte offset in a line
    of the snippet (code positions count bytes), or None."""
    if byte_col is None or not line:
        return None
    text = linecache.getline(SNIPPET, line)
    return len(text.encode("utf-8", "surrogatepass")[:byte_col].decode("utf-8", "replace")) + 1


def _position(tb):
    """(line, column, end_line, end_column) of the instruction a traceback
    entry points at; columns are 1-based characters, end_column is just past
    the last character (as SyntaxError.end_offset)."""
    line = tb.tb_lineno
    try:
        positions = list(tb.tb_frame.f_code.co_positions())
        start, end, col, end_col = positions[tb.tb_lasti // 2]
    except (IndexError, ValueError, AttributeError):
        return line, None, None, None
    if start is None:
        return line, None, None, None
    return line, _char_col(start, col), end, _char_col(end, end_col)


def _frames(tb, limit):
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == SNIPPET:
            line, col, end_line, end_col = _position(tb)
            frames.append({"function": clip(code.co_name, MAX_NAME), "line": line, "source": _source(line),
                           "column": col, "end_line": end_line, "end_column": end_col})
        tb = tb.tb_next
    if len(frames) > limit:  # deep recursion: keep both ends
        half = limit // 2
        frames = frames[:half] + [{"function": "…", "line": None, "source": None,
                                    "omitted": len(frames) - 2 * half}] + frames[-half:]
    return frames


def _message(exc, limit):
    try:
        text = str(exc)
    except Exception:  # a broken __str__ must not break the answer
        text = safe_repr(exc)
    if type(text) is not str:
        text = safe_repr(exc)
    return clip(text, limit)


def _is_ours(filename):
    return filename.startswith(_OURS)


def _drop_our_frames(te, seen):
    """The TracebackException without this package's frames, recursively."""
    while te is not None and id(te) not in seen:
        seen.add(id(te))
        te.stack = traceback.StackSummary.from_list([f for f in te.stack if not _is_ours(f.filename)])
        for group_member in te.exceptions or ():
            _drop_our_frames(group_member, seen)
        if te.__cause__ is not None:
            _drop_our_frames(te.__cause__, seen)
        te = te.__context__


def text(exc):
    """What `traceback.print_exception(exc)` would print, without our own
    frames, cut at 64 KiB."""
    try:
        te = traceback.TracebackException.from_exception(exc, max_group_width=MAX_MEMBERS, max_group_depth=4)
        _drop_our_frames(te, set())
        out = "".join(te.format())
    except Exception as e:  # formatting runs the snippet's __str__; it may fail
        out = f"{type_name(exc)} (traceback could not be formatted: {type(e).__name__})\n"
    return clip(out, MAX_STR)


class _Describer:
    def __init__(self):
        self.left = MAX_LINKED
        self.seen = set()

    def describe(self, exc, top):
        self.seen.add(id(exc))
        limit = MAX_FRAMES if top else MAX_NESTED_FRAMES
        if isinstance(exc, SyntaxError) and exc.filename == SNIPPET:
            line = exc.lineno
            error = {"type": type_name(exc), "message": clip(str(exc.msg), MAX_STR), "line": line,
                     "column": exc.offset, "end_line": exc.end_lineno, "end_column": exc.end_offset,
                     "source": _source(line), "traceback": []}
        else:
            frames = _frames(exc.__traceback__, limit)
            last = frames[-1] if frames else {}
            line = last.get("line")
            error = {"type": type_name(exc), "message": _message(exc, MAX_STR if top else MAX_NESTED_MESSAGE),
                     "line": line, "column": last.get("column"), "end_line": last.get("end_line"),
                     "end_column": last.get("end_column"), "source": _source(line), "traceback": frames}
        cause = exc.__cause__
        context = None if exc.__suppress_context__ else exc.__context__
        if cause is not None:
            error["cause"] = self.linked(cause)
        if context is not None:
            error["context"] = self.linked(context)
        if isinstance(exc, BaseExceptionGroup):
            members = BaseExceptionGroup.exceptions.__get__(exc)  # not a subclass's property
            error["exceptions"] = [self.linked(m) for m in members[:MAX_MEMBERS]]
            if len(members) > MAX_MEMBERS:
                error["exceptions_omitted"] = len(members) - MAX_MEMBERS
        return error

    def linked(self, exc):
        """A cause, context or member: described while the allowance lasts;
        past it (or for an exception already described: a cycle), a stub."""
        if self.left <= 0 or id(exc) in self.seen or not isinstance(exc, BaseException):
            return {"type": type_name(exc), "message": _message(exc, MAX_NESTED_MESSAGE) if isinstance(
                exc, BaseException) else "", "line": None, "source": None, "traceback": [], "omitted": True}
        self.left -= 1
        return self.describe(exc, top=False)


def describe(exc):
    error = _Describer().describe(exc, top=True)
    error["text"] = text(exc)
    return error
