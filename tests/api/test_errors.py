"""A snippet's error as data (issue 13 §8): positions, chains, groups, the
printed traceback, CRLF and BOM sources, and the one naming rule."""


def run(server, code, **fields):
    status, _, out = server.run({"code": code, "mode": "exec", **fields})
    assert status == 200, out
    return out


def error(server, code, **fields):
    out = run(server, code, **fields)
    assert out["ok"] is False, out
    return out["error"]


def test_runtime_error_has_columns(server):
    e = error(server, "x = 1\ny = [x,\n     x / 0]")
    assert (e["line"], e["column"], e["end_line"], e["end_column"]) == (3, 6, 3, 11), e
    assert e["traceback"][-1]["column"] == 6 and e["traceback"][-1]["end_column"] == 11


def test_columns_count_characters_not_bytes(server):
    e = error(server, "s = 'ééé'; s.nope")
    assert (e["column"], e["end_column"]) == (12, 18), e  # 's.nope' after 11 characters


def test_syntax_error_has_end_position(server):
    e = error(server, "def f(:\n    pass")
    assert e["type"] == "SyntaxError" and e["line"] == 1 and e["column"] == 7
    assert e["end_line"] == 1 and e["end_column"] == 8, e


def test_explicit_cause_is_kept(server):
    e = error(server, "try:\n    1 / 0\nexcept ZeroDivisionError as z:\n    raise ValueError('bad') from z")
    assert e["type"] == "ValueError" and e["line"] == 4
    assert e["cause"]["type"] == "ZeroDivisionError" and e["cause"]["line"] == 2, e
    assert "context" not in e  # suppressed by `from`, as Python prints it
    assert "The above exception was the direct cause" in e["text"]


def test_implicit_context_is_kept(server):
    e = error(server, "try:\n    {}['k']\nexcept KeyError:\n    undefined_name")
    assert e["type"] == "NameError" and e["context"]["type"] == "KeyError" and e["context"]["line"] == 2, e
    assert "During handling of the above exception" in e["text"]


def test_exception_group_members_are_kept(server):
    e = error(server, "def f(n):\n    raise ValueError(n)\ntry:\n    f(1)\nexcept ValueError as v:\n    a = v\n"
                      "raise ExceptionGroup('many', [a, TypeError('t')])")
    assert e["type"] == "ExceptionGroup"
    assert [m["type"] for m in e["exceptions"]] == ["ValueError", "TypeError"], e
    assert e["exceptions"][0]["line"] == 2
    assert "ExceptionGroup: many (2 sub-exceptions)" in e["text"]


def test_group_and_chain_are_bounded(server):
    e = error(server, "raise ExceptionGroup('g', [ValueError(i) for i in range(500)])")
    assert len(e["exceptions"]) == 10 and e["exceptions_omitted"] == 490, e
    e = error(server, "def f(n):\n    try:\n        raise ValueError(n)\n    finally:\n"
                      "        if n: f(n - 1)\nf(100)")
    depth, link = 0, e
    while "context" in link:
        link, depth = link["context"], depth + 1
    assert depth == 17 and link.get("omitted") is True, depth  # 16 described, then a stub


def test_text_is_what_python_prints(server):
    e = error(server, "def ratio(a, b):\n    return a / b\nratio(1, 0)")
    assert e["text"] == ('Traceback (most recent call last):\n'
                         '  File "<snippet>", line 3, in <module>\n    ratio(1, 0)\n    ~~~~~^^^^^^\n'
                         '  File "<snippet>", line 2, in ratio\n    return a / b\n           ~~^~~\n'
                         'ZeroDivisionError: division by zero\n'), e["text"]


def test_crlf_source_has_no_carriage_return(server):
    e = error(server, "x = 1\r\ny = 2\r\nraise ValueError(x)\r\n")
    assert e["source"] == "raise ValueError(x)" and e["line"] == 3, e
    assert e["traceback"][-1]["source"] == "raise ValueError(x)"


def test_form_feed_in_a_string_does_not_shift_lines(server):
    e = error(server, "s = 'a\x0cb\u2028c'\nraise ValueError(s)")
    assert e["line"] == 2 and e["source"] == "raise ValueError(s)", e


def test_leading_bom_is_accepted(server):
    out = run(server, "\ufeffx = 20\nx + 1")
    assert out["ok"] and out["result"] == 21, out
    out = run(server, "\ufeff2 * 3", mode="eval")
    assert out["ok"] and out["result"] == 6, out


def test_return_refuses_dunder_names_as_scope_does(server):
    for field in ({"scope": {"__name__": 1}}, {"return": ["__name__"]}, {"return": ["class"]},
                  {"return": ["not a name"]}):
        status, _, out = server.run({"code": "1", **field})
        assert status == 400 and out["error"]["code"] == "invalid_name", (field, out)


def test_decimal_int_past_4300_digits_points_to_hex(server):
    status, _, out = server.run({"code": "x", "mode": "eval", "scope": {"x": {"$type": "int", "value": "7" * 5000}}})
    assert status == 400 and out["error"]["code"] == "invalid_value", out
    assert '"hex"' in out["error"]["message"], out
    out = run(server, "x % 10", mode="eval", scope={"x": {"$type": "int", "hex": hex((10**5000 - 1) // 9 * 7)}})
    assert out["result"] == 7
