"""S3 when a context manager resumes a generator (issue 13 §2).

Only contextlib's own generator-based context managers (@contextmanager,
@asynccontextmanager) hand the binding their generator makes to the
with-statement; any other __enter__/__aenter__/__exit__ that pulls from an
iterator is an ordinary resumer, and the iterator keeps its binding (S3)."""
import asyncio
import contextlib

import dynscope
from dynscope import bind, get

from preamble import UNBOUND, run_async


def here():
    return get("x", UNBOUND)


def gen_in_binding():
    with bind(x="gen"):
        while True:
            yield get("x")


class Opener:
    def __init__(self, gen):
        self.gen = gen

    def __enter__(self):
        return next(self.gen)

    def __exit__(self, *exc):
        pass


def test_issue_case_plain_enter_resuming_a_generator():
    def main(gen):
        with Opener(gen) as v:
            inside = get("x", UNBOUND)
        return v, inside, get("x", UNBOUND)

    gen = gen_in_binding()
    assert (main(gen), next(gen)) == (("gen", UNBOUND, UNBOUND), "gen")
    assert here() == UNBOUND
    gen.close()


def test_plain_enter_generator_sees_its_resumer_not_the_reverse():
    gen = gen_in_binding()
    with bind(x="caller"):
        with Opener(gen) as v:
            assert (v, here()) == ("gen", "caller")
        assert here() == "caller"
    assert here() == UNBOUND
    gen.close()


def test_exit_stack_enter_context_of_a_plain_opener():
    gen = gen_in_binding()
    with contextlib.ExitStack() as stack:
        v = stack.enter_context(Opener(gen))
        assert (v, here()) == ("gen", UNBOUND)
    assert (here(), next(gen)) == (UNBOUND, "gen")
    gen.close()


def test_generator_resumed_from_exit_keeps_its_binding():
    def stepper():
        yield "start"
        with bind(x="gen"):
            while True:
                yield get("x")

    class Closer:
        def __init__(self, gen):
            self.gen = gen

        def __enter__(self):
            return next(self.gen)

        def __exit__(self, *exc):
            self.seen = next(self.gen)

    gen = stepper()
    closer = Closer(gen)
    with closer as v:
        inside = here()
    assert (v, inside, closer.seen, here(), next(gen)) == ("start", UNBOUND, "gen", UNBOUND, "gen")
    gen.close()


def test_contextmanager_still_binds_for_the_with_body():
    @contextlib.contextmanager
    def as_x(value):
        with bind(x=value):
            yield get("x")

    with as_x("cm") as v:
        assert (v, here()) == ("cm", "cm")
    assert here() == UNBOUND
    with contextlib.ExitStack() as stack:
        stack.enter_context(as_x("stacked"))
        assert here() == "stacked"
    assert here() == UNBOUND


def test_contextmanager_pulling_from_another_generator():
    # The context manager's own generator is contextlib's; the iterator it
    # pulls from in its setup is an ordinary one and keeps its binding.
    @contextlib.contextmanager
    def first_of(gen):
        yield next(gen)

    gen = gen_in_binding()
    with first_of(gen) as v:
        assert (v, here()) == ("gen", UNBOUND)
    assert here() == UNBOUND
    gen.close()


def test_class_enter_delegating_to_a_contextmanager():
    @contextlib.contextmanager
    def as_x(value):
        with bind(x=value):
            yield

    class Outer:
        def __enter__(self):
            self.cm = as_x("via class")
            return self.cm.__enter__()

        def __exit__(self, *exc):
            return self.cm.__exit__(*exc)

    with Outer():
        assert here() == "via class"
    assert here() == UNBOUND


async def agen_in_binding():
    with bind(x="agen"):
        while True:
            yield get("x")


class AsyncOpener:
    def __init__(self, agen):
        self.agen = agen

    async def __aenter__(self):
        return await anext(self.agen)

    async def __aexit__(self, *exc):
        pass


def test_plain_aenter_resuming_an_async_generator():
    async def main():
        agen = agen_in_binding()
        async with AsyncOpener(agen) as v:
            inside = here()
        after = here()
        nxt = await anext(agen)
        await agen.aclose()
        return v, inside, after, nxt

    async def check():
        assert await main() == ("agen", UNBOUND, UNBOUND, "agen")

    return run_async(check())


def test_async_exit_stack_of_a_plain_async_opener():
    async def check():
        agen = agen_in_binding()
        async with contextlib.AsyncExitStack() as stack:
            v = await stack.enter_async_context(AsyncOpener(agen))
            assert (v, here()) == ("agen", UNBOUND)
        assert here() == UNBOUND
        await agen.aclose()

    return run_async(check())


def test_asynccontextmanager_still_binds_for_the_with_body():
    @contextlib.asynccontextmanager
    async def as_x(value):
        with bind(x=value):
            yield get("x")

    async def check():
        async with as_x("acm") as v:
            await asyncio.sleep(0)
            assert (v, here()) == ("acm", "acm")
        assert here() == UNBOUND
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(as_x("astacked"))
            assert here() == "astacked"
        assert here() == UNBOUND

    return run_async(check())


def test_nothing_left_bound():
    assert not dynscope.bound("x")
