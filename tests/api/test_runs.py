"""Run ids, cancel and disconnect (issue 15, sections 1 and 2), against a real
server: every run has an id (the client's `run_id` or the server's) in the
answer, the Scopebox-Run-Id header and the log line; POST
/v1/runs/{id}/cancel drops a queued run and interrupts a running one; a
client that goes away cancels its run the same way. Nothing here measures
time: tests/bench/http/cancel.py prints how fast a worker is free again."""
import json
import os
import re
import socket
import threading
import time

import pytest

from scopebox_server import ALICE, BOB, keyed_server
from waiting import wait_for

LOOP = "print('hi')\nbefore = 1\nwhile True:\n    pass"
LONG = 60000  # a limit no test waits out: a run that stops, stopped because it was cancelled


# A short grace period: the kill after an ignored cancel comes soon.
SERVER_ARGS = ("--workers", "2", "--timeout-grace-ms", "1000")


class Background:
    """A request answered on another thread (the run it starts is what the
    test cancels)."""

    def __init__(self, server, path, body, headers=None):
        self.answer = None
        self.thread = threading.Thread(
            target=lambda: setattr(self, "answer", server.request("POST", path, body, headers=headers, timeout=120)),
            daemon=True)
        self.thread.start()

    def get(self):
        self.thread.join(120)
        assert self.answer is not None, "no answer"
        return self.answer


def raw_request(server, path, body, headers=()):
    """Sends a request on a socket of our own and returns the socket, left
    open: closing it is the client going away."""
    host, port = server.url.split("//")[1].rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    data = json.dumps(body).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers)
    sock.sendall(head.encode() + b"\r\n" + data)
    return sock


def busy(server):
    return server.request("GET", "/healthz")[2]["workers"]["busy"]


def queued(server, headers=None):
    text = server.request("GET", "/metrics", headers=headers)[2]
    return int(re.search(r"^scopebox_queue_length (\d+)$", text, re.M).group(1))


def cancelled_total(server):
    text = server.request("GET", "/metrics")[2]
    m = re.search(r'^scopebox_runs_total\{outcome="cancelled"\} (\d+)$', text, re.M)
    return int(m.group(1)) if m else 0


def cancel(server, run_id, headers=None):
    return server.request("POST", f"/v1/runs/{run_id}/cancel", headers=headers)


def start_running(server, body, path="/v1/run", headers=None):
    """A run that is on a worker when this returns, and past its first
    lines unless the machine is very slow (0.5 s is only a margin for the
    worker to read its frame: no assertion depends on its length)."""
    total = server.wait_healthy(1)["workers"]["total"]
    wait_for(lambda: server.request("GET", "/healthz")[2]["workers"]["ready"] == total, "all workers idle")
    bg = Background(server, path, body, headers)
    wait_for(lambda: busy(server) > 0, "the run reached a worker")
    time.sleep(0.5)
    return bg


# ---- run ids -----------------------------------------------------------------

def test_a_client_run_id_is_in_the_answer_the_header_and_the_log(server, api):
    status, headers, body = server.run({"code": "6 * 7", "mode": "eval", "run_id": "cell_7-a"})
    api.validate("POST", "/v1/run", status, body, headers)
    assert (status, body["result"], body["run_id"]) == (200, 42, "cell_7-a")
    assert headers["Scopebox-Run-Id"] == "cell_7-a"
    wait_for(lambda: any("POST /v1/run 200" in l and "run=cell_7-a " in l for l in server.log_lines),
             "the log line names the run")


def test_the_server_makes_an_id_when_the_client_sends_none(server, api):
    ids = set()
    for _ in range(2):
        status, headers, body = server.run({"code": "1"})
        api.validate("POST", "/v1/run", status, body, headers)
        assert re.fullmatch(r"[0-9a-f]{32}", body["run_id"]) and headers["Scopebox-Run-Id"] == body["run_id"]
        ids.add(body["run_id"])
    assert len(ids) == 2


def test_a_session_run_has_an_id_too(server, api):
    _, _, session = server.request("POST", "/v1/sessions", {})
    path = f"/v1/sessions/{session['id']}/run"
    try:
        status, headers, body = server.request("POST", path, {"code": "n = 1", "run_id": "s-1"})
        api.validate("POST", "/v1/sessions/{id}/run", status, body, headers)
        assert (body["run_id"], headers["Scopebox-Run-Id"]) == ("s-1", "s-1")
        status, headers, body = server.request("POST", path, {"code": "n"})
        assert re.fullmatch(r"[0-9a-f]{32}", body["run_id"]), body
    finally:
        server.request("DELETE", f"/v1/sessions/{session['id']}")


def test_a_run_id_in_use_is_refused_until_its_run_is_done(server, api):
    first = start_running(server, {"code": LOOP, "run_id": "twice", "timeout_ms": LONG})
    status, headers, body = server.run({"code": "1", "run_id": "twice"})
    api.validate("POST", "/v1/run", status, body, headers)
    assert (status, body["error"]["code"]) == (409, "run_id_in_use"), body
    assert cancel(server, "twice")[0] == 202
    assert first.get()[0] == 499
    status, _, body = server.run({"code": "2", "mode": "eval", "run_id": "twice"})
    assert (status, body["result"]) == (200, 2), body


# ---- cancel ------------------------------------------------------------------

def test_cancel_interrupts_a_running_run_and_keeps_what_it_printed(server, api):
    counted = cancelled_total(server)
    run = start_running(server, {"code": LOOP, "run_id": "loop-a", "timeout_ms": LONG})
    status, headers, body = cancel(server, "loop-a")
    api.validate("POST", "/v1/runs/{id}/cancel", status, body, headers)
    assert (status, body) == (202, {"ok": True, "run_id": "loop-a"})
    status, headers, body = run.get()
    api.validate("POST", "/v1/run", status, body, headers)
    assert status == 499 and body["error"]["code"] == "cancelled", body
    assert body["error"]["stopped_by"] == "interrupt" and body["error"]["line"] == 4, body
    assert body["stdout"] == "hi\n" and body["scope"] == {"before": 1} and body["run_id"] == "loop-a"
    assert headers["Scopebox-Run-Id"] == "loop-a"
    assert cancelled_total(server) == counted + 1
    # Done: a second cancel finds nothing, and the worker serves again.
    assert cancel(server, "loop-a")[2]["error"]["code"] == "run_not_found"
    status, _, body = server.run({"code": "1 + 1", "mode": "eval"})
    assert (status, body["result"]) == (200, 2)


def test_a_run_that_ignores_the_interrupt_is_killed_after_the_grace_period(server, api):
    code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nprint('lost')\nwhile True: pass"
    run = start_running(server, {"code": code, "run_id": "stubborn", "timeout_ms": LONG})
    assert cancel(server, "stubborn")[0] == 202
    status, headers, body = run.get()
    api.validate("POST", "/v1/run", status, body, headers)
    assert status == 499 and body["error"]["stopped_by"] == "kill", body
    assert body["stdout"] is None and body["scope"] is None, body
    server.wait_healthy(2)
    status, _, body = server.run({"code": "1 + 1", "mode": "eval"})
    assert (status, body["result"]) == (200, 2)


def test_three_stopped_loops_then_one_plus_one(server):
    """Issue 15's acceptance case: the playground's Stop, three times on a
    2-worker server (the third loop queued), then `1 + 1` answers. Without
    cancel the loops would hold both workers for their 60 s limit and the
    last request would wait behind them."""
    loops = []
    for i in range(3):
        loops.append(Background(server, "/v1/run", {"code": LOOP, "run_id": f"stop-{i}", "timeout_ms": LONG}))
    wait_for(lambda: busy(server) == 2 and queued(server) == 1, "two loops running, one queued")
    for i in range(3):
        assert cancel(server, f"stop-{i}")[0] == 202
    answers = [bg.get() for bg in loops]
    assert [a[0] for a in answers] == [499, 499, 499], answers
    # The queued one never ran: a Failure, no output.
    never = [a[2] for a in answers if "stdout" not in a[2]]
    assert len(never) == 1 and "never ran" in never[0]["error"]["message"], answers
    status, _, body = server.run({"code": "1 + 1", "mode": "eval"}, timeout=30)
    assert (status, body["result"]) == (200, 2)


def test_a_cancelled_session_run_leaves_the_session_as_before_it(server, api):
    _, _, session = server.request("POST", "/v1/sessions", {"scope": {"n": 1}})
    path = f"/v1/sessions/{session['id']}/run"
    try:
        assert server.request("POST", path, {"code": "n += 1"})[0] == 200
        loop = start_running(server, {"code": "n = 100\n" + LOOP, "run_id": "in-session", "timeout_ms": LONG}, path)
        # Waits in the session's line behind the loop, then is cancelled there.
        behind = Background(server, path, {"code": "marker = 1", "run_id": "behind"})
        wait_for(lambda: cancel(server, "behind")[0] == 202, "the queued session run was cancelled")
        status, headers, body = behind.get()
        api.validate("POST", "/v1/sessions/{id}/run", status, body, headers)
        assert (status, body["error"]["code"]) == (499, "cancelled"), body
        assert cancel(server, "in-session")[0] == 202
        status, headers, body = loop.get()
        api.validate("POST", "/v1/sessions/{id}/run", status, body, headers)
        assert status == 499 and body["scope"]["n"] == 100, body
        status, _, body = server.request("GET", f"/v1/sessions/{session['id']}")
        assert status == 200 and body["scope"] == {"n": 2}, body
        status, _, body = server.request("POST", path, {"code": "n", "mode": "eval"})
        assert (status, body["result"]) == (200, 2), body
    finally:
        server.request("DELETE", f"/v1/sessions/{session['id']}")


# ---- a client that goes away -------------------------------------------------

def test_a_client_that_disconnects_cancels_its_run_queued_or_running(server):
    """Two loops whose clients leave while they run, and a session run whose
    client leaves while it is queued behind them: the loops are interrupted,
    the session run never starts (its marker never appears), and the
    workers serve the next run."""
    counted = cancelled_total(server)
    _, _, session = server.request("POST", "/v1/sessions", {})
    sid = session["id"]
    try:
        socks = [raw_request(server, "/v1/run", {"code": LOOP, "timeout_ms": LONG}) for _ in range(2)]
        wait_for(lambda: busy(server) == 2, "both loops running")
        waiting = raw_request(server, f"/v1/sessions/{sid}/run", {"code": "marker = 1", "run_id": "left"})
        wait_for(lambda: queued(server) == 1, "the session run queued")
        waiting.close()
        wait_for(lambda: queued(server) == 0, "the queued run dropped")
        for s in socks:
            s.close()
        wait_for(lambda: cancelled_total(server) == counted + 3, "three runs cancelled")
        status, _, body = server.run({"code": "1 + 1", "mode": "eval"}, timeout=30)
        assert (status, body["result"]) == (200, 2)
        status, _, body = server.request("GET", f"/v1/sessions/{sid}")
        assert status == 200 and body["scope"] == {} and body["runs"] == 0, body
        # Its log line (status 499, or 0 when the connection was found closed
        # before the answer could be queued).
        wait_for(lambda: any("/run " in l and "run=left " in l for l in server.log_lines), "the log line")
    finally:
        server.request("DELETE", f"/v1/sessions/{sid}")


def open_fds(server):
    return len(os.listdir(f"/proc/{server.proc.pid}/fd"))


def test_an_answered_run_leaves_nothing_of_its_connection_open(server):
    """The dispatcher watches a run's client through a descriptor of its own
    (dispatch.c), let go with the run: a connection that closes after its
    answer ends for the client (it reads to the end of the stream), and the
    server's descriptors do not grow with the runs it answered."""
    def one():
        sock = raw_request(server, "/v1/run", {"code": "1", "mode": "eval"}, headers=[("Connection", "close")])
        sock.settimeout(30)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        sock.close()
        assert data.startswith(b"HTTP/1.1 200"), data[:200]

    one()
    before = open_fds(server)
    for _ in range(20):
        one()
    wait_for(lambda: open_fds(server) <= before, "the server's descriptors back to where they were")


# ---- API keys ----------------------------------------------------------------

@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    with keyed_server(tmp_path_factory.mktemp("keys")) as s:
        yield s


def test_only_the_key_that_started_a_run_can_cancel_it(keyed, api):
    alice, bob = {"Authorization": f"Bearer {ALICE}"}, {"Authorization": f"Bearer {BOB}"}
    run = start_running(keyed, {"code": LOOP, "run_id": "mine", "timeout_ms": LONG}, headers=alice)
    status, headers, body = cancel(keyed, "mine", bob)
    api.validate("POST", "/v1/runs/{id}/cancel", status, body, headers)
    # The same answer as an id nobody used: bob cannot even tell it exists.
    assert (status, body["error"]["code"]) == (404, "run_not_found"), body
    assert cancel(keyed, "never-used", bob)[2]["error"]["message"] == body["error"]["message"].replace("mine", "never-used")
    # The id is alice's: bob may name a run of his own so at the same time.
    his = Background(keyed, "/v1/run", {"code": "3", "mode": "eval", "run_id": "mine"}, bob)
    wait_for(lambda: queued(keyed, alice) == 1, "bob's run queued behind alice's")
    assert cancel(keyed, "mine")[0] == 401
    assert cancel(keyed, "mine", alice)[0] == 202
    status, _, body = run.get()
    assert (status, body["error"]["code"]) == (499, "cancelled")
    status, _, body = his.get()
    assert (status, body["result"], body["run_id"]) == (200, 3, "mine"), body
