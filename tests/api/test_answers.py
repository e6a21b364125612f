"""What the host adds to, and must not change in, a worker's answer: floats
come back as Python's repr writes them (the answer's bytes are forwarded,
not re-encoded), and a run's answer says which time limit applied."""
import json
import urllib.request

import pytest

LITERALS = ["0.1", "3.14159", "1e-7", "1e22", "-0.0", "5e-324", "2.5", "1.7976931348623157e308"]


def raw_post(server, path, body):
    req = urllib.request.Request(server.url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, r.read().decode()


def float_texts(raw):
    """The answer parsed with every float kept as the text it was written as."""
    return json.loads(raw, parse_float=lambda text: ("float", text))


def test_result_floats_are_pythons_repr(server):
    code = "[" + ", ".join(LITERALS) + "]"
    status, raw = raw_post(server, "/v1/run", {"code": code, "mode": "eval"})
    assert status == 200, raw
    got = [text for _, text in float_texts(raw)["result"]]
    assert got == [repr(float(x)) for x in LITERALS]
    # Byte for byte: the exact text of the answer, not only its values.
    assert '"result":[' + ",".join(repr(float(x)) for x in LITERALS) + "]" in raw


def test_request_floats_keep_their_value(server):
    # Into the worker and back: the value a client sent is the value Python
    # sees (its repr) and the value that comes back in `scope`.
    scope = {f"v{i}": float(x) for i, x in enumerate(LITERALS)}
    status, raw = raw_post(server, "/v1/run", {
        "code": "reprs = [repr(v) for v in (" + ", ".join(scope) + ",)]", "scope": scope})
    assert status == 200, raw
    body = float_texts(raw)
    assert body["scope"]["reprs"] == [repr(float(x)) for x in LITERALS]
    assert [body["scope"][k][1] for k in scope] == [repr(float(x)) for x in LITERALS]


def test_session_floats_are_pythons_repr(server):
    status, raw = raw_post(server, "/v1/sessions", {"scope": {"f": 0.1, "g": 1e22}})
    assert status == 201, raw
    body = float_texts(raw)
    try:
        assert body["scope"] == {"f": ("float", "0.1"), "g": ("float", "1e+22")}
        status, raw = raw_post(server, f"/v1/sessions/{body['id']}/run", {"code": "h = f * 3"})
        assert status == 200, raw
        assert float_texts(raw)["scope"]["h"] == ("float", repr(0.1 * 3))
    finally:
        server.request("DELETE", f"/v1/sessions/{body['id']}")


def test_host_members_appear_once(server):
    status, raw = raw_post(server, "/v1/run", {"code": "1", "mode": "eval"})
    pairs = json.loads(raw, object_pairs_hook=lambda kv: kv)
    keys = [k for k, _ in pairs]
    assert status == 200 and len(keys) == len(set(keys)), keys
    assert "type" not in keys and "id" not in keys
    assert keys.count("timing") == 1 and keys.count("limits") == 1


def test_limits_say_the_default_applied(server, api):
    status, headers, body = server.run({"code": "1", "mode": "eval"})
    api.validate("POST", "/v1/run", status, body, headers)
    assert body["limits"] == {"timeout_ms": 5000, "capped": False, "memory_mb": 256, "memory_capped": False,
                              "output_cap_bytes": 1048576, "output_capped": False}


def test_limits_say_a_timeout_was_capped(server, api):
    status, headers, body = server.run({"code": "1", "mode": "eval", "timeout_ms": 10 ** 9})
    api.validate("POST", "/v1/run", status, body, headers)
    assert body["limits"]["timeout_ms"] == 60000 and body["limits"]["capped"] is True


@pytest.mark.parametrize("ms", [2000, 4321, 60000])
def test_limits_say_the_requested_timeout_applied(server, ms):
    status, _, body = server.run({"code": "1", "mode": "eval", "timeout_ms": ms})
    assert status == 200, body
    assert (body["limits"]["timeout_ms"], body["limits"]["capped"]) == (ms, False)
