"""The bad-input table: each row a real request, each answer a stable error
code, a message naming the field, the documented status and schema; the
server keeps serving after every one."""
import json

import pytest


MIB = 1024 * 1024
# Bodies up to 12 MiB, so that the bounds inside a body (stdin, files) are
# reached before the body's own.
BODY_MAX = 12 * MIB
J = {"Content-Type": "application/json"}


def body(**fields):
    return json.dumps(fields).encode()


# (id, method, path, headers, raw body, status, code, text the message names)
ROWS = [
    ("malformed_json", "POST", "/v1/run", J, b'{"code": "1",', 400, "invalid_json", "JSON"),
    ("trailing_garbage", "POST", "/v1/run", J, b'{"code": "1"} x', 400, "invalid_json", "JSON"),
    ("empty_body", "POST", "/v1/run", J, b"", 400, "invalid_json", "empty"),
    ("deep_nesting", "POST", "/v1/run", J, b'{"code":"1","scope":{"a":' + b"[" * 5000 + b"]" * 5000 + b"}}",
     400, "invalid_json", "JSON"),
    ("duplicate_key", "POST", "/v1/run", J, b'{"code": "1", "code": "2"}', 400, "invalid_json", "code"),
    ("non_utf8", "POST", "/v1/run", J, b'{"code": "\xff\xfe"}', 400, "invalid_encoding", "UTF-8"),
    ("not_an_object", "POST", "/v1/run", J, b"[1, 2]", 400, "invalid_request", "object"),
    ("missing_code", "POST", "/v1/run", J, body(mode="eval"), 400, "missing_field", "code"),
    ("code_not_string", "POST", "/v1/run", J, body(code=1), 400, "invalid_type", "code"),
    ("empty_code", "POST", "/v1/run", J, body(code=""), 400, "invalid_value", "code"),
    ("code_with_nul", "POST", "/v1/run", J, body(code="x = 1\u0000"), 400, "invalid_value", "code"),
    ("bad_mode", "POST", "/v1/run", J, body(code="1", mode="run"), 400, "invalid_value", "mode"),
    ("mode_not_string", "POST", "/v1/run", J, body(code="1", mode=1), 400, "invalid_type", "mode"),
    ("scope_not_object", "POST", "/v1/run", J, body(code="1", scope=[1]), 400, "invalid_type", "scope"),
    ("scope_name_not_identifier", "POST", "/v1/run", J, body(code="1", scope={"a-b": 1}), 400, "invalid_name", "scope"),
    ("scope_name_keyword", "POST", "/v1/run", J, body(code="1", scope={"class": 1}), 400, "invalid_name", "scope"),
    ("scope_name_dunder", "POST", "/v1/run", J, body(code="1", scope={"__builtins__": {}}), 400, "invalid_name", "scope"),
    ("scope_bad_base64", "POST", "/v1/run", J, body(code="1", scope={"v": {"$type": "bytes", "base64": "!!"}}),
     400, "invalid_value", "scope.v"),
    ("scope_unknown_tag", "POST", "/v1/run", J, body(code="1", scope={"v": {"$type": "pickle"}}),
     400, "invalid_value", "scope.v"),
    ("scope_tag_missing_field", "POST", "/v1/run", J, body(code="1", scope={"v": {"$type": "int"}}),
     400, "invalid_value", "scope.v"),
    ("dynamic_not_object", "POST", "/v1/run", J, body(code="1", dynamic="x"), 400, "invalid_type", "dynamic"),
    ("dynamic_bad_name", "POST", "/v1/run", J, body(code="1", dynamic={"1x": 1}), 400, "invalid_name", "dynamic"),
    ("return_bad_value", "POST", "/v1/run", J, body(code="1", **{"return": "some"}), 400, "invalid_value", "return"),
    ("return_bad_type", "POST", "/v1/run", J, body(code="1", **{"return": 3}), 400, "invalid_type", "return"),
    ("return_list_of_ints", "POST", "/v1/run", J, body(code="1", **{"return": [1]}), 400, "invalid_type", "return"),
    ("timeout_negative", "POST", "/v1/run", J, body(code="1", timeout_ms=-5), 400, "invalid_value", "timeout_ms"),
    ("timeout_zero", "POST", "/v1/run", J, body(code="1", timeout_ms=0), 400, "invalid_value", "timeout_ms"),
    ("timeout_float", "POST", "/v1/run", J, body(code="1", timeout_ms=1.5), 400, "invalid_type", "timeout_ms"),
    ("timeout_string", "POST", "/v1/run", J, body(code="1", timeout_ms="5"), 400, "invalid_type", "timeout_ms"),
    ("session_not_string", "POST", "/v1/run", J, body(code="1", session=5), 400, "invalid_type", "session"),
    ("session_unknown", "POST", "/v1/run", J, body(code="1", session="nope"), 404, "session_not_found", "nope"),
    ("unknown_field", "POST", "/v1/run", J, body(code="1", bogus=1), 400, "unknown_field", "bogus"),
    ("too_large", "POST", "/v1/run", J, body(code="x = 1", scope={"s": "x" * (BODY_MAX + 1)}), 413, "body_too_large", "bytes"),
    ("text_plain", "POST", "/v1/run", {"Content-Type": "text/plain"}, body(code="1"), 415,
     "unsupported_media_type", "Content-Type"),
    ("unknown_route", "GET", "/v1/nothing", {}, None, 404, "not_found", "/v1/nothing"),
    ("get_run", "GET", "/v1/run", {}, None, 405, "method_not_allowed", "GET"),
    ("delete_run", "DELETE", "/v1/run", {}, None, 405, "method_not_allowed", "DELETE"),
    ("post_healthz", "POST", "/healthz", J, b"{}", 405, "method_not_allowed", "POST"),
    ("get_unknown_session", "GET", "/v1/sessions/unknown", {}, None, 404, "session_not_found", "unknown"),
    ("delete_unknown_session", "DELETE", "/v1/sessions/unknown", {}, None, 404, "session_not_found", "unknown"),
    ("run_unknown_session", "POST", "/v1/sessions/unknown/run", J, body(code="1"), 404, "session_not_found", "unknown"),
    # A run's input and output (stdin, files, collect: server/runio.c).
    ("stdin_not_string", "POST", "/v1/run", J, body(code="1", stdin=["a"]), 400, "invalid_type", "stdin"),
    ("stdin_too_large", "POST", "/v1/run", J, body(code="1", stdin="x" * (MIB + 1)), 400, "stdin_too_large", "stdin"),
    ("files_not_array", "POST", "/v1/run", J, body(code="1", files={"a": "b"}), 400, "invalid_type", "files"),
    ("file_not_object", "POST", "/v1/run", J, body(code="1", files=["a.txt"]), 400, "invalid_type", "files[0]"),
    ("file_without_path", "POST", "/v1/run", J, body(code="1", files=[{"text": "a"}]), 400, "missing_field",
     "files[0].path"),
    ("file_path_not_string", "POST", "/v1/run", J, body(code="1", files=[{"path": 1, "text": "a"}]), 400,
     "invalid_type", "files[0].path"),
    ("file_without_content", "POST", "/v1/run", J, body(code="1", files=[{"path": "a"}]), 400, "invalid_value",
     "files[0]"),
    ("file_text_and_base64", "POST", "/v1/run", J, body(code="1", files=[{"path": "a", "text": "", "base64": ""}]),
     400, "invalid_value", "files[0]"),
    ("file_text_not_string", "POST", "/v1/run", J, body(code="1", files=[{"path": "a", "text": 5}]), 400,
     "invalid_type", "files[0].text"),
    ("file_bad_base64", "POST", "/v1/run", J, body(code="1", files=[{"path": "a", "base64": "AA="}]), 400,
     "invalid_value", "files[0].base64"),
    ("file_unknown_member", "POST", "/v1/run", J, body(code="1", files=[{"path": "a", "text": "", "mode": 7}]),
     400, "unknown_field", "files[0].mode"),
    ("too_many_files", "POST", "/v1/run", J, body(code="1", files=[{"path": f"f{i}", "text": ""} for i in range(101)]),
     400, "too_many_files", "files"),
    ("files_too_large", "POST", "/v1/run", J, body(code="1", files=[{"path": "a", "text": "x" * (4 * MIB)},
                                                                  {"path": "b", "text": "x" * (4 * MIB + 1)}]),
     400, "files_too_large", "files"),
    ("path_dotdot", "POST", "/v1/run", J, body(code="1", files=[{"path": "../etc/passwd", "text": ""}]), 400,
     "invalid_path", ".."),
    ("path_dotdot_inside", "POST", "/v1/run", J, body(code="1", files=[{"path": "/tmp/a/../../etc/x", "text": ""}]),
     400, "invalid_path", ".."),
    ("path_absolute_outside", "POST", "/v1/run", J, body(code="1", files=[{"path": "/etc/passwd", "text": ""}]),
     400, "invalid_path", "writable"),
    ("path_writable_dir_itself", "POST", "/v1/run", J, body(code="1", files=[{"path": "/tmp", "text": ""}]),
     400, "invalid_path", "writable"),
    ("path_with_nul", "POST", "/v1/run", J, body(code="1", files=[{"path": "a\u0000b", "text": ""}]), 400,
     "invalid_path", "NUL"),
    ("path_empty", "POST", "/v1/run", J, body(code="1", files=[{"path": "", "text": ""}]), 400, "invalid_path",
     "empty"),
    ("path_names_a_directory", "POST", "/v1/run", J, body(code="1", files=[{"path": "out/", "text": ""}]), 400,
     "invalid_path", "file"),
    ("path_too_long", "POST", "/v1/run", J, body(code="1", files=[{"path": "a/" * 600, "text": ""}]), 400,
     "invalid_path", "1024"),
    ("collect_not_array", "POST", "/v1/run", J, body(code="1", collect="*.txt"), 400, "invalid_type", "collect"),
    ("collect_not_strings", "POST", "/v1/run", J, body(code="1", collect=[1]), 400, "invalid_type", "collect"),
    ("glob_unclosed_bracket", "POST", "/v1/run", J, body(code="1", collect=["out/[ab.txt"]), 400, "invalid_glob",
     "collect[0]"),
    ("glob_double_star_in_segment", "POST", "/v1/run", J, body(code="1", collect=["*.txt", "a**"]), 400,
     "invalid_glob", "collect[1]"),
    ("glob_dotdot", "POST", "/v1/run", J, body(code="1", collect=["../*"]), 400, "invalid_glob", ".."),
    ("glob_outside", "POST", "/v1/run", J, body(code="1", collect=["/etc/*"]), 400, "invalid_glob", "writable"),
    ("too_many_globs", "POST", "/v1/run", J, body(code="1", collect=["*"] * 33), 400, "invalid_glob", "collect"),
    ("session_run_bad_path", "POST", "/v1/sessions/unknown/run", J, body(code="1", files=[{"path": "/x", "text": ""}]),
     400, "invalid_path", "files[0].path"),
    ("session_bad_scope", "POST", "/v1/sessions", J, body(scope=[]), 400, "invalid_type", "scope"),
    ("run_id_not_string", "POST", "/v1/run", J, body(code="1", run_id=7), 400, "invalid_type", "run_id"),
    ("run_id_empty", "POST", "/v1/run", J, body(code="1", run_id=""), 400, "invalid_value", "run_id"),
    ("run_id_bad_chars", "POST", "/v1/run", J, body(code="1", run_id="a b/../c"), 400, "invalid_value", "run_id"),
    ("run_id_too_long", "POST", "/v1/run", J, body(code="1", run_id="r" * 65), 400, "invalid_value", "run_id"),
    ("session_run_bad_run_id", "POST", "/v1/sessions/unknown/run", J, body(code="1", run_id="é"), 400,
     "invalid_value", "run_id"),
    ("memory_zero", "POST", "/v1/run", J, body(code="1", memory_mb=0), 400, "invalid_value", "memory_mb"),
    ("memory_float", "POST", "/v1/run", J, body(code="1", memory_mb=6.5), 400, "invalid_type", "memory_mb"),
    ("memory_string", "POST", "/v1/run", J, body(code="1", memory_mb="64"), 400, "invalid_type", "memory_mb"),
    ("output_cap_negative", "POST", "/v1/run", J, body(code="1", output_cap_bytes=-1), 400, "invalid_value",
     "output_cap_bytes"),
    ("output_cap_bool", "POST", "/v1/run", J, body(code="1", output_cap_bytes=True), 400, "invalid_type",
     "output_cap_bytes"),
    ("cancel_unknown_run", "POST", "/v1/runs/never-started/cancel", {}, None, 404, "run_not_found", "never-started"),
    ("cancel_malformed_id", "POST", "/v1/runs/a.b/cancel", {}, None, 404, "run_not_found", "a.b"),
    ("cancel_get", "GET", "/v1/runs/never-started/cancel", {}, None, 405, "method_not_allowed", "GET"),
    ("runs_unknown_route", "GET", "/v1/runs/never-started", {}, None, 404, "not_found", "/v1/runs/never-started"),
    ("session_unknown_field", "POST", "/v1/sessions", J, body(code="1"), 400, "unknown_field", "code"),
]

# Operations in the spec to validate each row against (unknown routes have none).
SPEC_PATH = {
    "/v1/run": "/v1/run", "/healthz": None, "/v1/sessions": "/v1/sessions",
    "/v1/sessions/unknown": "/v1/sessions/{id}", "/v1/sessions/unknown/run": "/v1/sessions/{id}/run",
    "/v1/runs/never-started/cancel": "/v1/runs/{id}/cancel", "/v1/runs/a.b/cancel": "/v1/runs/{id}/cancel",
}


SERVER_ARGS = ("--workers", "2", "--max-body-bytes", str(BODY_MAX))


def test_table_is_big_enough():
    assert len(ROWS) >= 40


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_bad_input_gets_its_status_and_a_code_naming_the_field(server, api, row):
    _, method, path, headers, raw, status, code, names = row
    got, hdrs, answer = server.request(method, path, raw, headers=headers)
    assert got == status, answer
    assert answer["ok"] is False
    assert answer["error"]["code"] == code, answer
    assert names in answer["error"]["message"], answer
    spec_path = SPEC_PATH.get(path)
    if spec_path and method.lower() in api.doc["paths"][spec_path]:
        api.validate(method, spec_path, got, answer, hdrs)
    if status == 405:
        assert hdrs.get("Allow"), hdrs
    ok, _, after = server.run({"code": "1+1", "mode": "eval"})
    assert (ok, after["result"]) == (200, 2)
