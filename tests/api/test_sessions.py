"""Sessions: a namespace kept between runs (as an image in the session store)."""
import time

from scopebox_server import ScopeboxServer


def create(server, **fields):
    status, headers, body = server.request("POST", "/v1/sessions", fields)
    assert status == 201, body
    assert headers["Location"] == "/v1/sessions/" + body["id"]
    return body["id"]


def test_state_persists_and_is_inspectable(server, api):
    sid = create(server, scope={"counter": 0})
    for expected in (1, 2, 3):
        status, _, b = server.request("POST", f"/v1/sessions/{sid}/run",
                                      {"code": "counter += 1\ncounter", "mode": "exec"})
        assert (status, b["result"]) == (200, expected), b
        api.validate("POST", "/v1/sessions/{id}/run", status, b)
    server.request("POST", f"/v1/sessions/{sid}/run", {"code": "import math\ndef f(): pass"})
    status, _, b = server.request("GET", f"/v1/sessions/{sid}")
    assert status == 200
    api.validate("GET", "/v1/sessions/{id}", status, b)
    assert b["scope"] == {"counter": 3}
    assert b["definitions"] == {"math": "module", "f": "function"}
    assert b["runs"] == 4
    status, _, b = server.request("DELETE", f"/v1/sessions/{sid}")
    assert (status, b) == (200, {"ok": True, "id": sid})
    status, _, b = server.request("GET", f"/v1/sessions/{sid}")
    assert (status, b["error"]["code"]) == (404, "session_not_found")


def test_run_field_session_is_the_same_as_the_session_route(server):
    sid = create(server)
    server.run({"code": "x = 5", "session": sid})
    status, _, b = server.run({"code": "x * 2", "mode": "eval", "session": sid})
    assert (status, b["result"]) == (200, 10)
    server.request("DELETE", f"/v1/sessions/{sid}")


def test_stateless_runs_never_see_session_state(server):
    sid = create(server, scope={"secret": "s3"})
    server.request("POST", f"/v1/sessions/{sid}/run", {"code": "import builtins\nbuiltins.planted = 1\nmore = 2"})
    for _ in range(4):
        status, _, b = server.run({"code": "[n for n in ('secret', 'more', 'planted') if n in globals() "
                                           "or hasattr(__import__('builtins'), n)]", "mode": "eval"})
        assert (status, b["result"]) == (200, []), b
    server.request("DELETE", f"/v1/sessions/{sid}")


def test_two_sessions_are_isolated(server):
    a, b = create(server), create(server)
    server.request("POST", f"/v1/sessions/{a}/run", {"code": "mine = 'a'"})
    status, _, body = server.request("POST", f"/v1/sessions/{b}/run", {"code": "'mine' in globals()", "mode": "eval"})
    assert (status, body["result"]) == (200, False)
    for sid in (a, b):
        server.request("DELETE", f"/v1/sessions/{sid}")


def test_past_max_sessions_a_new_session_gets_503_with_retry_after(server):
    ids = [create(server), create(server)]
    status, headers, body = server.request("POST", "/v1/sessions", {})
    assert status == 503 and body["error"]["code"] == "too_many_sessions"
    assert headers.get("Retry-After")
    for sid in ids:
        server.request("DELETE", f"/v1/sessions/{sid}")
    assert server.request("DELETE", f"/v1/sessions/{ids[0]}")[0] == 404


def test_idle_session_expires():
    with ScopeboxServer("--workers", "1", "--max-sessions", "1", "--session-ttl-ms", "1500") as s:
        s.wait_healthy(1)
        sid = create(s)
        assert s.request("GET", f"/v1/sessions/{sid}")[0] == 200
        time.sleep(3)
        status, _, body = s.request("GET", f"/v1/sessions/{sid}")
        assert (status, body["error"]["code"]) == (404, "session_not_found")
        assert "expired" in body["error"]["message"] or sid in body["error"]["message"]
        # the slot is free again
        sid2 = create(s)
        s.request("DELETE", f"/v1/sessions/{sid2}")


def test_reading_a_session_restarts_its_idle_ttl():
    with ScopeboxServer("--workers", "1", "--max-sessions", "1", "--session-ttl-ms", "1500") as s:
        s.wait_healthy(1)
        sid = create(s)
        for _ in range(6):  # 3 s in all, twice the TTL, but never 1.5 s idle
            time.sleep(0.5)
            assert s.request("GET", f"/v1/sessions/{sid}")[0] == 200
        s.request("DELETE", f"/v1/sessions/{sid}")
