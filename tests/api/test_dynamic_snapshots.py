"""`dynamic.snapshots` (issue 17 §4): every dynscope.snapshot() call of a
run, in order, with the snippet line and function it was called from and
the bindings as they were at that call; the first 50, the rest counted;
kept by a run stopped at its time limit. What the playground's
dynamic-scope panel draws, on the server and (the same runner) in the
browser engine."""


def answer(server, api, code, status=200, **fields):
    req = {"code": code, "mode": "exec", **fields}
    got, headers, body = server.run(req)
    assert got == status, body
    api.validate("post", "/v1/run", got, body, headers)
    return body


def moments(body):
    return [(s["line"], s["function"], [(f["function"], f["bindings"]) for f in s["frames"]])
            for s in body["dynamic"]["snapshots"]]


def test_each_call_in_order_with_its_line_and_the_bindings_then(server, api):
    code = ("import dynscope\n"
            "def greet():\n"
            "    dynscope.snapshot()\n"
            "    return f'{greeting}, {user}!'\n"
            "with dynscope.bind(user='ada'):\n"
            "    message = greet()\n"
            "    with dynscope.bind(user='grace'):\n"
            "        greet()\n"
            "dynscope.snapshot()\n"
            "message\n")
    b = answer(server, api, code, dynamic={"greeting": "hello"})
    assert b["ok"] and b["result"] == "hello, ada!", b
    root = ("<request>", {"greeting": "hello"})
    assert moments(b) == [
        (3, "greet", [("<module>", {"user": "ada"}), root]),
        # One frame's inner with-block wins within it.
        (3, "greet", [("<module>", {"user": "grace"}), root]),
        (9, "<module>", [root]),
    ]
    assert b["dynamic"]["snapshots_omitted"] == 0
    # Nothing returned a snapshot: `returned` stays null.
    assert b["dynamic"]["returned"] is None


def test_a_snapshot_is_as_it_was_at_the_call(server, api):
    # The frames list and its bindings dict as the call returned them: a
    # snippet that edits the list it got, or a binding assigned later, does
    # not rewrite the moment.
    code = ("import dynscope\n"
            "with dynscope.bind(x=1):\n"
            "    s = dynscope.snapshot()\n"
            "    dynscope.assign('x', 2)\n"
            "    s[0]['bindings']['y'] = 'edited'\n"
            "    s.append('junk')\n"
            "    t = dynscope.snapshot()\n")
    b = answer(server, api, code)
    assert moments(b) == [(3, "<module>", [("<module>", {"x": 1})]),
                          (7, "<module>", [("<module>", {"x": 2})])]


def test_the_returned_one_is_among_them(server, api):
    code = ("import dynscope\n"
            "def inner():\n"
            "    return dynscope.snapshot()\n"
            "with dynscope.bind(user='ada'):\n"
            "    snap = inner()\n"
            "snap\n")
    b = answer(server, api, code)
    assert [s["frames"] for s in b["dynamic"]["snapshots"]] == [b["dynamic"]["returned"]]
    assert b["dynamic"]["snapshots"][0]["line"] == 3


def test_the_first_fifty_and_the_rest_counted(server, api):
    code = ("import dynscope\n"
            "for i in range(120):\n"
            "    with dynscope.bind(i=i):\n"
            "        dynscope.snapshot()\n")
    b = answer(server, api, code)
    snaps = b["dynamic"]["snapshots"]
    assert len(snaps) == 50 and b["dynamic"]["snapshots_omitted"] == 70
    assert [s["frames"][0]["bindings"]["i"] for s in snaps] == list(range(50))


def test_a_call_from_outside_the_snippet_is_placed_where_the_snippet_called(server, api):
    # map() calls snapshot from C; exec()'d code is not the snippet's own.
    code = ("import dynscope\n"
            "with dynscope.bind(k='v'):\n"
            "    list(map(lambda _: dynscope.snapshot(), [0]))\n"
            "    exec('dynscope.snapshot()', {'dynscope': dynscope})\n")
    b = answer(server, api, code)
    assert [(s["line"], s["function"]) for s in b["dynamic"]["snapshots"]] == [(3, "<lambda>"), (4, "<module>")]


def test_values_are_tagged_like_every_value(server, api):
    code = "import dynscope\nwith dynscope.bind(tags={'a'}, big=2**70):\n    dynscope.snapshot()\n"
    b = answer(server, api, code)
    assert b["dynamic"]["snapshots"][0]["frames"][0]["bindings"] == {
        "tags": {"$type": "set", "items": ["a"]}, "big": {"$type": "int", "value": str(2 ** 70)}}


def test_a_run_stopped_at_its_limit_keeps_the_ones_it_took(server, api):
    code = ("import dynscope\n"
            "with dynscope.bind(phase='warming up'):\n"
            "    dynscope.snapshot()\n"
            "    while True:\n"
            "        pass\n")
    b = answer(server, api, code, status=504, timeout_ms=300)
    assert b["error"]["code"] == "timeout"
    assert moments(b) == [(3, "<module>", [("<module>", {"phase": "warming up"})])]


def test_each_run_has_its_own(server, api):
    answer(server, api, "import dynscope\ndynscope.snapshot()\n")
    b = answer(server, api, "1 + 1")
    assert b["dynamic"]["snapshots"] == [] and b["dynamic"]["snapshots_omitted"] == 0
