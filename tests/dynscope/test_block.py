"""block(): a function body run in its caller's scope (seed 001).

3.13+ (PEP 667) writes through to the caller's function locals; 3.11/3.12
cannot, and block() says so instead of dropping the assignment."""
import sys

import dynscope
from dynscope import block

from preamble import raises

WRITE_THROUGH = sys.version_info >= (3, 13)


@block
def bump():
    count += 1  # noqa: F821 - resolved in the caller's scope


@block
def read_pair():
    pair = (a, b)  # noqa: F821


@block
def make_name():
    made_here = "new"


def test_block_reads_caller_locals():
    def caller():
        a, b = 1, 2
        read_pair()
        return dict(locals()).get("pair")

    got = caller()
    if WRITE_THROUGH:
        assert got == (1, 2)
    else:
        # The new name lives in the frame's f_locals snapshot dict.
        assert got == (1, 2)


def test_block_assigns_caller_function_locals_on_313_plus():
    def caller():
        count = 0
        bump()
        bump()
        return count

    if WRITE_THROUGH:
        assert caller() == 2
    else:
        e = raises(RuntimeError, caller)
        assert "count" in str(e) and "3.13" in str(e)


def test_block_new_names_in_a_function_frame():
    def caller():
        make_name()
        return locals().get("made_here")

    assert caller() == "new"


def test_block_at_module_level_and_class_body_on_every_version():
    g = {"bump": bump, "count": 10}
    exec("bump()\nbump()\n", g)
    assert g["count"] == 12

    class C:
        count = 1
        bump()

    assert C.count == 2


def test_block_sees_dynamic_scope_of_its_caller():
    @block
    def who():
        seen = dynscope.get("user")

    g = {"who": who, "dynscope": dynscope}
    with dynscope.bind(user="ada"):
        exec("who()", g)
    assert g["seen"] == "ada"


def test_block_rejects_arguments_and_return():
    def takes(x):
        pass

    raises(TypeError, lambda: block(takes)())

    @block
    def returns():
        return 1

    raises(SyntaxError, returns)

    @block
    def nested_return_is_fine():
        def inner():
            return 1

        got = inner()

    @block
    def yields():
        yield 1

    def caller():
        nested_return_is_fine()
        raises(SyntaxError, yields)
        return locals()["got"]

    assert caller() == 1
    raises(SyntaxError, yields)
    raises(TypeError, lambda: bump(1))


def test_block_keeps_function_metadata():
    assert bump.__name__ == "bump"
    assert bump.__wrapped__.__code__.co_name == "bump"


def test_block_error_points_at_the_source_line():
    @block
    def fails():
        raise ValueError("in block")

    try:
        fails()
    except ValueError as e:
        tb = e.__traceback__
        while tb.tb_next:
            tb = tb.tb_next
        assert tb.tb_frame.f_code.co_filename == __file__
        assert "raise ValueError" in open(__file__).read().splitlines()[tb.tb_lineno - 1]
    else:
        raise AssertionError("no ValueError")


# ---- nested scopes of a block's body (issue 13 §6) -------------------------
# Names in generator expressions, comprehensions, nested functions and
# classes of the body resolve as if the body were written in the caller:
# the caller's locals, then its globals and builtins.

MODULE_LEVEL = "module global"


@block
def weigh():
    total = sum(x * k for x in xs)  # noqa: F821
    squares = [x * k for x in xs]  # noqa: F821
    table = {x: k for x in xs}  # noqa: F821
    kinds = {type(x).__name__ for x in xs}  # noqa: F821


def test_block_generator_expression_and_comprehensions_see_caller_locals():
    def caller():
        k, xs = 10, [1, 2]
        weigh()
        seen = locals()
        return seen["total"], seen["squares"], seen["table"], seen["kinds"]

    assert caller() == (30, [10, 20], {1: 10, 2: 10}, {"int"})


@block
def nested_function_and_class():
    def scale(v):
        return v * k  # noqa: F821

    class Holder:
        value = k + 1  # noqa: F821

        def method(self):
            return k  # noqa: F821

    result = (scale(2), Holder.value, Holder().method(), len(MODULE_LEVEL), MODULE_LEVEL[:6])


def test_block_nested_function_and_class_see_caller_locals_then_globals():
    def caller():
        k = 7
        nested_function_and_class()
        return locals()["result"]

    assert caller() == (14, 8, 7, len(MODULE_LEVEL), "module")


def test_block_name_not_local_in_this_caller_is_its_global():
    # The same block from a caller that has no local `k`: k is then the
    # caller's global, in the body and in its nested scopes alike.
    @block
    def read_k():
        got = (k, [k for _ in "a"], (lambda: k)())  # noqa: F821

    def with_local():
        k = "local"
        read_k()
        return locals()["got"]

    def without_local():
        read_k()
        return locals()["got"]

    globals()["k"] = "global"
    try:
        assert with_local() == ("local", ["local"], "local")
        assert without_local() == ("global", ["global"], "global")
        assert with_local() == ("local", ["local"], "local")
    finally:
        del globals()["k"]


@block
def bump_from_nested():
    # `nonlocal` needs the name bound in the body for the def to compile at
    # all; `count = count` binds it to the caller's value.
    count = count  # noqa: F821

    def inc():
        nonlocal count
        count += 1

    inc()
    inc()


def test_block_nested_nonlocal_writes_through_on_313_plus():
    def caller():
        count = 0
        bump_from_nested()
        return count

    if WRITE_THROUGH:
        assert caller() == 2
    else:
        e = raises(RuntimeError, caller)
        assert "count" in str(e) and "3.13" in str(e)


def test_block_closure_kept_after_the_block_reads_the_block_time_value():
    @block
    def make_getter():
        getter = lambda: k  # noqa: E731,F821

    def caller():
        k = "at block"
        make_getter()
        return locals()["getter"]()

    assert caller() == "at block"


def test_block_assignments_before_an_exception_are_kept():
    @block
    def half_done():
        count = 1
        raise KeyError("half")

    def caller():
        count = 0
        try:
            half_done()
        except KeyError:
            pass
        return count

    # 3.11/3.12 cannot write the caller's variable; the body's own
    # exception is the one that propagates, not the write-back's.
    assert caller() == (1 if WRITE_THROUGH else 0)


def test_block_global_statement_assigns_the_callers_module_global():
    @block
    def set_global():
        global MODULE_LEVEL
        MODULE_LEVEL = "changed"

    def caller():
        set_global()

    try:
        caller()
        assert MODULE_LEVEL == "changed"
    finally:
        globals()["MODULE_LEVEL"] = "module global"


def test_block_nested_scopes_at_module_level():
    g = {"weigh": weigh, "k": 3, "xs": [1, 2]}
    exec("weigh()\n", g)
    assert (g["total"], g["squares"]) == (9, [3, 6])


def test_block_of_a_lambda_is_a_type_error_that_says_so():
    e = raises(TypeError, block, lambda: 1)
    assert "lambda" in str(e) and "def" in str(e)

    def make():
        return block(lambda: count + 1)  # noqa: F821 - the issue's case

    e = raises(TypeError, make)
    assert "lambda" in str(e)


def test_block_of_an_async_function_is_a_type_error():
    async def coro():
        pass

    e = raises(TypeError, block, coro)
    assert "async" in str(e)


def test_block_frame_is_named_after_the_function():
    @block
    def named():
        where = __import__("sys")._getframe().f_code.co_name

    def caller():
        named()
        return locals()["where"]

    assert caller() == "named"


def test_block_del_of_a_caller_local_is_refused_on_every_version():
    @block
    def delete_it():
        del count  # noqa: F821

    def caller():
        count = 0
        delete_it()
        return count

    # 3.13+: the f_locals proxy cannot remove variables; before: a snapshot.
    e = raises(RuntimeError, caller)
    assert "count" in str(e) and "delete" in str(e)


def test_block_in_a_generator_caller():
    @block
    def scaled():
        got = [k * i for i in range(3)]  # noqa: F821

    def gen():
        k = 5
        scaled()
        yield locals()["got"]

    assert next(gen()) == [0, 5, 10]


@block
def total():
    total = a + 1  # noqa: F821 - the block's name is also a name it assigns


def test_block_named_like_a_name_it_assigns():
    def caller():
        a = 1
        total()
        return locals()["total"]

    assert caller() == 2
