"""A full queue (issue 16, "Overload"): a stateless run is refused from its
headers, 503 `queue_full` with Retry-After as the contract says, before its
body is read: a client waiting on Expect: 100-continue is never asked for
it, a body that is not even JSON is never parsed, and a dropped body leaves
its keep-alive connection usable. One worker and no queue: one busy run
fills the server."""
import contextlib
import json
import re
import select
import socket
import threading

import pytest

from scopebox_server import ScopeboxServer
from waiting import wait_for

SERVER_ARGS = ("--workers", "1", "--queue-size", "0")
BUSY = {"code": "while True:\n    pass", "mode": "exec", "timeout_ms": 60000, "run_id": "hog"}


@pytest.fixture
def full(server):
    """The one worker busy with a loop until the test is over (then cancelled)."""
    with full_server(server):
        yield server


@contextlib.contextmanager
def full_server(server):
    server.wait_healthy(1)
    thread = threading.Thread(target=lambda: server.run(BUSY, timeout=120), daemon=True)
    thread.start()
    wait_for(lambda: server.request("GET", "/healthz")[2]["workers"]["busy"] == 1, "the loop on the worker")
    yield server
    # 404: the test cancelled it already.
    assert server.request("POST", "/v1/runs/hog/cancel")[0] in (202, 404)
    thread.join(60)
    server.wait_healthy(1)


def connect(server):
    host, port = server.url.split("//")[1].rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    return sock, sock.makefile("rb")


def read_answer(f):
    """(status, headers, body) of one HTTP/1.1 answer with a Content-Length."""
    status = int(f.readline().split()[1])
    headers = {}
    while (line := f.readline().rstrip(b"\r\n")):
        k, v = line.decode().split(":", 1)
        headers[k.strip()] = v.strip()
    body = f.read(int(headers["Content-Length"])) if "Content-Length" in headers else b""
    return status, headers, body


def head(length, *extra):
    lines = ["POST /v1/run HTTP/1.1", "Host: x", "Content-Type: application/json",
             f"Content-Length: {length}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def assert_queue_full(api, status, headers, body):
    answer = json.loads(body)
    api.validate("POST", "/v1/run", status, answer, headers)
    assert (status, answer["ok"], answer["error"]["code"]) == (503, False, "queue_full"), answer
    assert headers["Retry-After"] == "1"
    assert "Scopebox-Run-Id" not in headers  # refused: no run was started


def test_a_client_waiting_on_100_continue_gets_the_503_and_never_sends_its_body(full, api):
    sock, f = connect(full)
    with sock:
        # Before the fix the server said "100 Continue", read the 100 KB and
        # parsed them, and only then refused.
        sock.sendall(head(100_000, "Expect: 100-continue"))
        status, headers, body = read_answer(f)
        assert status != 100, "the server asked for the body of a run it refuses"
        assert_queue_full(api, status, headers, body)


def test_a_refused_body_is_not_parsed_and_its_connection_stays_usable(full, api):
    sock, f = connect(full)
    with sock:
        junk = b"this is not JSON, and nobody reads it"
        # Before the fix: 400 invalid_json, the body parsed before the queue was looked at.
        sock.sendall(head(len(junk)) + junk)
        assert_queue_full(api, *read_answer(f))
        # The dropped body was skipped exactly: the next request on this
        # connection is read from its first byte.
        assert full.request("POST", "/v1/runs/hog/cancel")[0] == 202
        wait_for(lambda: full.request("GET", "/healthz")[2]["workers"]["ready"] == 1, "the worker free")
        run = json.dumps({"code": "6 * 7", "mode": "eval"}).encode()
        sock.sendall(head(len(run)) + run)
        status, _, body = read_answer(f)
        assert (status, json.loads(body)["result"]) == (200, 42), body




BUSY_LINE = re.compile(r"POST /v1/run 503 x(\d+) in [\d.]+ s: refused from their headers")


def test_a_full_queues_refusals_are_logged_as_one_line_a_second_not_one_each(api):
    """In a flood most answers are these refusals, and an access line each
    was most of what one cost the host: they are counted instead. A server
    of its own, so that no other test's refusals are in the count."""
    with ScopeboxServer(*SERVER_ARGS) as server:
        with full_server(server):
            sock, f = connect(server)
            with sock:
                for _ in range(5):
                    sock.sendall(head(2) + b"{}")
                    assert_queue_full(api, *read_answer(f))
            # The count comes out within a second or so (the server's reaper).
            wait_for(lambda: sum(int(m.group(1)) for line in server.log_lines
                                 if (m := BUSY_LINE.search(line))) >= 5, "the refusals' summary line")
            assert sum(int(m.group(1)) for line in server.log_lines if (m := BUSY_LINE.search(line))) == 5
            # Before: one access line per refusal, "POST /v1/run 503 <bytes> run=- ...".
            assert not [line for line in server.log_lines if re.search(r"POST /v1/run 503 \d+ run=", line)]
            # Every other answer still has its access line.
            seen = len([line for line in server.log_lines if "GET /healthz 200" in line])
            assert server.request("GET", "/healthz")[0] == 200
            wait_for(lambda: len([line for line in server.log_lines if "GET /healthz 200" in line]) > seen,
                     "its access line")


def readable(sock):
    """Whether an answer (or an end) is waiting on `sock` right now."""
    return bool(select.select([sock], [], [], 0)[0])


def test_a_connection_that_asks_again_before_retry_after_gets_its_503_when_that_time_is_up(full, api):
    """A client that ignores Retry-After (asks again at once) gets the next
    refusal when its Retry-After is up, not at once: answered at once, a
    flood of such clients is a loop of refusals that takes the cores the
    workers need (tests/bench/http, flood.c). Every other client is
    answered as before, meanwhile too."""
    impatient, f = connect(full)
    other, g = connect(full)
    with impatient, other:
        impatient.sendall(head(2) + b"{}")
        assert_queue_full(api, *read_answer(f))  # the first refusal: at once
        impatient.sendall(head(2) + b"{}")
        # A client that did not just ignore a Retry-After is answered at
        # once, while the impatient one is still waiting for its answer.
        other.sendall(head(2) + b"{}")
        assert_queue_full(api, *read_answer(g))
        # Before: its 503 had come back as soon as it asked.
        assert not readable(impatient), "a retry that ignored Retry-After was refused at once"
        assert_queue_full(api, *read_answer(f))  # held, then refused, as the contract says
        # Nothing else is owed on it: the connection goes on as before.
        assert not readable(impatient)


def test_seventy_clients_leaving_at_once_leave_the_server_serving():
    """Clients of queued runs are watched for leaving (server/dispatch.c,
    watch_read). When 64 or more left at once (a load generator ending with
    its runs queued), the dispatcher read the same 64 hang-ups again and
    again and never served anything more: the next run was not answered."""
    body = json.dumps({"code": "import time\ntime.sleep(0.5)", "mode": "exec"}).encode()
    with ScopeboxServer("--workers", "1", "--queue-size", "100", "--max-connections-per-ip", "0") as server:
        server.wait_healthy(1)
        clients = [connect(server) for _ in range(70)]
        for sock, _ in clients:
            sock.sendall(head(len(body)) + body)
        wait_for(lambda: "scopebox_queue_length 69" in server.request("GET", "/metrics")[2],
                 "69 runs queued")
        for sock, f in clients:
            f.close()
            sock.close()
        status, _, answer = server.run({"code": "1 + 1", "mode": "eval"}, timeout=30)
        assert (status, answer["result"]) == (200, 2), answer
