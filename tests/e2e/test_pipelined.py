"""A stateless run is answered before its worker resets, and the next
stateless run is written to that worker while it resets: it waits in the
pipe and starts at the worker's `idle` (PROTOCOL.md, "idle"), so the reset
is off the request's path. Until that `idle` it has not started, so a
worker lost during the reset hands it back to the queue, and a cancel of it
answers it without running any of it.

The server's --worker-test-reset-delay-ms (tests only) makes every reset
that much longer, so that each case can act while the next run waits."""
import os
import signal

import pytest

from background_run import BackgroundRun
from scopebox_server import ScopeboxServer
from waiting import wait_for

# Long enough to act in; the grace (the host's bound on a reset) outlasts it.
DELAY_MS = 3000


@pytest.fixture(scope="module")
def server():
    with ScopeboxServer("--workers", "1", "--timeout-grace-ms", "30000",
                        "--worker-test-reset-delay-ms", str(DELAY_MS)) as s:
        s.wait_healthy(1)
        yield s


def workers(server):
    return server.request("GET", "/healthz")[2]["workers"]


def gauge(server, name):
    status, _, text = server.request("GET", "/metrics")
    assert status == 200, text
    [value] = [line.split()[1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(value)


def written_behind(server):
    """The run in flight left the queue, though the worker is not idle: the
    dispatcher wrote it behind the last answer."""
    return (gauge(server, "scopebox_runs_in_flight") == 1 and gauge(server, "scopebox_queue_length") == 0
            and workers(server)["ready"] == 0)


def idle_again(server):
    wait_for(lambda: workers(server)["ready"] == 1, "the worker idle again", timeout=120)


def first_run(server):
    """A run that leaves a global behind; answered while its reset goes on."""
    idle_again(server)
    body = server.run_ok("left = 'behind'\nprint('first')")
    assert body["stdout"] == "first\n"
    # Answered before the reset: the worker is still not ready.
    assert workers(server)["ready"] == 0, workers(server)
    return body


def test_the_answer_comes_before_the_reset_and_the_next_run_after_it(server):
    first_run(server)
    # Sent while the worker resets: it runs there once the reset is done,
    # on a reset interpreter.
    body = server.run_ok("'left' in globals()", mode="eval")
    assert body["result"] is False, body
    assert body["timing"]["queue_ms"] > 0, body


def test_a_worker_lost_during_its_reset_hands_the_next_run_back(server):
    first_run(server)
    [pid] = server.worker_pids()
    waits = BackgroundRun(server, {"code": "print('next')\n'next'", "mode": "exec", "run_id": "waits"})
    wait_for(lambda: written_behind(server), "the next run written behind the answer")
    os.kill(pid, signal.SIGKILL)
    status, body = waits.answer()
    # It never started, so it ran once, whole, on the worker that replaced it.
    assert (status, body.get("ok"), body.get("stdout")) == (200, True, "next\n"), body
    assert pid not in server.worker_pids()
    assert "gone before starting run" in server.log()


def test_a_cancelled_next_run_is_answered_without_running(server):
    first_run(server)
    never = BackgroundRun(server, {"code": "print('ran')\n'ran'", "mode": "exec", "run_id": "never"})
    wait_for(lambda: written_behind(server), "the next run written behind the answer")
    status, _, body = server.request("POST", "/v1/runs/never/cancel")
    assert status == 202, body
    status, body = never.answer()
    assert status == 499, body
    assert body["error"]["code"] == "cancelled", body
    # Nothing of it ran: no output, and stopped at no line of it.
    assert body["stdout"] == "", body
    assert (body["error"]["line"], body["error"]["traceback"]) == (None, []), body
    # The worker is fine and takes the next run.
    idle_again(server)
    assert server.run_ok("'after'", mode="eval")["result"] == "after"


def test_a_sessions_run_waits_for_the_idle(server):
    # Only a stateless run goes behind a reset: a session's waits for the
    # worker to be idle, then runs as usual.
    first_run(server)
    status, _, body = server.request("POST", "/v1/sessions", {})
    assert status == 201, body
    sid = body["id"]
    status, _, body = server.request("POST", f"/v1/sessions/{sid}/run", {"code": "n = 41\nn + 1", "mode": "exec"})
    assert (status, body.get("result")) == (200, 42), body
