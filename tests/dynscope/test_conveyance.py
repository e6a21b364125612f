"""S8 (threads) and S9 (asyncio): no conveyance by default; capture(),
wrap() and task_factory convey explicitly."""
import asyncio

import dynscope
from dynscope import bind, capture, get, wrap

from preamble import UNBOUND, IN_PYODIDE, run_async


def test_capture_reenters_bindings():
    ns = dynscope.Namespace()
    with bind(x=1, y=2), ns.bind(z=3):
        with bind(y="inner"):
            c = capture()
    assert c.bindings == {"x": 1, "y": "inner"}
    assert get("x", UNBOUND) == UNBOUND
    with c:
        assert (get("x"), get("y"), ns.z) == (1, "inner", 3)
    assert get("x", UNBOUND) == UNBOUND

    def f(a, *, b):
        return get("x"), ns.z, a, b

    assert c.run(f, "a", b="b") == (1, 3, "a", "b")
    assert "z" not in ns


def test_capture_is_a_copy():
    with bind(x=1):
        c = capture()
        with c:
            dynscope.assign("x", 2)
            assert get("x") == 2
        assert get("x") == 1
    with c:
        assert get("x") == 1


def test_an_empty_capture_binds_nothing():
    c = capture()
    assert c.bindings == {}
    assert c.run(lambda: get("x", UNBOUND)) == UNBOUND


def test_wrap_callable_for_callbacks():
    with bind(x="made"):
        cb = wrap(lambda: get("x"))
    assert cb() == "made"
    with bind(x="caller"):
        assert cb() == "made"
    assert cb.__wrapped__ is not None


def test_wrap_generator_steps_inside_capture():
    def gen():
        yield get("x", UNBOUND)
        yield get("x", UNBOUND)

    with bind(x="captured"):
        g = wrap(gen())
    assert next(g) == "captured"
    with bind(x="resumer"):
        assert next(g) == "captured"
    assert get("x", UNBOUND) == UNBOUND


def test_s8_threads_start_empty_unless_wrapped():
    if IN_PYODIDE:
        return  # Pyodide has no threads
    import threading
    import _thread

    out = []
    with bind(x="main"):
        t = threading.Thread(target=lambda: out.append(get("x", UNBOUND)))
        t.start()
        t.join()
        t = threading.Thread(target=wrap(lambda: out.append(get("x", UNBOUND))))
        t.start()
        t.join()
        done = threading.Event()

        def raw():
            out.append(get("x", UNBOUND))
            done.set()

        _thread.start_new_thread(wrap(raw), ())   # no Python frame at all
        done.wait(10)
    assert out == [UNBOUND, "main", "main"]


async def _child():
    await asyncio.sleep(0)
    return get("x", UNBOUND)


async def _s9_main():
    with bind(x="main"):
        default = asyncio.get_running_loop().create_task(_child())
        wrapped = asyncio.get_running_loop().create_task(wrap(_child()))
        awaited = await _child()         # awaiting links the frames
    return await default, await wrapped, awaited


def test_s9_asyncio_default_is_no_conveyance():
    async def check():
        assert await _s9_main() == (UNBOUND, "main", "main")

    return run_async(check())


async def _s9_factory():
    loop = asyncio.get_running_loop()
    old = loop.get_task_factory()
    loop.set_task_factory(dynscope.task_factory)
    try:
        with bind(x="main"):
            t = asyncio.ensure_future(_child())
        outside = asyncio.ensure_future(_child())
        return await t, await outside
    finally:
        loop.set_task_factory(old)


async def _s9_factory_direct():
    # Pyodide 314's WebLoop.create_task breaks with any task factory (it calls
    # asyncio.tasks._set_task_name, gone in 3.14), so call the factory the
    # way a loop does.
    loop = asyncio.get_running_loop()
    with bind(x="main"):
        t = dynscope.task_factory(loop, _child())
    outside = dynscope.task_factory(loop, _child(), name="outside")
    assert isinstance(t, asyncio.Task) and outside.get_name() == "outside"
    return await t, await outside


def test_s9_task_factory_conveys_like_contextvars():
    async def check():
        if IN_PYODIDE:
            assert await _s9_factory_direct() == ("main", UNBOUND)
        else:
            assert await _s9_factory() == ("main", UNBOUND)
            assert await _s9_factory_direct() == ("main", UNBOUND)

    return run_async(check())


def test_s9_wrapped_async_function():
    async def check():
        with bind(x="at wrap"):
            fn = wrap(_child)
        assert await fn() == "at wrap"

    return run_async(check())


def test_s9_coroutine_suspended_in_binding_does_not_leak():
    async def holder(evt, out):
        with bind(x="holder"):
            await evt.wait()
            out.append(get("x"))

    async def check():
        evt, out = asyncio.Event(), []
        t = asyncio.ensure_future(holder(evt, out))
        await asyncio.sleep(0)
        assert get("x", UNBOUND) == UNBOUND     # S3 for coroutines
        evt.set()
        await t
        assert out == ["holder"]

    return run_async(check())
