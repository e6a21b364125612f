"""Capped text sinks that stand in for sys.stdout and sys.stderr during a run."""
import io


class Capture(io.TextIOBase):
    """Keeps the first `cap` characters written and counts the rest, so
    print('x' * 10**9) costs one slice, never a gigabyte."""

    def __init__(self, cap):
        self._parts = []
        self._room = cap
        self.truncated = False

    def writable(self):
        return True

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        if s:
            if self._room > 0:
                self._parts.append(s[: self._room])
            if len(s) > self._room:
                self.truncated = True
            self._room = max(0, self._room - len(s))
        return len(s)

    def getvalue(self):
        return "".join(self._parts)
