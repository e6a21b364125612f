"""A run's stdin: the request's `stdin` text (or nothing), what sys.stdin and
input() read. Each run gets a new one: a session's next run starts on its
own input, never on what an earlier run left unread."""
import io
import sys

# No `stdin` in the request: say why input() found nothing, since a user
# who expected a prompt would otherwise see a bare EOFError.
NO_INPUT = "EOF when reading a line: stdin is empty (a run has no input)"
# CPython's own words once the input given is used up.
AT_END = "EOF when reading a line"


class Stdin(io.StringIO):
    """Read-only text, with universal newlines as a text-mode stdin has
    (\\r\\n and \\r read as \\n). read, readline, readlines and iteration are
    StringIO's."""

    def __init__(self, text=""):
        super().__init__(text, newline=None)
        self.given = bool(text)

    def writable(self):
        return False

    def write(self, s):
        raise io.UnsupportedOperation("not writable")

    def writelines(self, lines):
        raise io.UnsupportedOperation("not writable")

    def truncate(self, size=None):
        raise io.UnsupportedOperation("not writable")

    def isatty(self):
        return False

    @property
    def name(self):
        return "<stdin>"


def input(prompt="", /):
    """input() on the run's stdin: the prompt goes to stdout; at the end of
    the input, EOFError as in CPython (a last line without a newline is
    still returned first)."""
    if prompt:
        sys.stdout.write(str(prompt))
        sys.stdout.flush()
    line = sys.stdin.readline()
    if not line:
        given = getattr(sys.stdin, "given", False)
        raise EOFError(AT_END if given else NO_INPUT)
    return line[:-1] if line.endswith("\n") else line


input.__qualname__ = "input"
input.__module__ = "builtins"
