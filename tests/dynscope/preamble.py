"""What every dynscope test module starts from, in one place: the same
plain module is imported natively under pytest, by plain_collector.py under
newer CPythons, and inside Pyodide (run_in_pyodide.mjs copies it beside the
tests)."""
import asyncio
import sys

# A default for get() that no test binds: "the name is unbound here".
UNBOUND = "unbound"
IN_PYODIDE = sys.platform == "emscripten"


def raises(exc, fn, *args, **kwargs):
    """The `exc` that fn(*args, **kwargs) raises; fails if it raises none."""
    try:
        fn(*args, **kwargs)
    except exc as e:
        return e
    raise AssertionError(f"{fn!r} did not raise {exc.__name__}")


def run_async(coro):
    """asyncio.run natively; in Pyodide the collector awaits the result on
    the browser-style event loop (run_until_complete needs stack switching
    there)."""
    if IN_PYODIDE:
        return coro
    return asyncio.run(coro)
