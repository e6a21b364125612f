"""Per-run limits (issue 15, section 7): `memory_mb` and `output_cap_bytes`,
each at most the server's, enforced by the worker for that run and
reported in the answer's `limits` with whether the server capped it."""
import json


ALLOC = "x = bytearray({} * 2**20)\nlen(x)"


# One worker: every run below lands on the same (growing) heap.
SERVER_ARGS = ("--workers", "1", "--worker-heap-mb", "256", "--output-cap-bytes", "1000")


def test_a_run_gets_the_servers_limits_by_default(server, api):
    status, headers, body = server.run({"code": ALLOC.format(100), "return": []})
    api.validate("POST", "/v1/run", status, body, headers)
    assert body["result"] == 100 * 2**20, body
    assert body["limits"] == {"timeout_ms": 5000, "capped": False, "memory_mb": 256, "memory_capped": False,
                              "output_cap_bytes": 1000, "output_capped": False}


def test_memory_mb_limits_the_run_even_on_a_heap_an_earlier_run_grew(server, api):
    # The heap grew to 100+ MiB above; it never shrinks, so only a limit on
    # what malloc may take (not on heap growth) can stop this one.
    status, _, body = server.run({"code": ALLOC.format(100), "return": []})
    assert body["ok"], body
    status, headers, body = server.run({"code": ALLOC.format(80), "memory_mb": 64, "return": []})
    api.validate("POST", "/v1/run", status, body, headers)
    assert status == 200 and body["error"]["type"] == "MemoryError", body
    assert (body["limits"]["memory_mb"], body["limits"]["memory_capped"]) == (64, False)
    # The limit was the run's own: the next run has the server's again.
    status, _, body = server.run({"code": ALLOC.format(80), "return": []})
    assert body["result"] == 80 * 2**20, body


def test_memory_mb_below_what_a_run_needs_lets_it_run(server):
    status, _, body = server.run({"code": ALLOC.format(20), "memory_mb": 64, "return": []})
    assert body["result"] == 20 * 2**20, body


def test_memory_mb_above_the_servers_is_capped(server, api):
    status, headers, body = server.run({"code": "1", "mode": "eval", "memory_mb": 10**6})
    api.validate("POST", "/v1/run", status, body, headers)
    assert body["result"] == 1 and (body["limits"]["memory_mb"], body["limits"]["memory_capped"]) == (256, True)


def test_a_session_run_has_its_own_memory_limit(server):
    _, _, session = server.request("POST", "/v1/sessions", {})
    path = f"/v1/sessions/{session['id']}/run"
    try:
        status, _, body = server.request("POST", path, {"code": "keep = 1\n" + ALLOC.format(80), "memory_mb": 64,
                                                        "return": []})
        assert body["error"]["type"] == "MemoryError", body
        status, _, body = server.request("POST", path, {"code": ALLOC.format(80), "return": []})
        assert body["result"] == 80 * 2**20, body
    finally:
        server.request("DELETE", f"/v1/sessions/{session['id']}")


def test_output_cap_bytes_cuts_the_runs_output(server, api):
    code = "import sys\nprint('é' * 10)\nprint('warn', file=sys.stderr)"
    status, headers, body = server.run({"code": code, "output_cap_bytes": 5})
    api.validate("POST", "/v1/run", status, body, headers)
    # Cut on a character boundary: 'é' is two bytes.
    assert (body["stdout"], body["stderr"]) == ("éé", "warn\n"), body
    assert body["truncated"]["stdout"] is True and body["truncated"]["stderr"] is False
    assert (body["limits"]["output_cap_bytes"], body["limits"]["output_capped"]) == (5, False)


def test_output_cap_bytes_above_the_servers_is_capped(server):
    status, _, body = server.run({"code": "print('x' * 5000)", "output_cap_bytes": 10**9})
    assert body["stdout"] == "x" * 1000 and body["truncated"]["stdout"] is True
    assert (body["limits"]["output_cap_bytes"], body["limits"]["output_capped"]) == (1000, True)


def test_output_cap_bytes_zero_keeps_nothing(server):
    status, _, body = server.run({"code": "print('hidden')", "output_cap_bytes": 0})
    assert body["stdout"] == "" and body["truncated"]["stdout"] is True
