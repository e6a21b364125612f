"""The walking skeleton end to end: HTTP -> C server -> worker -> Pyodide."""
import http.client
import json
import os
import re
import signal
import time

from proc_cpu import cpu_seconds


def test_eval_returns_value(server):
    status, _, body = server.run({"code": "x*2", "mode": "eval", "scope": {"x": 21}})
    assert status == 200, body
    assert body["ok"] is True
    assert body["result"] == 42
    assert body["error"] is None
    assert body["scope"] == {"x": 21}
    for key in ("stdout", "stderr", "timing"):
        assert key in body


def test_form_encoded_body_is_refused(server):
    # `curl -d` without -H sends application/x-www-form-urlencoded: the contract
    # takes JSON only, so that is a 415 with the media type named, not a run.
    status, _, body = server.request(
        "POST", "/v1/run", b'{"code":"x*2","mode":"eval","scope":{"x":21}}',
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415, body
    assert body["error"]["code"] == "unsupported_media_type"
    assert "application/json" in body["error"]["message"]


def test_body_without_content_type_is_read_as_json(server):
    # A bare client that labels nothing is taken at its word (documented).
    # http.client, since urllib labels every body it sends as a form.
    host, port = server.url.rsplit("/", 1)[1].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.putrequest("POST", "/v1/run", skip_accept_encoding=True)
    data = b'{"code":"x*2","mode":"eval","scope":{"x":21}}'
    conn.putheader("Content-Length", str(len(data)))
    conn.endheaders(data)
    r = conn.getresponse()
    body = json.loads(r.read())
    conn.close()
    assert (r.status, body["result"]) == (200, 42)


def test_exec_prints_and_returns_last_expression(server):
    code = "import math\ny = [i * i for i in range(4)]\nprint('hi', sum(y))\ny[-1] + n"
    status, _, body = server.run({"code": code, "mode": "exec", "scope": {"n": 1}})
    assert status == 200, body
    assert body["ok"] is True
    assert body["stdout"] == "hi 14\n"
    assert body["result"] == 10
    assert body["scope"]["y"] == [0, 1, 4, 9]
    assert "math" not in body["scope"]


def test_exec_without_final_expression_has_null_result(server):
    status, _, body = server.run({"code": "z = 5", "mode": "exec"})
    assert (status, body["ok"], body["result"], body["scope"]) == (200, True, None, {"z": 5})


def test_syntax_error_is_data(server):
    status, _, body = server.run({"code": "x = (1,\ny = 2\n", "mode": "exec"})
    assert status == 200
    assert body["ok"] is False
    assert body["error"]["type"] == "SyntaxError"
    assert isinstance(body["error"]["line"], int)


def test_runtime_error_names_line(server):
    status, _, body = server.run({"code": "a = 1\nb = a + missing\n", "mode": "exec"})
    assert status == 200
    assert body["ok"] is False
    assert body["error"]["type"] == "NameError"
    assert body["error"]["line"] == 2
    assert "missing" in body["error"]["message"]


def test_dynscope_is_importable_from_the_side_module(server):
    code = ("import dynscope\n"
            "def callee():\n    return dynscope.get('user')\n"
            "with dynscope.bind(user='ada'):\n    seen = callee()\n"
            "[dynscope.__file__, dynscope.__version__, seen, dynscope.get('user', 'unbound')]")
    status, _, body = server.run({"code": code, "mode": "exec"})
    assert status == 200, body
    path, version, seen, after = body["result"]
    assert path.endswith("/dynscope.abi3.so")
    assert version
    assert (seen, after) == ("ada", "unbound")


def test_bad_requests_get_400_and_server_keeps_serving(server):
    cases = [
        (b"{not json", "invalid_json"),
        ({"mode": "eval"}, "missing_field"),
        ({"code": "1", "mode": "run"}, "invalid_value"),
        ({"code": 1, "mode": "eval"}, "invalid_type"),
        ({"code": "1", "mode": "eval", "bogus": 1}, "unknown_field"),
        (b"[1, 2]", "invalid_request"),
    ]
    for payload, code in cases:
        status, _, body = server.run(payload, headers={"Content-Type": "application/json"})
        assert status == 400, (payload, body)
        assert body["ok"] is False
        assert body["error"]["code"] == code, (payload, body)
        assert body["error"]["message"]
    status, _, body = server.run({"code": "1+1", "mode": "eval"})
    assert (status, body["result"]) == (200, 2)


def test_unknown_route_and_wrong_method(server):
    status, _, body = server.request("GET", "/v1/nope")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, headers, body = server.request("GET", "/v1/run")
    assert status == 405 and body["error"]["code"] == "method_not_allowed"
    assert "POST" in headers.get("Allow", "")


def test_healthz_counts_every_worker(server):
    status, _, body = server.request("GET", "/healthz")
    assert status == 200
    assert body["ok"] is True
    assert body["workers"]["total"] == 2


def test_idle_server_sleeps(server):
    # With nothing to do, the dispatcher must block in poll() until a timer
    # or an event: an empty session slot once made it spin at 100% of a core.
    # The server's own threads only (its workers are other processes).
    status, _, _ = server.run({"code": "1", "mode": "eval"})
    assert status == 200
    time.sleep(0.5)
    before = cpu_seconds(server.proc.pid)
    time.sleep(3)
    used = cpu_seconds(server.proc.pid) - before
    assert used < 0.3, f"an idle server used {used:.2f} s of CPU in 3 s"


def test_one_clients_runs_keep_to_one_worker(server):
    # A stateless worker answers once it is reset, and a run goes to the
    # worker idle the shortest (server/dispatch.c, pick_slot): one client's
    # runs, one after another, land on the one worker whose caches are warm.
    # Answering before the reset, with the longest idle worker first, sent
    # them to the two workers in turn, each run at twice the CPU.
    access = re.compile(r"POST /v1/run 200 .* worker=(\d+)")
    seen = len(server.log_lines)
    for _ in range(20):
        status, _, body = server.run({"code": "x*2", "mode": "eval", "scope": {"x": 21}})
        assert (status, body["result"]) == (200, 42), body
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        workers = [m.group(1) for m in map(access.search, server.log_lines[seen:]) if m]
        if len(workers) == 20:
            break
        time.sleep(0.05)
    assert len(workers) == 20, server.log()
    assert len(set(workers)) == 1, workers


def test_killed_idle_worker_is_replaced(server):
    victims = server.worker_pids()
    assert len(victims) == 2
    os.kill(victims[0], signal.SIGKILL)
    # Requests keep succeeding: on the surviving worker at once, and the
    # pool is back to full strength once the replacement has booted.
    for _ in range(4):
        status, _, body = server.run({"code": "6*7", "mode": "eval"})
        assert (status, body["result"]) == (200, 42), body
    server.wait_healthy(2)
    deadline = time.monotonic() + 60
    while victims[0] in server.worker_pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert victims[0] not in server.worker_pids()
    assert len(server.worker_pids()) == 2
