"""snapshot(frame): the dynamic scope as seen from a given frame, e.g. the
frame where an exception is being raised (issue 13 §7: the service reports
the bindings in effect at the raise, which have unwound by the time the
exception is caught)."""
import sys

import dynscope
from dynscope import bind, set_here

from preamble import IN_PYODIDE, raises


def _bindings(snap):
    return [(s["function"], s["bindings"]) for s in snap]


def test_snapshot_from_a_callers_frame_is_the_callers_snapshot():
    def helper():
        set_here("helper_only", 1)
        return dynscope.snapshot(sys._getframe(1)), dynscope.snapshot(frame=sys._getframe(1))

    def caller():
        with bind(who="caller"):
            return helper(), dynscope.snapshot()

    (positional, keyword), own = caller()
    assert positional == keyword == own
    assert _bindings(own) == [("caller", {"who": "caller"})]


def test_snapshot_from_a_suspended_generator_frame_shows_its_own_bindings():
    def gen():
        with bind(x="in-gen"):
            yield

    g = gen()
    next(g)
    with bind(y="outside"):
        assert _bindings(dynscope.snapshot(g.gi_frame)) == [("gen", {"x": "in-gen"})]
        assert _bindings(dynscope.snapshot()) == [
            ("test_snapshot_from_a_suspended_generator_frame_shows_its_own_bindings",
             {"y": "outside"})]
    g.close()


def test_namespace_snapshot_from_a_frame():
    ns = dynscope.Namespace()

    def helper():
        return ns.snapshot(sys._getframe(1))

    with ns.bind(n=1), bind(d=2):
        assert _bindings(helper()) == [
            ("test_namespace_snapshot_from_a_frame", {"n": 1})]


def test_snapshot_of_something_else_is_a_type_error():
    e = raises(TypeError, dynscope.snapshot, 42)
    assert "frame" in str(e)
    raises(TypeError, dynscope.snapshot, sys._getframe(), 1)
    assert dynscope.snapshot(None) == []


def _raises_inside_bindings():
    with bind(depth="outer"):
        def inner():
            with bind(depth="inner", extra=1):
                raise ValueError("boom")
        inner()


def test_bindings_where_an_exception_was_raised_via_settrace():
    # 3.11 has no sys.monitoring: the 'exception' trace event is the
    # equivalent, with the raising frame as its argument.
    if IN_PYODIDE:
        return  # the service uses sys.monitoring (below)
    seen = []

    def tracer(frame, event, arg):
        if event == "exception" and not seen:
            seen.append(dynscope.snapshot(frame))
        return tracer

    sys.settrace(tracer)
    try:
        raises(ValueError, _raises_inside_bindings)
    finally:
        sys.settrace(None)
    assert _bindings(seen[0]) == [("inner", {"depth": "inner", "extra": 1}),
                                  ("_raises_inside_bindings", {"depth": "outer"})]
    assert dynscope.snapshot() == []      # unwound by now


def test_bindings_where_an_exception_was_raised_via_sys_monitoring():
    if not hasattr(sys, "monitoring"):
        return  # 3.12+
    M = sys.monitoring
    tool = next(t for t in range(6) if M.get_tool(t) is None)
    M.use_tool_id(tool, "dynscope test")
    seen = []

    def on_raise(code, offset, exc):
        if not seen:
            seen.append(dynscope.snapshot(sys._getframe(1)))

    M.register_callback(tool, M.events.RAISE, on_raise)
    M.set_events(tool, M.events.RAISE)
    try:
        raises(ValueError, _raises_inside_bindings)
    finally:
        M.set_events(tool, 0)
        M.register_callback(tool, M.events.RAISE, None)
        M.free_tool_id(tool)
    assert _bindings(seen[0]) == [("inner", {"depth": "inner", "extra": 1}),
                                  ("_raises_inside_bindings", {"depth": "outer"})]
    assert dynscope.snapshot() == []


def test_live_count_and_scope_version():
    base, version = dynscope.live_count(), dynscope.scope_version()
    assert dynscope.scope_version() == version      # nothing changed
    with bind(a=1, b=2):
        assert dynscope.live_count() == base + 2
        inside = dynscope.scope_version()
        assert inside != version
        dynscope.assign("a", 3)                        # a value changed
        assert dynscope.scope_version() != inside
    assert dynscope.live_count() == base

    def gen():
        with bind(c=3):
            yield

    g = gen()
    next(g)
    # Suspended, invisible from here, and still live.
    assert dynscope.live_count() == base + 1 and dynscope.snapshot() == []
    g.close()
    assert dynscope.live_count() == base
    assert dynscope.Namespace().bind(x=1) is not None   # other namespaces do not count
    with dynscope.Namespace().bind(x=1):
        assert dynscope.live_count() == base
