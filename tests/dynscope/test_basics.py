"""dynscope basics and scenarios S1, S2, S5, S6 of docs/dynamic-scope.md.

Plain test functions with plain asserts: the same file runs under pytest
natively and under the small collector in run_in_pyodide.mjs.
"""
import dynscope
from dynscope import bind, get

from preamble import UNBOUND, raises


def test_version_and_file():
    assert dynscope.__version__ == "0.1.0"
    assert dynscope.__file__.endswith("dynscope.abi3.so")


def test_get_unbound_raises_lookup_error():
    e = raises(LookupError, get, "nobody_binds_this")
    assert "nobody_binds_this" in str(e)
    assert get("nobody_binds_this", 42) == 42
    assert get("nobody_binds_this", None) is None


def test_s1_nesting_and_shadowing():
    out = []
    with bind(x=1):
        out.append(get("x"))
        with bind(x=2):
            out.append(get("x"))
        out.append(get("x"))
    out.append(get("x", UNBOUND))
    assert out == [1, 2, 1, UNBOUND]


def test_s1_several_names_in_one_bind():
    with bind(a=1, b=2):
        with bind(b=3):
            assert (get("a"), get("b")) == (1, 3)
        assert (get("a"), get("b")) == (1, 2)
    assert get("a", UNBOUND) == UNBOUND


def test_s2_call_site_not_definition_site():
    def callee():
        r = get("x")
        with bind(x="callee"):
            pass
        return r

    def make():
        with bind(x="def-site"):
            return lambda: get("x", UNBOUND)

    f = make()
    with bind(x="caller"):
        assert (callee(), get("x"), f()) == ("caller", "caller", "caller")
    assert f() == UNBOUND


def test_s5_exceptions_unwind_bindings():
    def boom():
        with bind(x="doomed"):
            raise ValueError(get("x"))

    with bind(x="handler"):
        try:
            boom()
        except ValueError as e:
            assert (e.args[0], get("x")) == ("doomed", "handler")
        else:
            raise AssertionError("no ValueError")
    assert get("x", UNBOUND) == UNBOUND


def test_s6_recursion():
    def rec(n):
        with bind(x=n):
            return [get("x")] + (rec(n - 1) if n else []) + [get("x")]

    assert rec(2) == [2, 1, 0, 0, 1, 2]


def test_bind_object_reentered():
    b = bind(x="b")
    with b:
        with bind(x="other"):
            with b:
                assert get("x") == "b"
            assert get("x") == "other"
        assert get("x") == "b"
    assert get("x", UNBOUND) == UNBOUND


def test_out_of_order_exit_removes_the_right_binding():
    a = bind(x="a")
    b = bind(x="b")
    a.__enter__()
    b.__enter__()
    assert get("x") == "b"
    a.__exit__(None, None, None)      # out of order
    assert get("x") == "b"
    b.__exit__(None, None, None)
    assert get("x", UNBOUND) == UNBOUND


def test_exit_without_enter_is_an_error():
    raises(RuntimeError, bind(x=1).__exit__, None, None, None)


def test_bind_takes_a_mapping_for_non_identifier_names():
    with bind({"not an identifier": 1, (1, "t"): 2}, y=3):
        assert get("not an identifier") == 1
        assert get((1, "t")) == 2
        assert get("y") == 3


def test_bind_of_a_non_mapping_is_a_type_error_that_says_what_is_expected():
    # Issue 13 §8: bind(1) used to be "'int' object has no attribute 'keys'".
    for bad in (1, "x=1", [("x", 1)], object()):
        e = raises(TypeError, bind, bad)
        assert "mapping or keyword arguments" in str(e), str(e)
        assert type(bad).__name__ in str(e)
    ns = dynscope.Namespace()
    e = raises(TypeError, ns.bind, 1)
    assert "mapping or keyword arguments" in str(e)
    with bind(None, x=1):
        assert get("x") == 1
    with bind(None):
        assert get("x", UNBOUND) == UNBOUND


def test_non_interned_name_is_found():
    name = "".join(["lo", "ng_name_", str(12345)])
    with bind(**{name: 1}):
        assert get("long_name_12345") == 1
        assert get(name) == 1
