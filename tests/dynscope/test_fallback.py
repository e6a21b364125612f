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
