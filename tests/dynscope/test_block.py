"""block(): a function body run in its caller's scope (seed 001).

3.13+ (PEP 667) writes through to the caller's function locals; 3.11/3.12
cannot, and block() says so instead of dropping the assignment."""
import sys

import dynscope
from dynscope import block

WRITE_THROUGH = sys.version_info >= (3, 13)


def raises(exc, fn, *args):
    try:
        fn(*args)
    except exc as e:
        return e
    raise AssertionError(f"{fn!r} did not raise {exc.__name__}")


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
