"""clients/python (the `scopebox` package) through a real server: every route,
every value tag both ways, snippet and API errors, sessions as context
managers. Every request the client sends and every answer it gets is checked
against server/openapi.yaml on the way."""
import datetime
import decimal
import math

import jsonschema
import pytest

from openapi_check import OpenApi
from scopebox_server import ALICE, BOB, ScopeboxServer, keyed_server

import scopebox
from scopebox import (ApiError, Client, Cut, Cycle, Opaque, OutputEvent, ResultEvent,
                      SnippetError, is_truncated)

API = OpenApi.load()


class CheckedClient(Client):
    """The real client; each exchange is also checked against the contract."""

    seen = set()

    def _exchange(self, method, path, body):
        template = API.template(path)
        try:
            API.validate_request(method, template, body)
            valid = True
        except jsonschema.ValidationError:
            valid = False
        status, headers, answer = super()._exchange(method, path, body)
        # A body the contract rejects is one the server must refuse too.
        assert valid or status == 400, (body, status, answer)
        if "json" in (headers.get("Content-Type") or ""):
            API.validate(method, template, status, answer, headers)
        else:
            API.response(method, template, status)
        CheckedClient.seen.add((method, template))
        return status, headers, answer

    def _stream(self, path, body, raise_errors):
        # The request as for a plain run; the last event's body is checked
        # by the tests (it is the plain answer's, byte for byte).
        API.validate_request("POST", API.template(path), body)
        return super()._stream(path, body, raise_errors)


@pytest.fixture(scope="module")
def server():
    with ScopeboxServer("--workers", "2", "--max-sessions", "2") as s:
        s.wait_healthy(2)
        yield s


@pytest.fixture(scope="module")
def client(server):
    return CheckedClient(server.url)


# ---- values ------------------------------------------------------------------

class Point:
    pass


ROUND_TRIPS = [
    None, True, 0, -7, 2**53, 2**53 + 1, -(2**64), 10**40, 1.5, math.inf, -math.inf,
    "text", "", "ünïcode ✓", [1, [2, []]], {"a": {"b": [1]}},
    (1, "a", None), (), {3, 1, 2}, set(), frozenset({"x", "y"}), frozenset(),
    {1: "one", (2, 3): "tuple key"}, {"$type": "not a tag"},
    b"\x00\x01\xff", b"", bytearray(b"abc"),
    datetime.datetime(2026, 11, 22, 10, 0, 0, 123456), datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
    datetime.date(2026, 2, 28), datetime.time(23, 59, 1), datetime.timedelta(days=1, seconds=1.5),
    decimal.Decimal("1.10"), decimal.Decimal("-0.000000000000000000001"), complex(1, -2),
    [(1, 2), {frozenset({1})}, {"k": b"v"}],
]


@pytest.mark.parametrize("value", ROUND_TRIPS, ids=[repr(v)[:40] for v in ROUND_TRIPS])
def test_a_scope_value_comes_back_as_the_same_type_and_value(client, value):
    r = client.run("v", mode="eval", scope={"v": value})
    assert r.ok, r.error
    assert type(r.result) is type(value)
    assert r.result == value
    assert r.scope["v"] == value
    # The server saw the Python value, not its JSON form.
    assert client.eval("type(v).__name__", scope={"v": value}) == type(value).__name__


def test_nan_goes_and_comes_back_as_nan(client):
    r = client.run("(v, v != v)", mode="eval", scope={"v": math.nan})
    assert math.isnan(r.result[0]) and r.result[1] is True


def test_huge_int_travels_as_hex(client):
    big = 7 ** 6000  # past Python's 4300-digit str limit, both ends
    assert client.eval("v == 7 ** 6000", scope={"v": big}) is True
    r = client.run("7 ** 6000", mode="eval")
    assert r.raw["result"]["$type"] == "int" and "hex" in r.raw["result"]
    assert r.result == big


def test_output_only_tags(client):
    r = client.run(
        "import decimal\nclass Point: pass\n"
        "cyc = []\ncyc.append(cyc)\n"
        "deep = []\nd = deep\nfor _ in range(40):\n    d.append([])\n    d = d[0]\n"
        "(Point(), cyc, deep, 'x' * 70000, list(range(1500)), tuple(range(1500)), set(range(1500)),"
        " bytes(70000), {i: i for i in range(1500)}, '\\ud800', complex(float('nan'), 1))",
        mode="exec", return_=[])
    assert r.ok, r.error
    point, cyc, deep, s, lst, tup, st, bs, dct, surrogate, cplx = r.result
    assert isinstance(point, Opaque) and point.type == "Point" and repr(point).startswith("<__main__.Point")
    assert cyc == [Cycle("list")] and repr(cyc) == "[[...]]"
    d = deep
    while isinstance(d, list):
        d = d[0]
    assert d == Cut("depth", "list")
    assert isinstance(s, str) and is_truncated(s) and s.length == 70000 and len(s) == 64 * 1024
    for v, base in ((lst, list), (tup, tuple), (st, set), (bs, bytes), (dct, dict)):
        assert isinstance(v, base) and is_truncated(v) and v.length in (1500, 70000), type(v)
    assert lst[:3] == [0, 1, 2] and tup[:2] == (0, 1) and dct[5] == 5
    assert surrogate == "\ud800"
    assert math.isnan(cplx.real) and cplx.imag == 1.0
    assert not is_truncated([1])


def test_a_result_past_the_size_budget_has_size_cuts(client):
    r = client.run("[list(range(1000)) for i in range(30)]", mode="eval")
    assert any(isinstance(x, Cut) and x.reason == "size" for row in r.result for x in row)


def test_modules_and_functions(client):
    code = "import json\ndef f(): pass\nx = 1"
    r = client.run(code)
    assert r.definitions == {"json": "module", "f": "function"} and r.scope == {"x": 1}
    assert sorted(r.changes["added"]) == ["f", "json", "x"]
    r = client.run(code, return_="all")
    assert isinstance(r.scope["json"], Opaque) and r.scope["json"].type == "module"
    assert client.run(code, return_=["x"]).scope == {"x": 1}


def test_a_value_json_cannot_carry_is_refused_before_sending(client):
    with pytest.raises(TypeError):
        client.run("1", scope={"p": Point()})
    with pytest.raises(TypeError):
        client.run("1", scope={"o": Opaque("Point", "<Point>")})
    with pytest.raises(ValueError):
        client.run("1", scope={"s": "\ud800"})
    with pytest.raises(TypeError):
        client.run("1", scope={1: 2})


# ---- runs --------------------------------------------------------------------

def test_run_with_scope_and_dynamic(client):
    r = client.run(
        "import dynscope\ndef log(m):\n    print(indent + m)\nlog('top')\n"
        "with dynscope.bind(indent='    '):\n    log('nested')\n    snap = dynscope.snapshot()\nsnap",
        scope={"unused": (1,)}, dynamic={"indent": "> "}, timeout_ms=5000)
    assert r.ok and r.stdout == "> top\n    nested\n" and r.stderr == ""
    assert [f.bindings for f in r.dynamic_returned] == [{"indent": "    "}, {"indent": "> "}]
    assert r.dynamic_final[0].function == "<request>" and r.dynamic_final[0].bindings == {"indent": "> "}
    assert r.truncated == {"stdout": False, "stderr": False, "output": False, "answer": False, "names": 0, "files": 0}
    assert r.timing["run_ms"] >= 0
    assert r.scope["unused"] == (1,)


def test_snippet_error_returned_or_raised(client):
    code = "def ratio(a, b):\n    return a / b\nratio(1, 0)"
    r = client.run(code)
    assert not r.ok and r.error.type == "ZeroDivisionError" and r.error.line == 2
    assert [f.line for f in r.error.traceback] == [3, 2]
    assert r.error.format().endswith("  line 2, in ratio\n    return a / b\nZeroDivisionError: division by zero")
    with pytest.raises(SnippetError) as e:
        client.run(code, raise_errors=True)
    assert e.value.result.definitions == {"ratio": "function"}
    with pytest.raises(SnippetError):
        client.eval("1/0")
    with pytest.raises(SnippetError):
        r.raise_for_error()
    strict = CheckedClient(client.url, raise_errors=True)
    with pytest.raises(SnippetError):
        strict.run(code)
    assert strict.run(code, raise_errors=False).ok is False


def test_api_errors_raise(client):
    with pytest.raises(ApiError) as e:
        client.run("while True:\n    pass", timeout_ms=200)
    assert e.value.status == 504 and e.value.code == "timeout"
    with pytest.raises(ApiError) as e:
        client.run("1", mode="fast")
    assert e.value.status == 400 and e.value.code == "invalid_value"
    with pytest.raises(ApiError) as e:
        client.run("1", scope={"class": 1})
    assert e.value.code == "invalid_name"
    with pytest.raises(ApiError) as e:
        client.run("1", session="no-such-session")
    assert e.value.status == 404 and e.value.code == "session_not_found"


def test_stdin_and_files_are_passed_through(client):
    # The client sends them as given; the server reads them (tests/api/test_run_io.py).
    r = client.run("input() + open('f.txt').read()", mode="eval", stdin="hello\n",
                   files=[{"path": "f.txt", "text": "!"}])
    assert r.result == "hello!" and r.raw["output"] == [], r.raw
    with pytest.raises(ApiError) as e:
        client.run("1", files=[{"path": "../f.txt", "text": "!"}])
    assert e.value.status == 400 and e.value.code == "invalid_path"


def test_cancel_stops_a_run_by_its_id(client):
    import threading
    import time
    got = {}

    def loop():
        try:
            client.run("while True:\n    pass", run_id="py-loop", timeout_ms=60000)
        except ApiError as e:
            got["error"] = e

    t = threading.Thread(target=loop)
    t.start()
    for _ in range(600):
        try:
            assert client.cancel("py-loop") == {"ok": True, "run_id": "py-loop"}
            break
        except ApiError as e:
            assert e.code == "run_not_found"  # not registered yet
            time.sleep(0.05)
    t.join(60)
    assert (got["error"].status, got["error"].code) == (499, "cancelled")
    with pytest.raises(ApiError) as e:
        client.cancel("py-loop")
    assert (e.value.status, e.value.code) == (404, "run_not_found")


# ---- streaming ----------------------------------------------------------------

def without_host_fields(raw):
    return {k: v for k, v in raw.items() if k not in ("timing", "run_id")}


def test_stream_output_arrives_while_the_run_runs(client):
    # The sleep sends the output at once (the worker gathers what follows a
    # write within 50 ms until the snippet writes, waits or ends again).
    stream = client.stream("import time\nprint('first')\ntime.sleep(0.1)\nwhile True:\n    pass",
                           timeout_ms=60000)
    with stream:
        seen = ""
        while seen != "first\n":
            event = next(stream)
            assert isinstance(event, OutputEvent) and event.stream == "stdout", event
            seen += event.text
        # The print is in, and the run has not ended: it can still be cancelled.
        assert client.cancel(stream.run_id) == {"ok": True, "run_id": stream.run_id}
        with pytest.raises(ApiError) as e:
            list(stream)
    assert (e.value.status, e.value.code) == (499, "cancelled")
    assert e.value.body["stdout"] == "first\n"
    API.validate("POST", "/v1/run", 499, e.value.body)
    assert stream.result is None


def test_stream_ends_with_what_run_returns(client):
    code = "import sys\nprint('a')\nprint('b', file=sys.stderr)\nprint('c')\nx = (n, {2})\nx"
    events = list(client.stream(code, scope={"n": 1}))
    *outputs, last = events
    assert all(isinstance(e, OutputEvent) for e in outputs) and isinstance(last, ResultEvent)
    assert "".join(e.text for e in outputs if e.stream == "stdout") == "a\nc\n"
    assert "".join(e.text for e in outputs if e.stream == "stderr") == "b\n"
    API.validate("POST", "/v1/run", 200, last.result.raw)
    plain = client.run(code, scope={"n": 1})
    assert last.result.result == plain.result == (1, {2})
    assert without_host_fields(last.result.raw) == without_host_fields(plain.raw)
    assert set(last.result.timing) == set(plain.timing)


def test_stream_errors_raise_like_run(client):
    with pytest.raises(SnippetError) as e:
        for _ in client.stream("print('x')\n1/0", raise_errors=True):
            pass
    assert e.value.type == "ZeroDivisionError" and e.value.result.stdout == "x\n"
    events = list(client.stream("1/0"))  # returned, not raised, by default
    assert events[-1].result.error.type == "ZeroDivisionError"
    with pytest.raises(ApiError) as e:
        list(client.stream("while True:\n    pass", timeout_ms=200))
    assert (e.value.status, e.value.code) == (504, "timeout")
    with pytest.raises(ApiError) as e:  # refused before the run: the plain answer
        list(client.attach("no-such-session").stream("1"))
    assert (e.value.status, e.value.code) == (404, "session_not_found")


def test_a_session_run_streams_its_output_then_its_result(client):
    with client.session(scope={"n": 1}) as s:
        *outputs, last = s.stream("n += 1\nprint(n)")
        assert "".join(o.text for o in outputs) == "2\n"
        assert last.result.ok and last.result.scope["n"] == 2
        assert s.eval("n") == 2


def test_an_unreachable_server_raises_scopebox_error():
    with pytest.raises(scopebox.ScopeboxError):
        Client("http://127.0.0.1:9", timeout=5).health()


# ---- sessions and the other routes ------------------------------------------

def test_session_context_manager(client):
    with client.session(scope={"n": 1, "when": datetime.date(2026, 1, 1)}) as s:
        assert s.info.scope == {"n": 1, "when": datetime.date(2026, 1, 1)}
        s.run("n += 1\nhistory = (n,)")
        assert s.eval("n") == 2
        info = s.get()
        assert info.id == s.id and info.runs == 2 and info.scope["history"] == (2,)
        assert s.scope["n"] == 2
        same = client.attach(s.id)
        assert same.eval("n * 10") == 20
        r = client.run("n", mode="eval", session=s.id)
        assert r.result == 2
        with pytest.raises(SnippetError):
            s.run("undefined_name", raise_errors=True)
    assert s.ended
    with pytest.raises(ApiError) as e:
        s.get()
    assert e.value.code == "session_not_found"
    s.__exit__(None, None, None)  # ending twice is fine


def test_session_ended_early_is_fine(client):
    with client.session() as s:
        s.end()
    with client.session() as s:
        client.attach(s.id).end()  # someone else ended it: exit does not raise


def test_a_forked_session_starts_from_the_original_and_goes_its_own_way(client):
    with client.session(scope={"n": 1}) as s:
        s.run("n += 1")
        with s.fork() as f:
            assert f.id != s.id and f.summary.raw["forked_from"] == s.id and f.eval("n") == 2
            f.run("n = 100")
            assert s.eval("n") == 2 and f.eval("n") == 100


def test_list_sessions_a_page_at_a_time(client):
    with client.session() as a, client.session() as b:  # the server holds at most 2
        everything = client.list_sessions()
        assert {a.id, b.id} <= {x.id for x in everything.sessions} and everything.next is None
        first = client.list_sessions(limit=1)
        assert len(first.sessions) == 1 and first.next is not None
        second = client.list_sessions(limit=1, after=first.next)
        assert second.sessions[0].id > first.sessions[0].id
        assert [x.id for x in client.iter_sessions(page_size=1)] == sorted(x.id for x in everything.sessions)
        assert all(isinstance(x.runs, int) and x.created for x in everything.sessions)


def test_export_and_import_a_session(client):
    with client.session(scope={"n": 1}) as s:
        s.run("n += 1\nwords = ('a', b'b')")  # an image exists once the session has run
        exported = s.export()
        assert exported.summary.id == s.id and exported.image
    with client.session(image=exported) as copy:
        assert copy.id != s.id and copy.eval("(n, words)") == (2, ("a", b"b"))
    with client.session(image=exported.image) as again:  # the base64 text works as well
        assert again.eval("n") == 2
    with pytest.raises(ApiError) as e:
        client.session(image="bm90IGFuIGltYWdl")
    assert (e.value.status, e.value.code) == (400, "invalid_image")


def test_health_metrics_openapi(client):
    h = client.health()
    assert h["ok"] is True and h["workers"]["total"] == 2
    assert "scopebox_runs_total" in client.metrics()
    assert client.openapi()["paths"].keys() == API.doc["paths"].keys()


def test_every_client_route_was_checked(client):
    """Runs last: each route the client has was exercised and checked."""
    routes = {(m.upper(), p) for p, item in API.doc["paths"].items() for m in item if m != "parameters"}
    not_client = {("POST", "/mcp")}  # for MCP clients: tests/mcp
    assert routes - not_client <= CheckedClient.seen, routes - not_client - CheckedClient.seen


# ---- API keys ---------------------------------------------------------------



@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    with keyed_server(tmp_path_factory.mktemp("keys")) as s:
        yield s


def test_api_key_goes_out_as_a_bearer_token(keyed):
    with pytest.raises(ApiError) as e:
        Client(keyed.url).run("1")
    assert (e.value.status, e.value.code) == (401, "unauthorized")
    with pytest.raises(ApiError) as e:
        Client(keyed.url, api_key=ALICE[:-1]).run("1")
    assert e.value.code == "unauthorized"
    alice, bob = Client(keyed.url, api_key=ALICE), Client(keyed.url, api_key=BOB)
    assert alice.eval("6 * 7") == 42
    with alice.session(scope={"n": 1}) as s:
        assert s.eval("n") == 1
        # a session belongs to the key that made it: to another, it is not there
        with pytest.raises(ApiError) as e:
            bob.attach(s.id).eval("n")
        assert e.value.code == "session_not_found"
