"""Namespace rules (seed 002): request variables behave as module-level names."""


def test_nested_comprehension_over_two_scoped_lists(server):
    b = server.run_ok("[(x, y) for x in list1 for y in list2]", "eval", scope={"list1": [0, 1, 2], "list2": ["a", "b"]})
    assert [t["items"] for t in b["result"]] == [[x, y] for x in (0, 1, 2) for y in "ab"]


def test_generator_expression_lambda_and_function_see_scope(server):
    code = ("def f():\n    return base + 1\n"
            "g = lambda: base * 2\n"
            "total = sum(base + i for i in range(3))\n"
            "[f(), g(), total]")
    assert server.run_ok(code, scope={"base": 10})["result"] == [11, 20, 33]


def test_class_body_reads_scoped_value(server):
    b = server.run_ok("class C:\n    limit = base * 2\n    names = [n for n in range(base)]\nC.limit", scope={"base": 3})
    assert b["result"] == 6
    assert b["definitions"] == {"C": "class"}


def test_import_is_not_returned(server):
    b = server.run_ok("import math\nfrom json import dumps\nr = math.floor(2.5)")
    assert b["scope"] == {"r": 2}
    assert b["definitions"] == {"math": "module", "dumps": "function"}
    assert "__builtins__" not in b["scope"]


def test_mutated_dict_value_is_returned_and_changed(server):
    b = server.run_ok("d['added'] = True\ncount += 1", scope={"d": {"k": 1}, "count": 0, "same": "x"})
    assert b["scope"] == {"d": {"k": 1, "added": True}, "count": 1, "same": "x"}
    assert b["changes"] == {"added": [], "changed": ["count", "d"], "removed": []}


def test_deleted_name_is_removed(server):
    b = server.run_ok("del gone\nnew = 1", scope={"gone": 1, "kept": 2})
    assert b["changes"] == {"added": ["new"], "changed": [], "removed": ["gone"]}


def test_return_all_and_list(server):
    b = server.run_ok("import math\ndef f(): pass\nx = 1", **{"return": "all"})
    assert b["scope"]["x"] == 1
    assert b["scope"]["math"]["$type"] == "module"
    assert b["scope"]["f"]["$type"] == "function"
    b = server.run_ok("a = 1\nb = 2", **{"return": ["b", "missing"]})
    assert b["scope"] == {"b": 2}


def test_dynamic_scope_is_the_fallback_before_builtins(server):
    code = ("import dynscope\n"
            "def log(m):\n    print(indent + m)\n"
            "with dynscope.bind(indent='>> '):\n    log('a')\n"
            "log('b')\n"
            "[max, min([3, 4])]")
    b = server.run_ok(code, dynamic={"indent": "- ", "max": "from dynamic"})
    assert b["stdout"] == ">> a\n- b\n"
    assert b["result"] == ["from dynamic", 3]


def test_globals_win_over_dynamic(server):
    b = server.run_ok("def f():\n    return who\nf()", scope={"who": "global"}, dynamic={"who": "dynamic"})
    assert b["result"] == "global"


def test_assign_changes_root_binding_seen_in_final_snapshot(server):
    b = server.run_ok("import dynscope\ndynscope.assign('user', 'bob')", dynamic={"user": "ada"})
    assert b["dynamic"]["final"] == [{"function": "<request>", "file": None, "line": None, "bindings": {"user": "bob"}}]


def test_stateless_runs_do_not_share_names(server):
    server.run_ok("leak = 'secret'")
    b = server.run_ok("'leak' in globals()")
    assert b["result"] is False
