"""Bindings entered through helpers belong to the with-statement's frame:
a class's __enter__, ExitStack.enter_context, @contextmanager and
@asynccontextmanager (owner.c).  Other generators keep S3."""
import asyncio
import contextlib

import dynscope
from dynscope import bind, capture, get

from preamble import UNBOUND, run_async


@contextlib.contextmanager
def as_user(name):
    with bind(user=name):
        yield name


class Session:
    def __init__(self, user):
        self.user = user

    def __enter__(self):
        self._binding = bind(user=self.user)
        self._binding.__enter__()
        return self

    def __exit__(self, *exc):
        return self._binding.__exit__(*exc)


def callee():
    return get("user", UNBOUND)


def test_contextmanager_generator():
    with as_user("ada") as who:
        assert who == "ada"
        assert (get("user"), callee()) == ("ada", "ada")
        with as_user("bob"):
            assert callee() == "bob"
        assert callee() == "ada"
    assert callee() == UNBOUND


def test_contextmanager_unwinds_on_exception():
    try:
        with as_user("ada"):
            raise KeyError
    except KeyError:
        pass
    assert callee() == UNBOUND


def test_class_enter_delegating_to_bind():
    with Session("cls"):
        assert callee() == "cls"
    assert callee() == UNBOUND


def test_exit_stack():
    with contextlib.ExitStack() as stack:
        stack.enter_context(bind(user="stack"))
        assert callee() == "stack"
        stack.enter_context(as_user("nested"))
        assert callee() == "nested"
    assert callee() == UNBOUND


def test_capture_entered_through_exit_stack():
    with bind(user="captured"):
        c = capture()
    with contextlib.ExitStack() as stack:
        stack.enter_context(c)
        assert callee() == "captured"
    assert callee() == UNBOUND


@contextlib.asynccontextmanager
async def as_user_async(name):
    with bind(user=name):
        yield


def test_asynccontextmanager():
    async def main():
        async with as_user_async("async"):
            await asyncio.sleep(0)
            assert callee() == "async"
        assert callee() == UNBOUND

    return run_async(main())


def test_plain_generator_still_keeps_its_binding():
    def gen():
        with bind(user="gen"):
            yield get("user")

    g = gen()
    assert next(g) == "gen"
    assert callee() == UNBOUND
    g.close()
