"""FallbackBuiltins: free names of a snippet fall back to the dynamic scope."""
import builtins

import dynscope
from dynscope import FallbackBuiltins


def snippet_globals():
    return {"__name__": "__main__", "__builtins__": FallbackBuiltins(builtins.__dict__)}


def test_is_a_dict_copy_of_builtins():
    fb = FallbackBuiltins(builtins.__dict__)
    assert isinstance(fb, dict)
    assert fb["len"] is len
    assert len(fb) == len(builtins.__dict__)
    fb["extra"] = 1
    assert "extra" not in builtins.__dict__


def test_free_name_resolves_through_dynamic_scope():
    g = snippet_globals()
    exec(
        "import dynscope\n"
        "def log(m):\n"
        "    return indent + m\n"
        "with dynscope.bind(indent='  '):\n"
        "    out = log('x')\n",
        g,
    )
    assert g["out"] == "  x"


def test_unbound_free_name_is_a_name_error():
    g = snippet_globals()
    exec("def f():\n    return nowhere_bound\n", g)
    try:
        exec("f()", g)
    except NameError as e:
        assert "nowhere_bound" in str(e)
    else:
        raise AssertionError("no NameError")


def test_binding_from_outside_the_snippet_and_module_level_names():
    g = snippet_globals()
    with dynscope.bind(user="ada", print="dynamic print"):
        exec("who = user\nlength = len('abc')\np = print\n", g)
    assert (g["who"], g["length"], g["p"]) == ("ada", 3, "dynamic print")


def test_globals_win_over_dynamic_scope():
    g = snippet_globals()
    g["user"] = "global"
    with dynscope.bind(user="dynamic"):
        exec("def f():\n    return user\nr = f()\n", g)
    assert g["r"] == "global"


def test_other_namespaces_do_not_reach_builtins():
    g = snippet_globals()
    ns = dynscope.Namespace()
    with ns.bind(secret=1):
        try:
            exec("secret", g)
        except NameError:
            pass
        else:
            raise AssertionError("a non-default namespace leaked into builtins")


def test_generator_in_snippet_sees_its_resumer():
    g = snippet_globals()
    exec("def gen():\n    while True:\n        yield level\n", g)
    it = g["gen"]()
    with dynscope.bind(level=1):
        assert next(it) == 1
    with dynscope.bind(level=2):
        assert next(it) == 2


# ---- the fast path (issue 16): an exact dict while nothing is bound --------
# While dynscope.dynamic has no live binding the fallback cannot change a
# lookup's result, so the object is an exact dict (CPython then specialises
# builtin loads); the moment anything is bound it is a FallbackBuiltins again.


def test_exact_dict_while_nothing_is_bound_fallback_once_something_is():
    g = snippet_globals()
    fb = g["__builtins__"]
    exec("n = len('abc')\n", g)
    assert g["n"] == 3
    assert type(fb) is dict               # nothing bound: the fast path
    with dynscope.bind(anything=1):
        assert type(fb) is FallbackBuiltins
        exec("seen = anything\n", g)
    assert g["seen"] == 1
    exec("n = len('ab')\n", g)
    assert type(fb) is dict


def test_specialised_builtin_loads_see_a_later_dynamic_binding():
    g = snippet_globals()
    exec("def f():\n    return len('abc')\n"
         "def h():\n    return indent\n", g)
    f, h = g["f"], g["h"]
    for _ in range(2000):                 # warm: LOAD_GLOBAL specialises
        assert f() == 3
    assert type(g["__builtins__"]) is dict
    try:
        h()
    except NameError:
        pass
    else:
        raise AssertionError("indent resolved with nothing bound")
    with dynscope.bind(len=lambda s: "dynamic len", indent="  "):
        assert (f(), h()) == ("dynamic len", "  ")
        for _ in range(2000):
            assert f() == "dynamic len"
    for _ in range(2000):
        assert f() == 3
    with dynscope.bind(len=lambda s: "again"):
        assert f() == "again"


def test_module_level_loads_see_a_later_dynamic_binding():
    g = snippet_globals()
    code = compile("out = [len('abc') for _ in range(3)][0]\nname = print\n", "<m>", "exec")
    for _ in range(200):
        exec(code, g)
    assert (g["out"], g["name"]) == (3, print)
    with dynscope.bind(len=lambda s: 0, print="dynamic print"):
        exec(code, g)
    assert (g["out"], g["name"]) == (0, "dynamic print")


def test_a_suspended_generators_binding_keeps_the_fallback_on():
    g = snippet_globals()
    exec("def gen():\n    with dynscope.bind(level='gen'):\n        yield level\n"
         "def read():\n    return level\n", g)
    g["dynscope"] = dynscope
    it = g["gen"]()
    assert next(it) == "gen"
    assert type(g["__builtins__"]) is FallbackBuiltins
    try:
        g["read"]()                       # the generator's binding is not visible
    except NameError:
        pass
    else:
        raise AssertionError("a suspended generator's binding leaked")
    it.close()


def test_subclass_instances_keep_their_type():
    class Sub(FallbackBuiltins):
        pass

    g = {"__builtins__": Sub(builtins.__dict__)}
    exec("n = len('ab')\n", g)
    assert type(g["__builtins__"]) is Sub and g["n"] == 2


def test_dropped_instances_are_freed():
    import gc
    import weakref

    class Marker:
        pass

    m = Marker()
    w = weakref.ref(m)
    fb = FallbackBuiltins(builtins.__dict__)
    fb["marker"] = m
    exec("len('x')\n", {"__builtins__": fb})   # now an exact dict
    del fb, m
    for _ in range(200):                       # new instances sweep the old ones
        FallbackBuiltins({})
    gc.collect()
    assert w() is None
