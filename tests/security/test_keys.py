"""API keys (issue 12, finding 9): with --api-keys-file every route but
/healthz and the playground needs a bearer key, a session belongs to the key
that made it, each key has a limit on runs and on sessions, and SIGHUP
reloads the file. Off by default."""
import json
import signal
import threading
import time
import urllib.error
import urllib.request

import pytest

from openapi_check import OpenApi
from scopebox_server import ALICE, BOB, ScopeboxServer, keyed_server

CAROL = "carol-00000000000000000000000000"
SLOW = "import time\nt = time.monotonic()\nwhile time.monotonic() - t < 4:\n    pass\n'slow'"


def auth(key):
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def api():
    return OpenApi.load()


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    # Comments, blank lines, odd spacing and per-key limits, as a real file has.
    keys = ("# name key limits\n"
            f"alice {ALICE} runs=1 sessions=1\n"
            "\n"
            f"  bob\t{BOB}   sessions=2\n")
    with keyed_server(tmp_path_factory.mktemp("keys"), "--max-sessions", "3", keys=keys, workers=2) as s:
        yield s


def test_healthz_and_playground_need_no_key(keyed):
    assert keyed.request("GET", "/healthz")[0] == 200
    status, headers, _ = keyed.request("GET", "/")
    assert status == 200 and "html" in headers["Content-Type"]


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/v1/run", {"code": "1"}),
    ("POST", "/v1/sessions", {}),
    ("GET", "/v1/sessions/0123456789abcdef0123456789abcdef", None),
    ("DELETE", "/v1/sessions/0123456789abcdef0123456789abcdef", None),
    ("POST", "/v1/sessions/0123456789abcdef0123456789abcdef/run", {"code": "1"}),
    ("GET", "/v1/openapi.json", None),
    ("GET", "/metrics", None),
    ("GET", "/v1/nothing-here", None),
    ("PUT", "/v1/run", None),
])
def test_every_api_route_needs_a_key(keyed, api, method, path, body):
    for headers in ({}, auth("x" * 32), {"Authorization": f"Basic {ALICE}"}, auth(ALICE[:-1])):
        status, rh, answer = keyed.request(method, path, body, headers=headers)
        assert status == 401, (headers, answer)
        assert answer["error"]["code"] == "unauthorized"
        assert rh["WWW-Authenticate"].startswith("Bearer")
        if path == "/v1/run":
            api.validate("POST", "/v1/run", status, answer, rh)


def test_a_valid_key_runs(keyed, api):
    status, headers, body = keyed.run({"code": "6 * 7", "mode": "eval"}, headers=auth(BOB))
    api.validate("POST", "/v1/run", status, body, headers)
    assert (status, body["result"]) == (200, 42)
    assert keyed.request("GET", "/v1/openapi.json", headers=auth(ALICE))[0] == 200
    assert keyed.request("GET", "/metrics", headers=auth(ALICE))[0] == 200


def test_a_session_belongs_to_its_key(keyed, api):
    status, _, body = keyed.request("POST", "/v1/sessions", {"scope": {"n": 1}}, headers=auth(BOB))
    assert status == 201, body
    sid = body["id"]
    try:
        for method, path, b in (("GET", f"/v1/sessions/{sid}", None),
                                ("POST", f"/v1/sessions/{sid}/run", {"code": "n"}),
                                ("POST", "/v1/run", {"code": "n", "session": sid}),
                                ("DELETE", f"/v1/sessions/{sid}", None)):
            status, headers, answer = keyed.request(method, path, b, headers=auth(ALICE))
            assert status == 404, (method, path, answer)
            assert answer["error"]["code"] == "session_not_found"
            # Indistinguishable from an id that never existed.
            assert sid in answer["error"]["message"] and "never created" in answer["error"]["message"]
        status, _, answer = keyed.request("POST", f"/v1/sessions/{sid}/run",
                                          {"code": "n + 1", "mode": "eval"}, headers=auth(BOB))
        assert (status, answer["result"]) == (200, 2)
    finally:
        assert keyed.request("DELETE", f"/v1/sessions/{sid}", headers=auth(BOB))[0] == 200


def test_a_key_has_a_session_limit(keyed, api):
    status, _, first = keyed.request("POST", "/v1/sessions", {}, headers=auth(ALICE))
    assert status == 201, first
    try:
        status, headers, body = keyed.request("POST", "/v1/sessions", {}, headers=auth(ALICE))
        api.validate("POST", "/v1/sessions", status, body, headers)
        assert status == 429 and body["error"]["code"] == "key_session_limit", body
        assert "Retry-After" in headers
        # Another key still gets one.
        status, _, other = keyed.request("POST", "/v1/sessions", {}, headers=auth(BOB))
        assert status == 201, other
        keyed.request("DELETE", f"/v1/sessions/{other['id']}", headers=auth(BOB))
    finally:
        keyed.request("DELETE", f"/v1/sessions/{first['id']}", headers=auth(ALICE))
    # Once it ended, the key may start another.
    status, _, again = keyed.request("POST", "/v1/sessions", {}, headers=auth(ALICE))
    assert status == 201, again
    keyed.request("DELETE", f"/v1/sessions/{again['id']}", headers=auth(ALICE))


def test_a_key_has_a_run_limit(keyed, api):
    slow = {}
    t = threading.Thread(target=lambda: slow.update(
        r=keyed.run({"code": SLOW, "timeout_ms": 20000}, headers=auth(ALICE))))
    t.start()
    try:
        deadline = time.monotonic() + 30
        while keyed.request("GET", "/healthz")[2]["workers"]["busy"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        status, headers, body = keyed.run({"code": "1"}, headers=auth(ALICE))
        api.validate("POST", "/v1/run", status, body, headers)
        assert status == 429 and body["error"]["code"] == "key_run_limit", body
        assert "Retry-After" in headers
        # The other key is not held up by alice's limit.
        status, _, body = keyed.run({"code": "2", "mode": "eval"}, headers=auth(BOB))
        assert (status, body["result"]) == (200, 2)
    finally:
        t.join()
    assert slow["r"][0] == 200 and slow["r"][2]["result"] == "slow"
    # The slot is given back when the run is done.
    status, _, body = keyed.run({"code": "3", "mode": "eval"}, headers=auth(ALICE))
    assert (status, body["result"]) == (200, 3)


def test_sighup_reloads_the_keys(keyed):
    original = keyed.keys_path.read_text()
    try:
        keyed.keys_path.write_text(f"carol {CAROL}\nbob {BOB}\n")
        keyed.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while keyed.run({"code": "1"}, headers=auth(CAROL))[0] != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert keyed.run({"code": "1"}, headers=auth(ALICE))[0] == 401
        assert keyed.run({"code": "1"}, headers=auth(BOB))[0] == 200
        # A file that no longer parses keeps the keys in force.
        keyed.keys_path.write_text("carol short\n")
        keyed.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "NOT reloaded" not in keyed.log():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert keyed.run({"code": "1"}, headers=auth(CAROL))[0] == 200
        assert "short" not in keyed.log()  # a key is never echoed
    finally:
        keyed.keys_path.write_text(original)
        keyed.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while keyed.run({"code": "1"}, headers=auth(ALICE))[0] != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)


@pytest.mark.parametrize("text,why", [
    ("", "no keys"),
    ("# only a comment\n", "no keys"),
    ("alice\n", "line 1"),
    ("alice short\n", "line 1"),
    (f"alice {ALICE}\nalice {BOB}\n", "line 2"),
    (f"alice {ALICE}\nbob {ALICE}\n", "line 2"),
    (f"alice {ALICE} runs=many\n", "runs=N"),
    (f"ali ce {ALICE}\n", "line 1"),
])
def test_a_bad_keys_file_stops_the_server(tmp_path, text, why):
    path = tmp_path / "keys"
    path.write_text(text)
    with pytest.raises(RuntimeError) as e:
        with ScopeboxServer("--workers", "1", "--api-keys-file", str(path), ready_timeout=30):
            pass
    assert why in str(e.value)
    assert ALICE not in str(e.value) and BOB not in str(e.value)


def test_keys_are_off_by_default():
    with ScopeboxServer("--workers", "1", "--max-sessions", "1") as s:
        s.wait_healthy(1)
        status, _, body = s.run({"code": "1 + 1", "mode": "eval"})
        assert (status, body["result"]) == (200, 2)
