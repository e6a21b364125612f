"""`changes` is exact: a name is changed exactly when its value differs by
type or by value anywhere in it, whatever the encoding bounds (issue 13 §3)."""
import pytest


def run(server, code, scope=None, path="/v1/run", **fields):
    body = {"code": code, "mode": "exec", **fields}
    if scope is not None:
        body["scope"] = scope
    status, _, out = server.request("POST", path, body)
    assert status == 200, out
    assert out["ok"], out["error"]
    return out


CHANGED = {
    "int to bool": ({"x": 1}, "x = True"),
    "zero to False": ({"x": 0}, "x = False"),
    "int to float": ({"x": 1}, "x = 1.0"),
    "float to int": ({"x": 2.0}, "x = 2"),
    "zero to minus zero": ({"x": 0.0}, "x = -0.0"),
    "nested int to bool": ({"x": {"a": [1]}}, "x['a'][0] = True"),
    "item past 1000": ({"x": list(range(1500))}, "x[1200] = -1"),
    "dict item past 1000": ({"x": {f"k{i}": i for i in range(1500)}}, "x['k1400'] = 'edited'"),
    "character past 65536": ({"x": "a" * 70000}, "x = x[:-1] + 'b'"),
    "big int digit": ({"x": {"$type": "int", "hex": hex(10**5000)}}, "x += 1"),
    "set member": ({"x": {"$type": "set", "items": [1, 2]}}, "x.discard(2); x.add(3)"),
    "tuple inside list": ({"x": [{"$type": "tuple", "items": [1, 2]}]}, "x[0] = (1, 2.0)"),
    "bytes": ({"x": {"$type": "bytes", "base64": "AAEC"}}, "x = b'\\x00\\x01\\x03'"),
}


@pytest.mark.parametrize("case", list(CHANGED))
def test_a_scope_value_the_run_alters_is_listed_as_changed(server, case):
    scope, code = CHANGED[case]
    out = run(server, code, scope)
    assert "x" in out["changes"]["changed"], out["changes"]


def test_edit_below_depth_32_of_a_value_the_run_started_with(server):
    # A scope value deeper than the encoding shows, edited at its bottom.
    value = 1
    for _ in range(40):
        value = [value]
    out = run(server, "y = x\nwhile isinstance(y[0], list):\n    y = y[0]\ny[0] = 2\ndel y", {"x": value})
    assert out["changes"]["changed"] == ["x"], out["changes"]


UNCHANGED = {
    "same value rebuilt": ({"x": {"a": [1, 2.5, "s", None, True]}}, "x = {'a': [1, 2.5, 's', None, True]}"),
    "dict reordered": ({"x": {"a": 1, "b": 2}}, "x = {'b': 2, 'a': 1}"),
    "set rebuilt": ({"x": {"$type": "set", "items": list(range(50))}}, "x = set(reversed(range(50)))"),
    "edited and put back": ({"x": list(range(1500))}, "x[1200] = -1\nx[1200] = 1200"),
    "nan stays nan": ({"x": {"$type": "float", "value": "nan"}}, "x = float('nan')"),
}


@pytest.mark.parametrize("case", list(UNCHANGED))
def test_a_scope_value_the_run_only_reads_is_not_listed_as_changed(server, case):
    scope, code = UNCHANGED[case]
    out = run(server, code, scope)
    assert out["changes"]["changed"] == [], out["changes"]


def session(server, scope=None):
    status, _, s = server.request("POST", "/v1/sessions", {"scope": scope or {}})
    assert status == 201, s
    return s["id"]


def test_object_attribute_change_is_a_change(server):
    sid = session(server)
    try:
        run(server, "class P:\n    def __init__(self, v):\n        self.v = v\np = P([1])\nq = P(1)",
            path=f"/v1/sessions/{sid}/run")
        out = run(server, "p.v.append(2)\nq.v = 1", path=f"/v1/sessions/{sid}/run")
        assert out["changes"]["changed"] == ["p"], out["changes"]
        # An equal new instance of the same class: the same value (class and attributes).
        out = run(server, "q = P(1)", path=f"/v1/sessions/{sid}/run")
        assert out["changes"]["changed"] == [], out["changes"]
        out = run(server, "class P:\n    def __init__(self, v):\n        self.v = v\nq = P(1)",
                  path=f"/v1/sessions/{sid}/run")
        assert out["changes"]["changed"] == ["P", "q"], out["changes"]  # a new class is another class
    finally:
        server.request("DELETE", f"/v1/sessions/{sid}")


def test_slots_and_functions(server):
    sid = session(server)
    try:
        run(server, "class S:\n    __slots__ = ('a',)\ns = S()\ns.a = 1\ndef f(): pass",
            path=f"/v1/sessions/{sid}/run")
        out = run(server, "s.a = 1.0", path=f"/v1/sessions/{sid}/run")
        assert out["changes"]["changed"] == ["s"], out["changes"]
        out = run(server, "def f(): pass", path=f"/v1/sessions/{sid}/run")
        assert out["changes"]["changed"] == ["f"], out["changes"]  # code: by identity
    finally:
        server.request("DELETE", f"/v1/sessions/{sid}")


def test_session_scope_overwrites_are_changes(server):
    sid = session(server, {"n": 1, "keep": 5})
    try:
        out = run(server, "m = n", scope={"n": 2, "keep": 5, "extra": 0}, path=f"/v1/sessions/{sid}/run")
        assert out["changes"] == {"added": ["extra", "m"], "changed": ["n"], "removed": []}, out["changes"]
    finally:
        server.request("DELETE", f"/v1/sessions/{sid}")
