"""install_task_conveyance(loop): tasks see the bindings visible where they
were created, captured then (Clojure's conveyance to futures), and a
task's own bindings never leak (S3 for tasks).  Issue 13 §1."""
import asyncio
import contextlib

import dynscope
from dynscope import bind, get

from preamble import UNBOUND, IN_PYODIDE, run_async


@contextlib.asynccontextmanager
async def conveying():
    """Installed on the running loop for one test, then undone (inside
    Pyodide every test shares one loop)."""
    loop = asyncio.get_running_loop()
    factory = loop.get_task_factory()
    own = vars(loop).get("create_task") if hasattr(loop, "__dict__") else None
    dynscope.install_task_conveyance()
    try:
        yield loop
    finally:
        loop.set_task_factory(factory)
        if hasattr(loop, "__dict__"):
            if own is None:
                vars(loop).pop("create_task", None)
            else:
                vars(loop)["create_task"] = own


async def child():
    await asyncio.sleep(0)
    return get("x", UNBOUND)


def test_create_task_sees_the_creators_bindings_captured_at_creation():
    async def check():
        async with conveying() as loop:
            with bind(x="creator"):
                t1 = loop.create_task(child())
                t2 = asyncio.create_task(child())
                t3 = asyncio.ensure_future(child())
            with bind(x="later"):
                # Captured at creation: not whoever awaits it, not now.
                assert (await t1, await t2, await t3) == ("creator",) * 3
            assert await asyncio.create_task(child()) == UNBOUND

    return run_async(check())


def test_without_conveyance_a_task_sees_only_the_loops_bindings():
    async def check():
        with bind(x="creator"):
            t = asyncio.create_task(child())
        assert await t == UNBOUND

    return run_async(check())


def test_gather_conveys_the_bindings_to_its_children():
    async def check():
        async with conveying():
            with bind(x="gathered"):
                got = await asyncio.gather(child(), child())
            assert got == ["gathered", "gathered"]
            assert await asyncio.gather(child()) == [UNBOUND]

    return run_async(check())


def test_a_task_group_conveys_the_bindings_to_its_tasks():
    async def check():
        async with conveying():
            async with asyncio.TaskGroup() as tg:
                with bind(x="tg"):
                    inside = tg.create_task(child())
                outside = tg.create_task(child())
            assert (inside.result(), outside.result()) == ("tg", UNBOUND)

    return run_async(check())


def test_wait_for_and_timeout():
    async def check():
        async with conveying():
            with bind(x="waited"):
                got = await asyncio.wait_for(child(), timeout=30)
                t = asyncio.create_task(child())
            assert got == "waited"
            assert await asyncio.wait_for(t, timeout=30) == "waited"
            async with asyncio.timeout(30):
                with bind(x="timed"):
                    assert await asyncio.create_task(child()) == "timed"

    return run_async(check())


def test_task_suspended_inside_its_own_bind_does_not_leak():
    async def check():
        evt, out = asyncio.Event(), []

        async def holder():
            out.append(get("x"))                      # conveyed from its creator
            with bind(x="own"):
                grandchild = asyncio.create_task(child())
                await evt.wait()                      # suspended in its own bind
                out.append(get("x"))
            out.append(get("x"))
            out.append(await grandchild)

        async with conveying():
            with bind(x="creator"):
                t = asyncio.create_task(holder())
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            # The holder is suspended inside bind(x="own"): nobody else sees it.
            assert get("x", UNBOUND) == UNBOUND
            assert await asyncio.create_task(child()) == UNBOUND
            with bind(x="peer"):
                assert await asyncio.create_task(child()) == "peer"
            evt.set()
            await t
        assert out == ["creator", "own", "creator", "own"]
        assert not dynscope.bound("x")

    return run_async(check())


def test_install_twice_is_a_no_op():
    async def check():
        async with conveying() as loop:
            hook = (loop.get_task_factory(), vars(loop).get("create_task"))
            dynscope.install_task_conveyance(loop)
            assert (loop.get_task_factory(), vars(loop).get("create_task")) == hook
            assert isinstance(hook[0] or hook[1], dynscope.TaskConveyance)
            with bind(x="once"):
                assert await asyncio.create_task(child()) == "once"

    return run_async(check())


def test_non_coroutines_are_refused_by_the_loop_as_before():
    async def check():
        async with conveying() as loop:
            try:
                loop.create_task(42)
            except TypeError:
                pass
            else:
                raise AssertionError("create_task(42) accepted")

    return run_async(check())


def test_no_running_loop_is_a_clear_error():
    if IN_PYODIDE:
        return  # Pyodide's loop always counts as running
    try:
        dynscope.install_task_conveyance()
    except RuntimeError as e:
        assert "pass the loop" in str(e)
    else:
        raise AssertionError("installed without a loop")


def test_chains_an_existing_task_factory():
    if IN_PYODIDE:
        return  # WebLoop's factory path is broken in 314; create_task is hooked there
    made = []

    def factory(loop, coro, **kwargs):
        made.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    async def main():
        with bind(x="chained"):
            t = asyncio.create_task(child(), name="named")
        return await t, t.get_name()

    loop = asyncio.new_event_loop()
    try:
        loop.set_task_factory(factory)
        dynscope.install_task_conveyance(loop)
        assert loop.run_until_complete(main()) == ("chained", "named")
        assert len(made) == 2 and all(type(c).__name__ == "WrappedCoroutine" for c in made)
    finally:
        loop.close()


def test_loop_with_its_own_create_task_is_hooked_there():
    if IN_PYODIDE:
        return  # the WebLoop itself is such a loop: the tests above cover it
    calls = []

    class Loop(asyncio.SelectorEventLoop):
        def create_task(self, coro, **kwargs):
            calls.append(kwargs)
            return super().create_task(coro, **kwargs)

    async def main():
        with bind(x="own create_task"):
            return await asyncio.create_task(child(), name="n")

    loop = Loop()
    try:
        dynscope.install_task_conveyance(loop)
        assert isinstance(vars(loop)["create_task"], dynscope.TaskConveyance)
        assert loop.run_until_complete(main()) == "own create_task"
        assert len(calls) == 2      # run_until_complete's task and the child
    finally:
        loop.close()


def test_eager_task_factory_is_chained():
    if IN_PYODIDE or not hasattr(asyncio, "eager_task_factory"):
        return  # 3.12+, and not WebLoop's broken factory path

    async def eager_child():
        return get("x", UNBOUND)

    async def main():
        with bind(x="eager"):
            t = asyncio.create_task(eager_child())
            done_at_once = t.done()
        return await t, done_at_once

    loop = asyncio.new_event_loop()
    try:
        loop.set_task_factory(asyncio.eager_task_factory)
        dynscope.install_task_conveyance(loop)
        assert loop.run_until_complete(main()) == ("eager", True)
    finally:
        loop.close()
