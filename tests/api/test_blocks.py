"""dynscope.block in the service (Python 3.14): a block's body runs as if
written in its caller, nested scopes included, and assigns the caller's
local variables (PEP 667).  Issue 13 §6."""


def run(server, api, code):
    status, headers, body = server.run({"code": code, "mode": "exec"})
    assert status == 200, body
    api.validate("post", "/v1/run", status, body, headers)
    return body


def test_block_nested_scopes_and_write_through(server, api):
    code = ("import dynscope\n"
            "@dynscope.block\n"
            "def tally():\n"
            "    total = sum(x * k for x in xs)\n"
            "    squares = [x * k for x in xs]\n"
            "    count += 1\n"
            "def caller():\n"
            "    k, xs, count = 10, [1, 2], 0\n"
            "    tally()\n"
            "    tally()\n"
            "    return count, locals()['total'], locals()['squares']\n"
            "caller()")
    b = run(server, api, code)
    assert b["ok"], b["error"]
    assert b["result"] == {"$type": "tuple", "items": [2, 30, [10, 20]]}


def test_block_of_a_lambda_is_refused_with_a_type_error(server, api):
    b = run(server, api, "import dynscope\ndynscope.block(lambda: 1)")
    assert not b["ok"]
    assert b["error"]["type"] == "TypeError" and "lambda" in b["error"]["message"]
