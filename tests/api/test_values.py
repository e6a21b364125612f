"""The value encoding, both ways, with its bounds."""
import math


def run(server, code, mode="eval", **fields):
    return server.run_ok(code, mode, **fields)


def test_json_native_values_round_trip(server):
    scope = {"n": None, "t": True, "i": -7, "f": 2.5, "s": "héllo ✓", "l": [1, [2]], "d": {"k": {"j": []}},
             "exact": 2**53}
    assert run(server, "0", "exec", scope=scope)["scope"] == scope


def test_tags_round_trip(server):
    scope = {
        "big": {"$type": "int", "value": str(10**30)},
        "neg": {"$type": "int", "value": str(-(2**60))},
        "nan": {"$type": "float", "value": "nan"},
        "inf": {"$type": "float", "value": "-inf"},
        "tup": {"$type": "tuple", "items": [1, {"$type": "tuple", "items": []}]},
        "st": {"$type": "set", "items": [1, 2]},
        "fs": {"$type": "frozenset", "items": ["a"]},
        "by": {"$type": "bytes", "base64": "AP8="},
        "ba": {"$type": "bytearray", "base64": "AQ=="},
        "dt": {"$type": "datetime", "iso": "2026-11-22T10:30:00+00:00"},
        "day": {"$type": "date", "iso": "2026-11-22"},
        "td": {"$type": "timedelta", "seconds": 1.5},
        "dec": {"$type": "decimal", "value": "1.10"},
        "cx": {"$type": "complex", "real": 1.0, "imag": -2.0},
        "intkeys": {"$type": "dict", "items": [[1, "one"], [{"$type": "tuple", "items": [1, 2]}, "pair"]]},
        "dollar": {"$type": "dict", "items": [["$type", "not a tag"]]},
    }
    b = run(server, "0", "exec", scope=scope)
    assert b["scope"] == scope
    assert b["changes"]["changed"] == []
    types = run(server, "[type(v).__name__ for v in (big, nan, tup, st, by, dt, dec, cx, intkeys, dollar)]",
                scope=scope)["result"]
    assert types == ["int", "float", "tuple", "set", "bytes", "datetime", "Decimal", "complex", "dict", "dict"]


def test_large_int_within_64_bits_is_exact_in_python(server):
    assert run(server, "x + 1", scope={"x": 2**62})["result"] == {"$type": "int", "value": str(2**62 + 1)}


def test_int_beyond_64_bits_must_be_tagged(server):
    status, _, body = server.run(b'{"code": "x", "mode": "eval", "scope": {"x": 1180591620717411303424}}',
                                 headers={"Content-Type": "application/json"})
    assert status == 400 and body["error"]["code"] == "invalid_value"
    assert '"$type": "int"' in body["error"]["message"]


def test_huge_int_beyond_str_limit_is_hex(server):
    r = run(server, "10**5000")["result"]
    assert r["$type"] == "int" and int(r["hex"], 16) == 10**5000


def test_objects_are_tagged_with_type_and_repr(server):
    b = run(server, "class P:\n    def __repr__(self):\n        return 'P()'\np = P()\nimport collections\n"
                    "od = collections.OrderedDict(a=1)\np", "exec")
    assert b["result"] == {"$type": "P", "repr": "P()"}
    assert b["scope"]["od"]["$type"] == "collections.OrderedDict"
    assert "'a': 1" in b["scope"]["od"]["repr"]


def test_broken_repr_does_not_break_the_answer(server):
    b = run(server, "class B:\n    def __repr__(self):\n        raise RuntimeError('no')\nB()", "exec")
    assert b["result"] == {"$type": "B", "repr": "<repr failed: RuntimeError>"}


def test_cycle_is_marked(server):
    r = run(server, "a = [1]\na.append(a)\nd = {}\nd['self'] = d\n[a, d]", "exec")["result"]
    assert r == [[1, {"$type": "cycle", "of": "list"}], {"self": {"$type": "cycle", "of": "dict"}}]


def test_depth_is_bounded(server):
    r = run(server, "x = []\nfor _ in range(10000):\n    x = [x]\nx", "exec")["result"]
    depth = 0
    while isinstance(r, list):
        r, depth = r[0], depth + 1
    assert r == {"$type": "truncated", "reason": "depth", "of": "list"}
    assert depth == 32


def test_size_is_bounded(server):
    r = run(server, "list(range(5000))")["result"]
    assert r["$type"] == "list" and r["truncated"] is True and r["length"] == 5000 and len(r["items"]) == 1000
    s = run(server, "'x' * 100000")["result"]
    assert s["truncated"] is True and s["length"] == 100000 and len(s["value"]) == 65536
    total = run(server, "[[i] * 1000 for i in range(100)]")["result"]
    flat = [v for row in total for v in row]
    assert {"$type": "truncated", "reason": "size", "of": "int"} in flat


def test_lone_surrogate_string_is_tagged(server):
    r = run(server, "'a\\ud800b'")["result"]
    assert r == {"$type": "str", "repr": "'a\\ud800b'"}


def test_a_nan_result_is_a_tagged_float(server):
    r = run(server, "float('nan')")["result"]
    assert r == {"$type": "float", "value": "nan"} and math.isnan(float(r["value"]))


def test_large_dict_switches_to_the_items_form(server):
    r = run(server, "{f'k{i}': i for i in range(1001)}")["result"]
    assert r["$type"] == "dict" and r["truncated"] is True and r["length"] == 1001
    assert len(r["items"]) == 1000 and r["items"][0] == ["k0", 0]
    assert run(server, "{f'k{i}': i for i in range(1000)}")["result"]["k999"] == 999


def test_a_key_too_long_to_go_out_whole_is_a_cut_string(server):
    r = run(server, "{'k' * 70000: 1, 'short': 2}")["result"]
    assert r["$type"] == "dict" and r["items"][1] == ["short", 2], r
    key = r["items"][0][0]
    assert key["$type"] == "str" and key["truncated"] is True and key["length"] == 70000


def test_object_tags_use_the_bare_name_for_builtins_and_the_snippets_classes(server):
    b = run(server, "import fractions\nclass Mine:\n    class Inner: pass\n"
                    "[range(2), Mine(), Mine.Inner(), fractions.Fraction(1, 3)]", "exec")
    assert [v["$type"] for v in b["result"]] == ["range", "Mine", "Mine.Inner", "fractions.Fraction"]


def test_huge_class_name_is_cut_in_the_tag(server):
    r = run(server, "type('C' * 5000, (), {})()")["result"]
    assert r["$type"] == "C" * 1000 + "… [4000 more characters]"
