"""Capped text sinks that stand in for sys.stdout and sys.stderr during a run."""
import io

from .codec import utf8_prefix


class Capture(io.TextIOBase):
    """Keeps the first `cap` bytes (UTF-8) written, cut on a character
    boundary, and counts the rest, so print('x' * 10**9) costs one slice,
    never a gigabyte."""

    def __init__(self, cap, on_write=None, stream=None):
        self._parts = []
        self._room = cap
        self.truncated = False
        # Live output (a streamed run): called with (stream, text) for each
        # write's kept part, so what streams is what the answer keeps.
        self._on_write = on_write
        self._stream = stream

    def writable(self):
        return True

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        if s and not self.truncated:
            head, size = utf8_prefix(s, self._room)
            if head:
                self._parts.append(head)
                if self._on_write is not None:
                    self._on_write(self._stream, head)
            self._room -= size
            if len(head) < len(s):
                self.truncated = True
        elif s:
            self.truncated = True
        return len(s)

    def getvalue(self):
        return "".join(self._parts)
