"""`dynamic.returned` and the `<request>` root (issue 13 §4): only a real
dynscope.snapshot() result is `returned` (by identity, never by shape), the
request's root shows as `<request>` inside the snippet too, and only the
runner's own frame is relabelled."""

ROOT = {"function": "<request>", "file": None, "line": None, "bindings": {"rid": "r-1"}}


def test_empty_list_is_not_a_snapshot(server):
    out = server.run_ok("[]")
    assert out["result"] == [] and out["dynamic"]["returned"] is None, out["dynamic"]


def test_list_shaped_like_a_snapshot_is_not_one(server):
    out = server.run_ok("[{'function': 'f', 'file': 'mine.py', 'line': 1, 'bindings': {'a': 1}}]", dynamic={"rid": "r-1"})
    assert out["dynamic"]["returned"] is None
    assert out["result"] == [{"function": "f", "file": "mine.py", "line": 1, "bindings": {"a": 1}}]


def test_real_snapshot_is_returned_and_agrees_with_result(server):
    out = server.run_ok("import dynscope\nwith dynscope.bind(user='ada'):\n    snap = dynscope.snapshot()\nsnap",
              dynamic={"rid": "r-1"})
    inner = {"function": "<module>", "file": "<snippet>", "line": 3, "bindings": {"user": "ada"}}
    assert out["dynamic"]["returned"] == [inner, ROOT]
    assert out["result"] == out["dynamic"]["returned"]


def test_empty_real_snapshot_is_returned(server):
    out = server.run_ok("import dynscope\ndynscope.snapshot()")
    assert out["dynamic"]["returned"] == [] and out["result"] == []


def test_root_is_request_inside_the_snippet(server):
    out = server.run_ok("import dynscope\n[(f['function'], f['file'], f['line']) for f in dynscope.snapshot()]",
              dynamic={"rid": "r-1"})
    assert out["result"] == [{"$type": "tuple", "items": ["<request>", None, None]}]


def test_from_import_is_the_same_snapshot(server):
    out = server.run_ok("from dynscope import snapshot\nsnapshot()", dynamic={"rid": "r-1"})
    assert out["dynamic"]["returned"] == [ROOT]


def test_exec_bindings_are_not_request_roots(server):
    code = ("import dynscope\nns = {'dynscope': dynscope}\n"
            "exec('with dynscope.bind(inner=1):\\n    s = dynscope.snapshot()', ns)\nns['s']")
    out = server.run_ok(code, dynamic={"rid": "r-1"})
    frames = out["dynamic"]["returned"]
    assert frames[0]["file"] == "<string>" and frames[0]["bindings"] == {"inner": 1}, frames
    assert frames[1] == ROOT


def test_a_copy_of_a_snapshot_is_not_one(server):
    out = server.run_ok("import dynscope\nlist(dynscope.snapshot())", dynamic={"rid": "r-1"})
    assert out["dynamic"]["returned"] is None and out["result"] == [ROOT]
