"""Capped text sinks that stand in for sys.stdout and sys.stderr during a run,
and the one ordered record of both (the answer's `output`)."""
import io

from .codec import utf8_prefix

# What one chunk of `output` costs beyond its text: `{"stream":"stdout",
# "text":""},` is 32 bytes of JSON. Charging it against the cap bounds the
# number of chunks too: a snippet alternating one-character writes to stdout
# and stderr would otherwise make a million chunks out of a megabyte.
CHUNK_COST = 32


class Output:
    """stdout and stderr interleaved in the order written: the first `cap`
    bytes (UTF-8) of both together, chunk costs included, as a terminal
    would have shown them. Adjacent writes to one stream share a chunk.
    Past the cap everything is dropped (a prefix, never a view with holes)."""

    def __init__(self, cap):
        self._chunks = []  # [stream, [texts]]
        self._room = cap
        self.truncated = False

    def add(self, stream, s):
        if self.truncated:
            return
        if not self._chunks or self._chunks[-1][0] != stream:
            if self._room < CHUNK_COST:
                self.truncated = True
                return
            self._room -= CHUNK_COST
            self._chunks.append([stream, []])
        head, size = utf8_prefix(s, self._room)
        if head:
            self._chunks[-1][1].append(head)
        self._room -= size
        if len(head) < len(s):
            self.truncated = True

    def chunks(self):
        """[(stream, text)], without chunks that ended up empty."""
        out = []
        for stream, parts in self._chunks:
            text = "".join(parts)
            if text:
                out.append((stream, text))
        return out


class Capture(io.TextIOBase):
    """One stream of a run (`stream`: "stdout" or "stderr"). Keeps the first
    `cap` bytes (UTF-8) written, cut on a character boundary, and counts the
    rest, so print('x' * 10**9) costs one slice, never a gigabyte. Every
    write also goes to `ordered` (an Output), under that one's own cap."""

    def __init__(self, cap, stream="stdout", ordered=None):
        self._parts = []
        self._room = cap
        self.truncated = False
        self.stream = stream
        self._ordered = ordered

    def writable(self):
        return True

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        if not s:
            return 0
        if self._ordered is not None:
            self._ordered.add(self.stream, s)
        if not self.truncated:
            head, size = utf8_prefix(s, self._room)
            if head:
                self._parts.append(head)
            self._room -= size
            if len(head) < len(s):
                self.truncated = True
        return len(s)

    def getvalue(self):
        return "".join(self._parts)
