"""dynscope.compat.dysco: Dysco's API and behaviour (its test suite's cases,
rewritten here as plain tests), with its known bugs fixed."""
import pickle
import sys

import dynscope
import dynscope.compat.dysco
from dynscope.compat.dysco import Dysco, g

from preamble import raises, run_async


def test_the_compat_module_imports_as_dysco_did():
    assert dynscope.compat.dysco.g is g
    assert dynscope.compat.dysco.Dysco is Dysco
    assert sys.modules["dynscope.compat.dysco"] is dynscope.compat.dysco
    assert dynscope.__file__.endswith(".abi3.so")
    from dynscope.compat import dysco
    assert dysco.__all__ == ["Dysco", "g"]


def test_g_is_a_view_of_dynscope_dynamic():
    g.value = 1
    assert dynscope.get("value") == 1
    with dynscope.bind(value=2):
        assert g.value == 2


def test_contains_and_hasattr():
    assert "hi" not in g
    assert not hasattr(g, "hi")
    g["hi"] = True
    assert "hi" in g and hasattr(g, "hi")


def test_delete_attributes_and_items():
    g.something = 1
    delattr(g, "something")
    assert not hasattr(g, "something")
    g["something"] = 1
    del g["something"]
    assert "something" not in g
    raises(AttributeError, delattr, g, "something")


def test_delete_in_readonly_mode():
    d = Dysco(readonly=True)
    d["something"] = 1
    del d["something"]
    assert "something" not in d
    d["something"] = 1

    def delete_in_inner_scope():
        del d["something"]

    raises(KeyError, delete_in_inner_scope)
    assert "something" in d


def test_item_and_attribute_interoperate_and_tuple_keys():
    g.hello = 1
    assert g["hello"] == 1
    g["hello"] = 2
    assert g.hello == 2
    g[(1, "hi")] = True
    assert g[(1, "hi")] is True


def test_scope_isolation_and_assignment_through_frames():
    g.first = 1
    g.second = 2

    def test_first():
        g.first *= -1
        g.third = 3

    def test_second():
        g.second *= -1
        raises(AttributeError, getattr, g, "third")

    test_first()
    assert g.first == -1 and g.second == 2
    raises(AttributeError, getattr, g, "third")
    test_second()
    assert (g.first, g.second) == (-1, -2)
    test_first()
    test_second()
    assert (g.first, g.second) == (1, 2)


def test_scope_in_loops():
    g.hello = -1
    for i in range(20):
        assert g.hello == i - 1
        g.hello = i


def test_readonly_option():
    d = Dysco(readonly=True)
    d.value = 1

    def check():
        d.inner_value = 2
        raises(AttributeError, setattr, d, "value", 3)

    check()
    assert d.value == 1
    assert "inner_value" not in d


def test_shadow_option():
    raises(ValueError, lambda: Dysco(readonly=True, shadow=True))
    d = Dysco(shadow=True)
    d.value = 1

    def check():
        d.value = 2

        def inner():
            assert d.value == 2
            d.value = 3

        inner()
        assert d.value == 2

    check()
    assert d.value == 1


def test_variant_keeps_shadow_fixed_bug():
    d = Dysco()
    s = d(shadow=True)
    d.value = 1

    def check():
        s.value = 2            # Dysco's variant lost shadow and assigned outward
        return s.value

    assert check() == 2
    assert d.value == 1


def test_variant_shares_bindings():
    g.value = 1
    readonly_g = g(readonly=True)

    def check():
        assert readonly_g.value == 1
        g.value = 2
        assert readonly_g.value == 2
        raises(AttributeError, setattr, readonly_g, "value", 3)
        g.writeable_value = 4
        readonly_g.readonly_value = 5

    check()
    assert g.value == 2 and readonly_g.value == 2
    for name in ("writeable_value", "readonly_value"):
        assert name not in g and name not in readonly_g


def test_g_as_a_decorator_gives_the_call_a_readonly_view():
    g.value = 1

    @g(readonly=True)
    def check_access(d, arg, kwarg):
        assert (arg, kwarg) == ("arg", "kwarg")
        d.inner_value = 2
        raises(AttributeError, setattr, d, "value", 3)
        return d.inner_value

    assert check_access(arg="arg", kwarg="kwarg") == 2
    assert check_access.__name__ == "check_access"
    assert g.value == 1
    assert "inner_value" not in g


def test_async_functions_see_the_callers_bindings():
    async def main():
        g.value = 1

        async def inner():
            assert g.value == 1
            g.value = 2
            g.inner_value = 3

        await inner()
        raises(AttributeError, getattr, g, "inner_value")
        assert g.value == 2

    return run_async(main())


def test_dict_conversion_innermost_first_and_shadowing_fixed():
    g.set_in_outer = 1
    g.shadowed = "outer"

    def inner():
        g.set_in_inner = 2
        with dynscope.bind(shadowed="inner"):
            d = dict(g)
        assert list(d)[0] == "shadowed"
        return d

    d = inner()
    assert d["shadowed"] == "inner"            # Dysco gave "outer"
    assert d["set_in_inner"] == 2 and d["set_in_outer"] == 1


def test_no_hidden_keys_in_locals_and_globals_fixed():
    before = set(globals())

    def f(a):
        g.here = 1
        return dict(locals())

    assert f(1) == {"a": 1}
    g.module_level = 1
    assert set(globals()) <= before | {"before"}
    assert all(isinstance(k, str) for k in globals())


def test_keyword_only_and_pickling():
    raises(TypeError, lambda: Dysco(True))
    raises(TypeError, lambda: g(lambda: None, True))
    raises(pickle.PickleError, pickle.dumps, g)


def test_stacklevel_option():
    d = Dysco(stacklevel=2)

    def set_(key, value):
        d[key] = value

    def nested_set(key, value):
        set_(key, value)

    def get_(key):
        return d[key]

    set_("a", 1)
    assert get_("a") == 1
    nested_set("b", 1)
    raises(KeyError, get_, "b")
