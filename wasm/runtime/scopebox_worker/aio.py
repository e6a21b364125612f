"""The event loops of a run (PROTOCOL.md, "Runs and asyncio").

A run owns its loops: they are plain asyncio loops (BaseEventLoop) driven
synchronously inside the run, never by JS timers, so that nothing of a run
can execute after its answer, and the run's time limit interrupts async code
as it does sync code: waiting is time.sleep, which blocks on the interrupt
word (lockdown.mjs), and the watchdog's KeyboardInterrupt comes out of
whatever the loop was running.

Every loop the standard ways make (asyncio.run, asyncio.Runner,
new_event_loop, get_event_loop, top-level await) comes from new_loop() and
is remembered; finish() ends them when the run's code is done: tasks still
pending are cancelled and awaited (their finally blocks run inside the run's
limit), async generators shut down, the loops closed.
"""
import asyncio
import time
import types
from asyncio import events

import dynscope

NO_WAKER = (
    "the event loop has nothing to run and nothing scheduled: every task waits for "
    "something that cannot happen here (there are no threads, sockets or subprocesses)"
)

# Loops made during the current run, oldest first.
_loops = []
# Tasks that run the snippet's own top-level code: not counted as cancelled.
_main_tasks = set()


class _Selector:
    """A snippet has no file descriptors to wait on: a loop's wait for I/O
    is a sleep until its next timer."""

    def select(self, timeout=None):
        if timeout is None:
            # Nothing ready, nothing scheduled, and nothing (no thread, no
            # fd, no signal) can ever add anything: CPython would hang here
            # until the time limit. Say so at once instead.
            raise RuntimeError(NO_WAKER)
        if timeout > 0:
            time.sleep(timeout)
        return []

    def get_map(self):
        return {}

    def close(self):
        pass


class RunLoop(asyncio.BaseEventLoop):
    """asyncio's own loop machinery (call_soon, call_later, tasks, futures,
    async generators) without a selector's self-pipe or sockets."""

    def __init__(self):
        super().__init__()
        self._selector = _Selector()

    def _process_events(self, event_list):
        pass

    def _write_to_self(self):
        # call_soon_threadsafe: there is one thread; the loop is awake.
        pass


def new_loop():
    """The one place a run's event loop is made. Its tasks see the dynamic
    bindings visible where they were created (docs/dynamic-scope.md, S9):
    the service conveys them, the library leaves it to the program."""
    loop = RunLoop()
    dynscope.install_task_conveyance(loop)
    _loops.append(loop)
    return loop


class _Policy(events._BaseDefaultEventLoopPolicy):
    """Loops are RunLoops. get_event_loop() with no current loop makes the
    run's default loop (as a notebook has one), so that top-level
    `asyncio.get_event_loop().run_until_complete(...)` and
    `asyncio.ensure_future(...)` work."""

    def new_event_loop(self):
        return new_loop()

    def get_event_loop(self):
        if self._local._loop is None:
            self.set_event_loop(new_loop())
        return self._local._loop


def install():
    """Once, at start-up: every loop asyncio makes is a RunLoop, and
    asyncio.run is asyncio's own (Pyodide replaces it with one that
    schedules on JS timers)."""
    asyncio.run = asyncio.runners.run
    events._set_event_loop_policy(_Policy())
    # Pyodide leaves its WebLoop installed as the running loop for good.
    events._set_running_loop(None)


def run_coroutine(coro):
    """Runs a top-level-await snippet's coroutine on the run's default loop.
    An exception that stops the loop while the snippet waits (the time
    limit's KeyboardInterrupt, a deadlock) gets the snippet's suspended
    frames as its traceback: it says where the snippet was."""
    loop = events._get_event_loop_policy().get_event_loop()
    task = loop.create_task(coro)
    _main_tasks.add(task)
    try:
        return loop.run_until_complete(task)
    except BaseException as e:
        if not task.done():
            raise e.with_traceback(_suspended_at(task, e.__traceback__)) from None
        raise


def _suspended_at(task, tb):
    """A traceback through the frames `task` is suspended in, then `tb`.
    Walked by hand rather than with task.get_stack(): the run's tasks hold
    dynscope's conveyance wrapper (its `__wrapped__` is the coroutine)."""
    frames, coro = [], task.get_coro()
    while coro is not None and len(frames) < 100:
        coro = getattr(coro, "__wrapped__", coro)
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        frames.append(frame)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    for frame in reversed(frames):
        tb = types.TracebackType(tb, frame, frame.f_lasti, frame.f_lineno)
    return tb


def finish():
    """Ends the run's loops; returns how many tasks were still pending and
    got cancelled. A KeyboardInterrupt (the time limit) stops the clean-up:
    the remaining loops are closed without running again."""
    cancelled = 0
    loops = list(_loops)
    _loops.clear()
    main = set(_main_tasks)
    _main_tasks.clear()
    events._get_event_loop_policy().set_event_loop(None)
    stop = None
    for loop in loops:
        if loop.is_closed() or loop.is_running():
            continue
        try:
            if stop is None:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                cancelled += sum(1 for t in pending if t not in main)
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
        except BaseException as e:  # noqa: B036 - the time limit, or a task that will not end
            stop = e
        finally:
            loop.close()
    if stop is not None:
        raise stop
    return cancelled
