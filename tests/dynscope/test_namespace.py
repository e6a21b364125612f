"""Namespace: isolation, attribute/item access, readonly and shadow."""
import pickle

import dynscope
from dynscope import Namespace

from preamble import UNBOUND, raises


def test_dynamic_is_the_default_namespace():
    assert isinstance(dynscope.dynamic, Namespace)
    with dynscope.bind(user="ada"):
        assert dynscope.dynamic.user == "ada"
        assert dynscope.dynamic["user"] == "ada"
    with dynscope.dynamic.bind(user="bob"):
        assert dynscope.get("user") == "bob"


def test_namespaces_never_see_each_other():
    a, b = Namespace(), Namespace()
    with a.bind(x="a"):
        assert b.get("x", UNBOUND) == UNBOUND
        assert dynscope.get("x", UNBOUND) == UNBOUND
        with b.bind(x="b"):
            assert (a.x, b.x) == ("a", "b")
    with dynscope.bind(x="default"):
        assert "x" not in a and "x" not in b

    def f():
        a.set_here("y", 1)
        return b.get("y", UNBOUND), dynscope.get("y", UNBOUND), a.y

    assert f() == (UNBOUND, UNBOUND, 1)


def test_attribute_and_item_access():
    ns = Namespace()
    raises(AttributeError, getattr, ns, "user")
    raises(KeyError, lambda: ns["user"])
    with ns.bind(user="ada"):
        assert ns.user == ns["user"] == "ada"
        assert "user" in ns and "nobody" not in ns
        assert hasattr(ns, "user") and not hasattr(ns, "nobody")
    assert "user" not in ns


def test_method_names_stay_methods_and_items_reach_them():
    ns = Namespace()
    with ns.bind(get="bound get"):
        assert callable(ns.get)
        assert ns["get"] == "bound get"
        assert ns.get("get") == "bound get"
    raises(AttributeError, setattr, ns, "bind", 1)


def test_assignment_changes_nearest_or_binds_in_the_caller():
    ns = Namespace()

    def inner():
        ns.level = "changed"      # nearest binding is the caller's
        ns.fresh = 1              # none: bound here, for this frame
        return ns.fresh

    def outer():
        ns.level = "outer"
        assert inner() == 1
        return ns.level, "fresh" in ns

    assert outer() == ("changed", False)
    assert "level" not in ns


def test_delete_removes_the_nearest_binding():
    ns = Namespace()
    with ns.bind(x=1):
        with ns.bind(x=2):
            del ns.x
            assert ns.x == 1
            del ns["x"]
            assert "x" not in ns
    raises(AttributeError, delattr, ns, "x")

    def d():
        del ns["x"]

    raises(KeyError, d)


def test_iteration_innermost_first_each_name_once():
    ns = Namespace()

    def inner():
        with ns.bind(b="inner", c=3):
            return list(ns), dict(ns), ns.items(), len(ns)

    with ns.bind(a=1, b="outer"):
        names, d, items, n = inner()
    assert names == ["b", "c", "a"]
    assert d == {"a": 1, "b": "inner", "c": 3}
    assert items == [("b", "inner"), ("c", 3), ("a", 1)]
    assert n == 3


def test_readonly_view():
    ns = Namespace(readonly=True)
    assert ns.readonly and not ns.shadow
    ns.value = 1

    def check():
        ns.inner_value = 2                      # own frame: allowed
        raises(AttributeError, setattr, ns, "value", 3)
        raises(KeyError, ns.__setitem__, "value", 3)
        raises(AttributeError, delattr, ns, "value")
        return ns.inner_value

    assert check() == 2
    assert ns.value == 1
    assert "inner_value" not in ns


def test_shadow_view():
    ns = Namespace(shadow=True)
    ns.value = 1

    def check():
        ns.value = 2

        def deeper():
            assert ns.value == 2
            ns.value = 3
            return ns.value

        assert deeper() == 3
        return ns.value

    assert check() == 2
    assert ns.value == 1


def test_readonly_and_shadow_exclude_each_other():
    raises(ValueError, lambda: Namespace(readonly=True, shadow=True))
    raises(TypeError, lambda: Namespace(1))


def test_views_share_bindings():
    ns = Namespace()
    ro = ns.view(readonly=True)
    assert ro.readonly
    ns.x = 1

    def f():
        assert ro.x == 1
        raises(AttributeError, setattr, ro, "x", 2)
        ns.x = 3

    f()
    assert ro.x == 3


def test_namespace_snapshot_and_not_pickleable():
    ns = Namespace()
    with ns.bind(a=1):
        snap = ns.snapshot()
    assert snap[0]["bindings"] == {"a": 1}
    raises(pickle.PickleError, pickle.dumps, ns)


def test_namespace_subclass():
    class Config(Namespace):
        def describe(self):
            return f"user={self.get('user', None)}"

    c = Config()
    with c.bind(user="ada"):
        assert c.describe() == "user=ada"
        assert c.user == "ada"


def test_a_namespace_can_be_weakly_referenced():
    import weakref

    ns = Namespace()
    r = weakref.ref(ns)
    assert r() is ns
    del ns
    assert r() is None
    w = dynscope.wrap(len)
    assert weakref.ref(w)() is w
