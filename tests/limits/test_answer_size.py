"""One byte budget for the whole answer (issue 12 §4): every string the
worker emits counts (keys, names, type names, messages, output), cuts are
marked, and no answer makes a worker die or an answer exceed the budget.
Also: a MemoryError is the snippet's own error, and the output cap counts
bytes."""
import json
import urllib.request

import pytest

from scopebox_server import ScopeboxServer

ANSWER_BYTES = 8 * 1024 * 1024  # PROTOCOL.md, "Answer size"
SLACK = 1024  # what the host adds (`timing`)


# What these runs build is huge (a million globals took 27 s alone on a
# 2-core machine, and past 60 s beside the rest of the suite): the limit is
# not what they test.
RUN_LIMIT_MS = 300000


@pytest.fixture(scope="module")
def server():
    with ScopeboxServer("--workers", "2", "--output-cap-bytes", "65536",
                        "--max-timeout-ms", str(RUN_LIMIT_MS)) as s:
        s.wait_healthy(2)
        yield s


def run_raw(server, code, **fields):
    body = json.dumps({"code": code, "mode": "exec", "timeout_ms": RUN_LIMIT_MS, **fields}).encode()
    req = urllib.request.Request(server.url + "/v1/run", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=RUN_LIMIT_MS / 1000 + 60) as r:
        raw = r.read()
        assert r.status == 200
    return len(raw), json.loads(raw)


def still_serves(server):
    server.wait_healthy(2, timeout=60)
    size, out = run_raw(server, "1 + 1")
    assert out["ok"] and out["result"] == 2, out


BIG = {
    "dict with a 30 MB key": "{'k' * 30_000_000: 1}",
    "class with a huge __name__": "C = type('C' * 30_000_000, (), {})\nobj = C()\nobj",
    "exception with a 30 MB message": "raise ValueError('m' * 30_000_000)",
    "dynamic binding with a huge name": "import dynscope\nwith dynscope.bind({'n' * 30_000_000: 1}):\n"
                                        "    s = dynscope.snapshot()\ns",
    "many 64 KiB strings": "big = ['%05d' % i + 'x' * 65530 for i in range(300)]",
    "many large dicts": "d = [{'k' * 60000 + str(i): 'v' * 60000 for i in range(50)} for _ in range(20)]",
}


@pytest.mark.parametrize("case", list(BIG))
def test_answer_within_budget(server, case):
    size, out = run_raw(server, BIG[case])
    assert size <= ANSWER_BYTES + SLACK, (case, size)
    text = json.dumps(out)
    marked = out["truncated"]["answer"] or out["truncated"]["names"] > 0 or "more characters]" in text or \
        '"truncated": true' in text
    assert marked, out["truncated"]
    still_serves(server)


def test_a_million_globals_with_long_names(server):
    code = "g = globals()\nfor i in range(10**6):\n    g['a_rather_long_global_name_%07d' % i] = i"
    size, out = run_raw(server, code)
    assert size <= ANSWER_BYTES + SLACK, size
    assert out["ok"], out["error"]
    assert out["truncated"]["answer"] is True
    kept = len(out["scope"]) + len(out["changes"]["added"])
    assert out["truncated"]["names"] > 0 and kept + out["truncated"]["names"] >= 2 * 10**6, out["truncated"]
    still_serves(server)


def test_huge_global_name_is_left_out_and_counted(server):
    size, out = run_raw(server, "globals()['n' * 30_000_000] = 1\nsmall = 2")
    assert size <= ANSWER_BYTES + SLACK and out["ok"], size
    assert out["scope"] == {"small": 2} and out["changes"]["added"] == ["small"], out["scope"]
    assert out["truncated"]["names"] == 2, out["truncated"]  # from scope and from changes.added
    still_serves(server)


def test_memory_error_is_the_snippets_own(server):
    size, out = run_raw(server, "keep = []\nwhile True:\n    keep.append('x' * 10**6)")
    assert out["ok"] is False and out["error"]["type"] == "MemoryError", out["error"]
    assert out["error"]["line"] == 3 and out["error"]["source"] == "    keep.append('x' * 10**6)", out["error"]
    assert "while reporting" not in out["error"]["message"]
    still_serves(server)


def test_output_cap_counts_bytes(server):
    size, out = run_raw(server, "print('é' * 100000)")
    assert out["truncated"]["stdout"] is True
    assert 65536 - 2 <= len(out["stdout"].encode("utf-8")) <= 65536, len(out["stdout"].encode())
    size, out = run_raw(server, "print('€' * 21845, end='')")  # 65535 bytes: fits
    assert out["truncated"]["stdout"] is False and len(out["stdout"]) == 21845


def test_session_read_is_within_budget(server):
    status, _, s = server.request("POST", "/v1/sessions", {})
    assert status == 201, s
    try:
        status, _, out = server.request("POST", f"/v1/sessions/{s['id']}/run",
                                        {"code": "globals()['n' * 30_000_000] = 1\nkeys = {'k' * 30_000_000: 2}\nsmall = 3"},
                                        timeout=120)
        assert status == 200 and out["ok"], out
        req = urllib.request.Request(server.url + f"/v1/sessions/{s['id']}")
        with urllib.request.urlopen(req, timeout=120) as r:
            raw = r.read()
        assert len(raw) <= 2 * 65536 + SLACK, len(raw)  # the key cut to 64 KiB, the name left out
        body = json.loads(raw)
        assert body["scope"]["small"] == 3 and body["scope"]["keys"]["$type"] == "dict", body["scope"].keys()
    finally:
        server.request("DELETE", f"/v1/sessions/{s['id']}")
