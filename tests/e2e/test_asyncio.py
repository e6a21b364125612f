"""asyncio in the service (issue 13 §1, §5, §8): the run's own event loops,
top-level await, the end of a run, the time limit in async code, and what
a run's end looks like (exit codes, an empty stdin, a timeout's answer)."""
import pytest

from scopebox_server import ScopeboxServer


@pytest.fixture(scope="module")
def server():
    # A grace well past the clean-up asyncio.run does after an interrupt, even
    # on a loaded CI machine: these tests tell an interrupt from a kill.
    with ScopeboxServer("--workers", "2", "--timeout-grace-ms", "3000") as s:
        s.wait_healthy(2)
        yield s

ASYNC_DEF = ("import asyncio\nasync def square(i, delay=0.01):\n    await asyncio.sleep(delay)\n"
             "    return i * i\n")

# (code, mode, expected result): each must run with ok true.
WORKS = {
    "asyncio.run": (ASYNC_DEF + "asyncio.run(square(3))", "exec", 9),
    "asyncio.run in eval mode": ("__import__('asyncio').run(__import__('asyncio').sleep(0.01, 'slept'))",
                                 "eval", "slept"),
    "run_until_complete": (ASYNC_DEF + "asyncio.get_event_loop().run_until_complete(square(4))", "exec", 16),
    "new_event_loop": (ASYNC_DEF + "loop = asyncio.new_event_loop()\nr = loop.run_until_complete(square(5))\n"
                       "loop.close()\nr", "exec", 25),
    "gather": (ASYNC_DEF + "async def main():\n    return await asyncio.gather(*(square(i) for i in range(4)))\n"
               "asyncio.run(main())", "exec", [0, 1, 4, 9]),
    "TaskGroup": (ASYNC_DEF + "async def main():\n    async with asyncio.TaskGroup() as tg:\n"
                  "        ts = [tg.create_task(square(i)) for i in range(3)]\n    return [t.result() for t in ts]\n"
                  "asyncio.run(main())", "exec", [0, 1, 4]),
    "wait_for": (ASYNC_DEF + "async def main():\n    try:\n        await asyncio.wait_for(square(2, 10), 0.05)\n"
                 "    except TimeoutError:\n        return await asyncio.wait_for(square(2), 1)\n"
                 "asyncio.run(main())", "exec", 4),
    "asyncio.timeout": (ASYNC_DEF + "async def main():\n    try:\n        async with asyncio.timeout(0.05):\n"
                        "            await asyncio.sleep(10)\n    except TimeoutError:\n        return 'timed out'\n"
                        "asyncio.run(main())", "exec", "timed out"),
    "sleep keeps order": ("import asyncio\nout = []\nasync def at(d, tag):\n    await asyncio.sleep(d)\n"
                          "    out.append(tag)\nasync def main():\n    await asyncio.gather(at(0.03, 'c'), at(0.01, 'a'), "
                          "at(0.02, 'b'))\nasyncio.run(main())\nout", "exec", ["a", "b", "c"]),
    "top-level await": (ASYNC_DEF + "r = await square(6)\nr + await square(1)", "exec", 37),
    "top-level async for and with": (
        "import asyncio, contextlib\nasync def gen():\n    for i in range(3):\n        await asyncio.sleep(0)\n"
        "        yield i\n@contextlib.asynccontextmanager\nasync def cm():\n    yield 10\n"
        "async with cm() as base:\n    total = [base + i async for i in gen()]\ntotal", "exec", [10, 11, 12]),
    "top-level await in eval mode": ("await __import__('asyncio').sleep(0, 'eval')", "eval", "eval"),
}


@pytest.mark.parametrize("name", list(WORKS))
def test_asyncio_programs_run_to_their_result(server, name):
    code, mode, expected = WORKS[name]
    status, _, out = server.run({"code": code, "mode": mode})
    assert status == 200 and out["ok"], out
    assert out["result"] == expected, out


def test_a_run_ends_with_its_code_and_cancels_what_is_pending(server):
    code = ("import asyncio\nasync def bg(n):\n    try:\n        await asyncio.sleep(3600)\n    finally:\n"
            "        print('cancelled', n)\nfor n in range(3):\n    asyncio.ensure_future(bg(n))\n"
            "await asyncio.sleep(0)\n'done'")
    status, _, out = server.run({"code": code})
    assert status == 200 and out["result"] == "done", out
    assert out["tasks_cancelled"] == 3, out
    assert sorted(out["stdout"].splitlines()) == ["cancelled 0", "cancelled 1", "cancelled 2"], out
    # asyncio.run cancels its own leftovers: those are the snippet's business, not counted
    code = ("import asyncio\nasync def main():\n    asyncio.ensure_future(asyncio.sleep(3600))\n"
            "asyncio.run(main())")
    status, _, out = server.run({"code": code})
    assert status == 200 and out["ok"] and out["tasks_cancelled"] == 0, out


def test_async_generators_are_closed_at_the_end(server):
    code = ("import asyncio\nasync def gen():\n    try:\n        while True:\n            yield 1\n"
            "    finally:\n        print('closed')\ng = gen()\nawait g.__anext__()")
    status, _, out = server.run({"code": code})
    assert status == 200 and out["ok"] and out["stdout"] == "closed\n", out


def test_a_deadlock_is_an_error_not_a_hang(server):
    status, _, out = server.run({"code": "import asyncio\nawait asyncio.Event().wait()", "timeout_ms": 10000})
    assert status == 200 and out["error"]["type"] == "RuntimeError", out
    assert "nothing scheduled" in out["error"]["message"] and out["error"]["line"] == 2, out


@pytest.mark.parametrize("code,line", [
    ("import asyncio\nprint('waiting')\nawait asyncio.sleep(3600)", 3),
    ("import asyncio\nasync def spin():\n    while True:\n        pass\nprint('waiting')\nawait spin()", 4),
    # asyncio.run's own clean-up may be the last thing interrupted: its line
    ("import asyncio\nasync def spin():\n    while True:\n        pass\nprint('waiting')\n"
     "asyncio.run(asyncio.wait_for(spin(), 3600))", (4, 6)),
    ("import asyncio\nprint('waiting')\nasyncio.get_event_loop().run_until_complete(asyncio.sleep(3600))", 3),
])
def test_the_time_limit_interrupts_async_code(server, code, line):
    status, _, out = server.run({"code": code, "timeout_ms": 300})
    assert status == 504, out
    err = out["error"]
    assert (err["code"], err["stopped_by"]) == ("timeout", "interrupt"), out
    assert err["line"] in (line if isinstance(line, tuple) else (line,)), out
    assert out["stdout"] == "waiting\n", out
    status, _, out = server.run({"code": "1+1", "mode": "eval"})
    assert status == 200 and out["result"] == 2, out


def test_an_unawaited_coroutine_warns_without_importing_anything(server):
    # The warning's formatting imports tracemalloc (and pickle): compiled from
    # source in every run unless the pristine interpreter already has them.
    code = ("import sys, gc, asyncio\nbefore = set(sys.modules)\nasyncio.sleep(0)\ngc.collect()\n"
            "sorted(set(sys.modules) - before)")
    status, _, out = server.run({"code": code})
    assert status == 200 and out["result"] == [], out
    assert "coroutine 'sleep' was never awaited" in out["stderr"], out


EVENT_LOOPS = ("import asyncio, pyodide.webloop\nclasses = [getattr(asyncio, n) for n in dir(asyncio) "
               "if n.endswith('EventLoop')] + [pyodide.webloop.WebLoop]\n")


def test_every_event_loop_class_gives_a_python_error_at_worst(server):
    code = EVENT_LOOPS + "len(classes)"
    status, _, out = server.run({"code": code})
    assert status == 200 and out["result"] >= 4, out
    before = server.worker_pids()
    for i in range(out["result"]):
        for use in ("loop = classes[{i}]()",
                    "loop = classes[{i}]()\nloop.run_until_complete(asyncio.sleep(0))",
                    "loop = classes[{i}]()\nloop.call_soon(print, 'x')\nloop.run_forever()",
                    "asyncio.run(asyncio.sleep(0), loop_factory=classes[{i}])"):
            status, _, out = server.run({"code": EVENT_LOOPS + use.format(i=i), "timeout_ms": 10000})
            assert status == 200, (use, i, out)
    assert server.worker_pids() == before, server.log()


@pytest.mark.parametrize("code,exit_code,stdout", [
    ("import sys\nprint('bye')\nsys.exit(2)", 2, "bye\n"),
    ("import sys\nsys.exit()", 0, ""),
    ("import sys\nsys.exit('failed')", 1, ""),
    ("import os\nprint('bye')\nos._exit(7)", 7, "bye\n"),
    ("raise SystemExit(4)", 4, ""),
])
def test_exits_are_errors_of_the_run_with_an_exit_code(server, code, exit_code, stdout):
    status, _, out = server.run({"code": code})
    assert status == 200 and not out["ok"], out
    assert (out["error"]["type"], out["error"]["exit_code"], out["stdout"]) == ("SystemExit", exit_code, stdout), out


def test_input_on_an_empty_stdin_is_eof(server):
    status, _, out = server.run({"code": "input('name? ')"})
    assert status == 200 and out["error"]["type"] == "EOFError", out
    assert "stdin is empty" in out["error"]["message"] and out["stdout"] == "name? ", out
    status, _, out = server.run({"code": "import sys\n(sys.stdin.read(), sys.stdin.readline())", "mode": "exec"})
    assert status == 200 and out["result"] == {"$type": "tuple", "items": ["", ""]}, out


def test_a_timeout_keeps_what_the_run_did(server):
    code = "import sys\nprint('out')\nprint('err', file=sys.stderr)\nn = 0\nwhile True:\n    n += 1"
    status, _, out = server.run({"code": code, "timeout_ms": 300})
    assert status == 504, out
    assert (out["stdout"], out["stderr"], out["ok"], out["result"]) == ("out\n", "err\n", False, None), out
    assert out["scope"]["n"] > 0 and out["changes"]["added"] == ["n", "sys"], out
    err = out["error"]
    assert err["stopped_by"] == "interrupt" and err["line"] in (5, 6), out
    assert [{k: f[k] for k in ("function", "line", "source")} for f in err["traceback"]] == [
        {"function": "<module>", "line": err["line"], "source": err["source"]}], out
    assert "timing" in out and out["tasks_cancelled"] == 0


@pytest.mark.parametrize("code", [
    "print('start')\nwhile True:\n    try:\n        while True: pass\n    except BaseException:\n        pass",
    # (both this and the top-level await above once lost their answer to a
    # second interrupt landing while the runner described the first)
    ("import asyncio\nasync def s():\n    while True:\n        try:\n            while True: pass\n"
     "        except BaseException: pass\nprint('start')\nasyncio.ensure_future(s())\n"
     "await asyncio.sleep(0)"),
])
def test_code_that_swallows_the_interrupt_is_still_stopped_by_it(server, code):
    """Past the limit every line of the snippet raises again (limit.py): the
    run ends by interrupt, with its answer, not by a kill."""
    status, _, out = server.run({"code": code, "timeout_ms": 300})
    assert status == 504 and out["error"]["stopped_by"] == "interrupt", out
    assert out["stdout"] == "start\n", out


def test_a_session_timeout_shows_the_run_and_keeps_the_state_before_it(server):
    """The 504 shows the namespace where the run stopped; the session goes on
    from its image before that run (README, "Sessions")."""
    status, _, session = server.request("POST", "/v1/sessions", {"scope": {"x": 1}})
    assert status == 201, session
    path = f"/v1/sessions/{session['id']}"
    try:
        status, _, out = server.request("POST", path + "/run", {"code": "y = x + 1\nwhile True:\n    pass",
                                                                "timeout_ms": 300})
        assert status == 504 and out["scope"] == {"x": 1, "y": 2}, out
        status, _, out = server.request("GET", path)
        assert status == 200 and out["scope"] == {"x": 1}, out
    finally:
        server.request("DELETE", path)


def test_a_killed_run_says_what_the_host_knows(server):
    code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nprint('lost')\nwhile True: pass"
    status, _, out = server.run({"code": code, "timeout_ms": 300})
    assert status == 504, out
    assert out["error"]["stopped_by"] == "kill" and out["error"]["line"] is None, out
    assert out["stdout"] is None and out["scope"] is None and "run_ms" in out["timing"], out
