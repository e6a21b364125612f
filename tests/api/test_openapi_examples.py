"""Every request example in server/openapi.yaml, sent to the running server;
every answer validated against the documented schema for its status."""
import json
import os

import pytest
import yaml

from openapi_check import SPEC, OpenApi

EXAMPLES = list(OpenApi.load().request_examples())

# What each example must show beyond matching the schema.
EXPECT = {
    "eval": lambda b: b["result"] == 42,
    "notebook_cell": lambda b: b["result"] == 8.0 and b["stdout"] == "root 4.0\n"
    and b["definitions"] == {"math": "module"} and "math" not in b["scope"],
    "nested_comprehension": lambda b: b["result"] == [
        {"$type": "tuple", "items": [x, y]} for x in (0, 1) for y in ("a", "b")],
    "class_body": lambda b: b["result"] == 42,
    "mutated_value": lambda b: b["scope"] == {"settings": {"debug": True, "pi": 3.14}}
    and b["changes"] == {"added": ["math"], "changed": ["settings"], "removed": []},
    "dynamic_fallback": lambda b: b["stdout"] == "  top\n    nested\n"
    and b["dynamic"]["final"][0]["bindings"] == {"indent": "  "},
    "snapshot": lambda b: [f["bindings"] for f in b["dynamic"]["returned"]]
    == [{"user": "ada"}, {"request_id": "r-1"}],
    "snapshots_in_order": lambda b: b["result"] == "hello, ada!" and [
        (s["line"], s["function"], [f["bindings"] for f in s["frames"]]) for s in b["dynamic"]["snapshots"]]
    == [(3, "greet", [{"user": "ada"}, {"greeting": "hello"}]), (7, "<module>", [{"greeting": "hello"}])],
    "tagged_values": lambda b: b["result"] == {"$type": "tuple", "items": [
        {"$type": "int", "value": "123456789012345678901234567891"}, ["a", "b"],
        {"$type": "bytes", "base64": "AgEA"}]},
    "return_names": lambda b: b["scope"] == {"b": [1, 1, 1], "json": {
        "$type": "module", "repr": b["scope"]["json"]["repr"]}} and b["definitions"] == {},
    "syntax_error": lambda b: not b["ok"] and b["error"]["type"] == "SyntaxError" and b["error"]["line"] == 1,
    "runtime_error": lambda b: not b["ok"] and b["error"]["type"] == "ZeroDivisionError"
    and b["error"]["line"] == 2 and b["error"]["source"] == "    return a / b"
    and [f["line"] for f in b["error"]["traceback"]] == [3, 2],
    "raised_dynamic": lambda b: not b["ok"] and [f["bindings"] for f in b["error"]["dynamic"]]
    == [{"limit": 2}, {"depth": 3}, {"request_id": "r-7"}]
    and [f["function"] for f in b["error"]["dynamic"]] == ["check", "<module>", "<request>"],
    "chained_error": lambda b: not b["ok"] and b["error"]["type"] == "KeyError"
    and (b["error"]["line"], b["error"]["column"], b["error"]["end_column"]) == (4, 5, 36)
    and b["error"]["cause"]["type"] == "ValueError" and b["error"]["cause"]["line"] == 2
    and "The above exception was the direct cause" in b["error"]["text"],
    "exact_changes": lambda b: b["changes"] == {"added": [], "changed": ["flag"], "removed": []},
    "timeout": lambda b: b["error"]["code"] == "timeout",
    "capped_timeout": lambda b: b["result"] == 2 and (b["limits"]["timeout_ms"], b["limits"]["capped"]) == (60000, True),
    "memory_mb": lambda b: not b["ok"] and b["error"]["type"] == "MemoryError"
    and (b["limits"]["memory_mb"], b["limits"]["memory_capped"]) == (64, False),
    "output_cap": lambda b: b["stdout"] == "abc" and b["truncated"]["stdout"] is True
    and (b["limits"]["output_cap_bytes"], b["limits"]["output_capped"]) == (3, False),
    # Values here; the exact text (0.1, 1e-07, -0.0, 5e-324) is tests/api/test_answers.py's.
    "floats": lambda b: b["result"] == [0.1, 1e-7, -0.0, 5e-324] and str(b["result"][2]) == "-0.0",
    "timeout_keeps_output": lambda b: b["error"]["code"] == "timeout" and b["error"]["stopped_by"] == "interrupt"
    and b["stdout"] == "working\n" and b["scope"]["n"] > 0 and b["error"]["line"] in (3, 4),
    "top_level_await": lambda b: b["ok"] and b["result"] == [0, 1, 4, 9],
    "pending_task": lambda b: b["ok"] and b["tasks_cancelled"] == 1 and b["stdout"] == "cancelled\n",
    "exit_code": lambda b: not b["ok"] and b["error"]["type"] == "SystemExit"
    and b["error"]["exit_code"] == 3 and b["stdout"] == "bye\n",
    "run_id": lambda b: b["result"] == 42 and b["run_id"] == "cell-42",
    "ordered_output": lambda b: b["output"] == [{"stream": "stdout", "text": "start\n"},
                                                {"stream": "stderr", "text": "warning\n"},
                                                {"stream": "stdout", "text": "done\n"}]
    and b["stdout"] == "start\ndone\n" and b["stderr"] == "warning\n",
    "stdin": lambda b: b["result"] == {"$type": "tuple", "items": ["ada", ["1", "2", "3"]]}
    and b["stdout"] == "name? hello ada\n",
    "files_in_and_out": lambda b: b["ok"] and b["files"] == [
        {"path": "/tmp/raw.bin", "size": 2, "base64": "AP8="}, {"path": "out/total.txt", "size": 1, "text": "3"}],
    "session_files": lambda b: b["ok"] and b["result"] == "first entry\n"
    and b["files"] == [{"path": "log.txt", "size": 12, "text": "first entry\n"}],
    "empty": lambda b: b["scope"] == {},
    "with_scope": lambda b: b["scope"] == {"counter": 0},
    "increment": lambda b: b["result"] == 1,
    "import_refused": lambda b: b["error"]["code"] == "invalid_image",
    "initialize": lambda b: b["result"]["protocolVersion"] == "2025-11-25"
    and "tools" in b["result"]["capabilities"],
    "tools_list": lambda b: [t["name"] for t in b["result"]["tools"]]
    == ["run_python", "session_start", "session_run", "session_fork", "session_list", "session_end"],
    "call_run_python": lambda b: b["result"]["structuredContent"]["result"] == 42
    and b["result"]["isError"] is False and b["result"]["content"][0]["text"] == "result: 42\n",
    "call_snippet_error": lambda b: b["result"]["isError"] is True
    and b["result"]["structuredContent"]["error"]["type"] == "ZeroDivisionError",
    "call_with_progress_token": lambda b: b["result"]["structuredContent"]["stdout"] == "working\n"
    and b["result"]["isError"] is False,
    "unknown_method": lambda b: b["error"]["code"] == -32601,
    "batch": lambda b: [m["id"] for m in b] == [6, 7] and b[1]["result"]["structuredContent"]["result"] == 4,
}


def test_every_example_has_an_expectation():
    assert {name for _, _, name, _ in EXAMPLES} == set(EXPECT)


def test_served_document_is_the_spec(server):
    status, _, body = server.request("GET", "/v1/openapi.json")
    assert status == 200
    with open(SPEC, encoding="utf-8") as f:
        assert body == json.loads(json.dumps(yaml.safe_load(f)))


@pytest.mark.parametrize("method,path,name,value", EXAMPLES, ids=[e[2] for e in EXAMPLES])
def test_every_openapi_example_gets_the_answer_it_documents(server, api, method, path, name, value):
    url = path
    if "{id}" in path:
        status, _, session = server.request("POST", "/v1/sessions", {})
        assert status == 201, session
        url = path.replace("{id}", session["id"])
    status, headers, body = server.request(method, url, value)
    api.validate(method, path, status, body, headers)
    assert EXPECT[name](body), json.dumps(body, indent=1)
    if "{id}" in path:
        server.request("DELETE", "/v1/sessions/" + session["id"])
    elif path == "/v1/sessions" and status == 201:
        server.request("DELETE", "/v1/sessions/" + body["id"])
