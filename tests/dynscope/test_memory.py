"""Memory stays flat: a million bind/exit cycles and a million frames that
set_here() and die (fewer inside Pyodide, where each step costs more)."""
import gc
import os
import sys

import dynscope
from dynscope import bind, capture, get, set_here
from dynscope.compat.dysco import g

from preamble import IN_PYODIDE

N = int(os.environ.get("DYNSCOPE_MEMORY_N", 100_000 if IN_PYODIDE else 1_000_000))
MB = 1 << 20
# Under valgrind freed blocks are quarantined, so RSS grows by design: only
# the object counts are checked there (valgrind itself checks the leaks).
CHECK_RSS = not os.environ.get("DYNSCOPE_UNDER_VALGRIND")


def rss():
    """Resident memory in bytes (the wasm heap inside Pyodide)."""
    if IN_PYODIDE:
        import pyodide_js
        return pyodide_js._module.HEAPU8.length
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(loop):
    loop(N // 10)              # warm caches, freelists, counters
    gc.collect()
    objs0, rss0 = len(gc.get_objects()), rss()
    loop(N)
    gc.collect()
    objs1, rss1 = len(gc.get_objects()), rss()
    return objs1 - objs0, rss1 - rss0


# A leak shows up as one object per iteration; the slack is for the
# interpreter's own bookkeeping (Pyodide's event loop runs the suite).
SLACK = 100 if IN_PYODIDE else 20


def assert_flat(loop):
    objs, grown = measure(loop)
    assert objs <= SLACK, f"{objs} more GC objects after {N} iterations"
    assert not CHECK_RSS or grown <= MB, f"RSS grew {grown / MB:.2f} MB after {N} iterations"


def test_bind_exit_cycles_are_flat():
    def loop(n):
        for i in range(n):
            with bind(x=i, y="v"):
                get("x")

    assert_flat(loop)


def test_dying_set_here_frames_are_flat():
    def frame(i):
        set_here("x", [i])
        return get("x")

    def loop(n):
        for i in range(n):
            frame(i)

    assert_flat(loop)
    assert not dynscope.bound("x")


def test_dysco_style_frames_are_flat():
    def frame(i):
        g.value = i
        g[("k", i)] = i     # ever-new names: their counters are swept
        return g.value

    def loop(n):
        for i in range(n):
            frame(i)

    assert_flat(loop)


def test_generators_abandoned_inside_bindings_are_flat():
    def gen(i):
        with bind(x=i):
            yield

    def loop(n):
        for i in range(n // 4):
            it = gen(i)
            next(it)
            del it

    assert_flat(loop)


def test_capture_and_reenter_are_flat():
    def loop(n):
        with bind(x=1):
            for _ in range(n // 4):
                with capture():
                    get("x")

    assert_flat(loop)


def test_no_reference_leaks_in_the_api():
    """Every operation, hit and miss, leaves the refcounts of the calling
    frame, the bound value and the name where they were."""
    import builtins

    value = object()
    name = "".join(["leak", "_check"])       # not interned
    ns = dynscope.Namespace()
    fb = dynscope.FallbackBuiltins(builtins.__dict__)
    code = compile("leak_check", "<leak>", "eval")

    def ops():
        get(name, None)
        dynscope.bound(name)
        try:
            dynscope.unbind("missing_name")
        except LookupError:
            pass
        try:
            dynscope.assign("missing_name", 1)
        except LookupError:
            pass
        with bind(**{name: value}):
            get(name)
            dynscope.assign(name, value)
            dynscope.snapshot()
            dynscope.capture().run(get, name)
            eval(code, {"__builtins__": fb})
            ns[name] = value
            ns[name]
            getattr(ns, name)
            del ns[name]
            list(ns)
            g.leak_value = value
            g["leak_value"]
            dict(g)
            del g.leak_value
        set_here(name, value)
        dynscope.unbind(name)

    frame = sys._getframe()
    for _ in range(10):
        ops()
    counts = sys.getrefcount(frame), sys.getrefcount(value), sys.getrefcount(name)
    for _ in range(1000):
        ops()
    assert (sys.getrefcount(frame), sys.getrefcount(value), sys.getrefcount(name)) == counts
