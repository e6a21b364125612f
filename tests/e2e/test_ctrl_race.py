"""A cancel or a time limit reaches the run it is for and no other
(PROTOCOL.md, "Control words"), through a real server.

The worker's controlling thread decides that the run in flight must stop
(a cancel for it, its watchdog's time), then flags it in the control
words. Descheduled in between for longer than the rest of the run and a
host round trip, it used to flag the next run instead, which was then
answered `cancelled` or timed out though nobody stopped it. The server's
--worker-test-ctrl-delay-ms (tests only) puts that pause there on purpose:
up to that long, or until the worker starts its next run, whichever comes
first (the worst case). Each round stops a run right at its end and sends
the next one as soon as the first is answered; the next one must come back
as its own, every time."""
import time

import pytest

from background_run import BackgroundRun
from scopebox_server import ScopeboxServer
from waiting import wait_for

ROUNDS = 8
# Longer than the rest of the first run plus the round trip to the next.
DELAY_MS = 1500
# The first run ends by itself 0.6 s in; the second sleeps a little so that
# it is still in flight when a late flag lands.
FIRST = "import time\ntime.sleep(0.6)\n'first'"
NEXT = "import time\ntime.sleep(0.1)\n'next'"


@pytest.fixture(scope="module")
def server():
    # A long grace: the host must not kill the worker for the pause.
    with ScopeboxServer("--workers", "1", "--timeout-grace-ms", "20000",
                        "--worker-test-ctrl-delay-ms", str(DELAY_MS)) as s:
        s.wait_healthy(1)
        yield s


def busy(server):
    return server.request("GET", "/healthz")[2]["workers"]["busy"]


def assert_next_is_its_own(server, i):
    status, _, body = server.run({"code": NEXT, "mode": "exec", "run_id": f"next-{i}"})
    assert (status, body.get("ok"), body.get("result")) == (200, True, "next"), (i, status, body)


def test_a_cancel_at_a_runs_end_never_stops_the_next_run(server):
    stopped = 0
    for i in range(ROUNDS):
        wait_for(lambda: busy(server) == 0, "the worker idle")
        first = BackgroundRun(server, {"code": FIRST, "mode": "exec", "run_id": f"first-{i}", "timeout_ms": 60000},
                              timeout=120)
        wait_for(lambda: busy(server) > 0, "the first run reached the worker")
        time.sleep(0.15)  # a margin for the worker to read its frame; later, it is cancelled before it starts
        status, _, body = server.request("POST", f"/v1/runs/first-{i}/cancel")
        assert status in (202, 404), body  # 404: it was already answered (a very slow machine)
        status, body = first.answer("the first run")
        # Its own answer either way: done, or cancelled.
        assert (status, body.get("result")) in ((200, "first"), (499, None)), body
        stopped += status == 499
        assert_next_is_its_own(server, i)
    # The pause was there: a stop decided while a run is in flight is that
    # run's, so some first runs were answered stopped (all, unless the
    # machine was too slow for the margins above).
    assert stopped > 0


def test_a_time_limit_at_a_runs_end_never_stops_the_next_run(server):
    stopped = 0
    for i in range(ROUNDS):
        wait_for(lambda: busy(server) == 0, "the worker idle")
        first = BackgroundRun(server, {"code": FIRST, "mode": "exec", "run_id": f"limit-{i}", "timeout_ms": 200},
                              timeout=120)
        status, body = first.answer("the first run")
        assert (status, body.get("result")) in ((200, "first"), (504, None)), body
        stopped += status == 504
        assert_next_is_its_own(server, i)
    assert stopped > 0
