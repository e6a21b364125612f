"""Scenarios S3, S4, S7, S10 and the model's other rules (docs/dynamic-scope.md)."""
import gc
import sys
import weakref

import dynscope
from dynscope import assign, bind, get, set_here, unbind

from preamble import UNBOUND, IN_PYODIDE, raises


def test_s3_generator_suspended_inside_its_binding():
    def gen():
        with bind(x="in-gen"):
            while True:
                yield get("x")

    g = gen()
    assert (next(g), get("x", UNBOUND)) == ("in-gen", UNBOUND)
    with bind(x="caller"):
        assert (next(g), get("x")) == ("in-gen", "caller")
    assert get("x", UNBOUND) == UNBOUND
    g.close()
    assert get("x", UNBOUND) == UNBOUND


def test_s4_generator_sees_its_current_resumer():
    def gen2():
        while True:
            yield get("x", UNBOUND)

    g2 = gen2()
    with bind(x="A"):
        a = next(g2)
    with bind(x="B"):
        b = next(g2)
    assert (a, b, next(g2)) == ("A", "B", UNBOUND)


def test_s4_delegation():
    def inner():
        yield get("x")

    def outer():
        with bind(x="outer-gen"):
            yield from inner()

    assert list(outer()) == ["outer-gen"]


def test_s4_send_and_throw_resumers():
    def gen():
        seen = []
        try:
            while True:
                yield
                seen.append(get("x", UNBOUND))
        except ValueError:
            seen.append(("thrown", get("x", UNBOUND)))
        yield seen

    g = gen()
    next(g)
    with bind(x="sent"):
        g.send(None)
    with bind(x="throw"):
        seen = g.throw(ValueError)
    assert seen == ["sent", ("thrown", "throw")]


def test_s7_assign_changes_the_nearest_binding_for_its_extent():
    def mutate():
        assign("x", "mutated")

    with bind(x="outer"):
        with bind(x="inner"):
            mutate()
            assert get("x") == "mutated"
        assert get("x") == "outer"


def test_assign_without_binding_is_a_clear_lookup_error():
    e = raises(LookupError, assign, "never_bound", 1)
    assert "never_bound" in str(e) and "bind" in str(e)


def test_assign_to_a_set_here_binding():
    def f():
        set_here("y", 1)
        g()
        return get("y")

    def g():
        assign("y", 2)

    assert f() == 2


def test_rebinding_one_bind_object_does_not_share_assignments():
    b = bind(x=0)
    with b:
        assign("x", 1)
        with b:
            assert get("x") == 0
        assert get("x") == 1


class V:
    pass


def test_s10_frame_death_frees_set_here_values_at_once():
    def binder():
        v = V()
        w = weakref.ref(v)
        set_here("x", v)
        del v
        return w

    was = gc.isenabled()
    gc.disable()
    try:
        assert binder()() is None
    finally:
        if was:
            gc.enable()
    assert get("x", UNBOUND) == UNBOUND


def test_s10_generator_binding_lives_until_close():
    def gb():
        v = V()
        w = weakref.ref(v)
        with bind(x=v):
            del v
            yield w

    gg = gb()
    w2 = next(gg)
    assert w2() is not None
    gg.close()
    assert w2() is None


def test_abandoned_generator_releases_its_binding():
    def gb():
        v = V()
        w = weakref.ref(v)
        with bind(x=v):
            del v
            yield w

    gg = gb()
    w = next(gg)
    del gg
    assert w() is None
    assert not dynscope.bound("x")


def test_set_here_is_visible_to_callees_until_return():
    def callee():
        return get("z", UNBOUND)

    def f():
        assert callee() == UNBOUND
        set_here("z", 1)
        assert callee() == 1
        set_here("z", 2)
        return callee()

    assert f() == 2
    assert get("z", UNBOUND) == UNBOUND


def test_with_block_of_the_same_frame_shadows_set_here():
    def f():
        set_here("x", "here")
        with bind(x="with"):
            inside = get("x")
        return inside, get("x")

    assert f() == ("with", "here")


def test_unbind_removes_the_nearest_binding():
    with bind(x="outer"):
        with bind(x="inner"):
            unbind("x")
            assert get("x") == "outer"
        assert get("x") == "outer"
    raises(LookupError, unbind, "x")

    def f():
        set_here("x", 1)
        unbind("x")
        return get("x", UNBOUND)

    assert f() == UNBOUND
    assert not dynscope.bound("x")


def test_bound_is_true_only_inside_a_binding_even_of_none():
    assert not dynscope.bound("x")
    with bind(x=None):
        assert dynscope.bound("x")
        assert get("x", UNBOUND) is None


def test_module_level_binding_leaves_no_key():
    g = {"__name__": "scratch"}
    exec(
        "import dynscope\n"
        "dynscope.set_here('m', 1)\n"
        "with dynscope.bind(n=2):\n"
        "    seen = (dynscope.get('m'), dynscope.get('n'))\n",
        g,
    )
    assert g["seen"] == (1, 2)
    assert sorted(k for k in g if k != "__builtins__") == ["__name__", "dynscope", "seen"]
    assert sorted(globals()) == sorted(k for k in globals())  # no odd keys here
    assert not any(not isinstance(k, str) for k in globals())


def test_class_body_binding_leaves_no_key():
    class C:
        set_here("c", 1)
        with bind(d=2):
            seen = (get("c"), get("d"))

    assert C.seen == (1, 2)
    assert [k for k in vars(C) if not k.startswith("__")] == ["seen"]
    assert all(isinstance(k, str) for k in vars(C))


def _add(a, b):
    return a + b


def test_locals_stay_clean_and_splattable():
    def f(a, b=2):
        set_here("hidden", 1)
        with bind(also_hidden=2):
            return dict(locals())

    loc = f(1)
    assert loc == {"a": 1, "b": 2}

    def h(a, b=2):
        set_here("x", 1)
        return _add(**locals())

    assert h(1) == 3


def test_retained_traceback_keeps_binding_alive_but_invisible():
    def fails():
        v = V()
        set_here("t", v)
        with bind(u=v):
            raise KeyError("boom")

    try:
        fails()
    except KeyError as e:
        tb = e.__traceback__
    w = weakref.ref(tb.tb_next.tb_frame.f_locals["v"])
    assert w() is not None
    assert get("t", UNBOUND) == UNBOUND
    assert get("u", UNBOUND) == UNBOUND

    def other():
        return get("t", UNBOUND), get("u", UNBOUND)

    assert other() == (UNBOUND, UNBOUND)
    del tb
    gc.collect()
    assert w() is None


def test_deep_recursion_lookup():
    depth = 5000 if not IN_PYODIDE else 300
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, depth + 1000))
    try:
        def down(n):
            return get("deep") if n == 0 else down(n - 1)

        with bind(deep="top"):
            assert down(depth) == "top"
        assert raises(LookupError, down, depth)
    finally:
        sys.setrecursionlimit(old)


def test_miss_with_a_binding_only_in_a_suspended_generator():
    def gen():
        with bind(only_in_gen=1):
            yield

    g = gen()
    next(g)

    def f():
        return get("only_in_gen", UNBOUND)

    assert f() == UNBOUND
    g.close()


def test_snapshot_innermost_first():
    def inner():
        set_here("who", "inner")
        return dynscope.snapshot()

    def outer():
        with bind(who="outer", level=1):
            return inner()

    snap = outer()
    assert [s["function"] for s in snap] == ["inner", "outer"]
    assert snap[0]["bindings"] == {"who": "inner"}
    assert snap[1]["bindings"] == {"who": "outer", "level": 1}
    assert all(s["file"] == __file__ for s in snap)
    assert all(isinstance(s["line"], int) and s["line"] > 0 for s in snap)
    assert dynscope.snapshot() == []


def test_snapshot_within_one_frame_innermost_layer_wins():
    with bind(a=1, b=1):
        with bind(b=2):
            snap = dynscope.snapshot()
    assert snap[0]["bindings"] == {"a": 1, "b": 2}


def test_exception_inside_nested_binds_unwinds_all():
    def f():
        with bind(p=1):
            with bind(q=2):
                raise RuntimeError

    raises(RuntimeError, f)
    assert not dynscope.bound("p") and not dynscope.bound("q")


def test_tracing_still_works_with_set_here():
    if IN_PYODIDE:
        return  # no tracer-based tooling in the sandbox
    events = []

    def tracer(frame, event, arg):
        if frame.f_code.co_name == "traced":
            events.append(event)
            return local
        return None

    def local(frame, event, arg):
        events.append(event)
        return local

    def traced():
        set_here("tr", 1)
        a = get("tr")
        return a + 1

    sys.settrace(tracer)
    try:
        assert traced() == 2
    finally:
        sys.settrace(None)
    assert events[0] == "call" and events[-1] == "return"
    assert events.count("line") >= 3


def test_set_here_in_a_generator_follows_the_generator():
    def gen():
        set_here("g", "gen's")
        while True:
            yield get("g", UNBOUND)

    def outside():
        return get("g", UNBOUND)

    it = gen()
    assert next(it) == "gen's"
    assert outside() == UNBOUND          # suspended: not on the stack
    with bind(g="caller"):
        assert next(it) == "gen's"       # the generator's own binding is nearer
    it.close()
    del it
    assert not dynscope.bound("g")


def test_generator_cycle_abandoned_inside_a_binding_is_collected():
    class Box:
        pass

    def gen(box):
        with bind(cyc=box):
            yield

    box = Box()
    box.it = gen(box)          # box -> generator -> frame -> bind -> box
    next(box.it)
    w = weakref.ref(box)
    del box
    gc.collect()
    assert w() is None
    assert not dynscope.bound("cyc")


def test_values_whose_del_uses_dynscope():
    seen = []

    class Noisy:
        def __del__(self):
            seen.append(dynscope.get("x", UNBOUND))
            with bind(x="from __del__"):
                seen.append(get("x"))

    with bind(x=Noisy()):
        pass
    assert seen == [UNBOUND, "from __del__"]

    def f():
        set_here("x", Noisy())

    f()
    assert seen[2:] == [UNBOUND, "from __del__"]


def test_threads_see_their_own_bindings():
    if IN_PYODIDE:
        return
    import threading

    errors = []
    barrier = threading.Barrier(4)

    def worker(i):
        try:
            with bind(who=i):
                barrier.wait()
                for _ in range(2000):
                    assert get("who") == i
                    with bind(who=(i, "inner")):
                        assert get("who") == (i, "inner")
        except BaseException as e:       # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert not dynscope.bound("who")
