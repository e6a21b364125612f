"""The `scopebox` command line (clients/python/bin/scopebox), run as a
subprocess against a real server: what it prints where, and its exit codes."""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

HERE = os.path.dirname(__file__)
from scopebox_server import ALICE, ScopeboxServer, keyed_server

# SCOPEBOX_CLI: an installed one (tests/docker); default: the source tree's.
CLI = os.environ.get("SCOPEBOX_CLI") or os.path.join(HERE, "..", "..", "clients", "python", "bin", "scopebox")
PYTHON = os.environ.get("SCOPEBOX_PYTHON", sys.executable)


@pytest.fixture(scope="module")
def server():
    with ScopeboxServer("--workers", "2", "--max-sessions", "2") as s:
        s.wait_healthy(2)
        yield s


def cli(server, *args, stdin=None, env_url=True):
    env = dict(os.environ)
    env.pop("SCOPEBOX_URL", None)
    if env_url:
        env["SCOPEBOX_URL"] = server.url
    p = subprocess.run([PYTHON, CLI, *args], input=stdin, capture_output=True, text=True, env=env,
                       timeout=120)
    return p.returncode, p.stdout, p.stderr


def test_run_code_with_scope_and_dynamic(server):
    rc, out, err = cli(server, "run", "-c", "import sys\nprint(greeting, name)\nprint('warn', file=sys.stderr)\n(n, n * 2)",
                       "--scope", "name=\"ada\"", "--scope", "n=21", "--dynamic", "greeting=\"hi\"")
    assert (rc, out, err) == (0, "hi ada\n(21, 42)\n", "warn\n")


def test_run_file_and_stdin(server, tmp_path):
    f = tmp_path / "snippet.py"
    f.write_text("total = sum(xs)\nprint('total', total)\n", encoding="utf-8")
    rc, out, err = cli(server, "run", str(f), "--scope", "xs=[1, 2, 3]")
    assert (rc, out, err) == (0, "total 6\n", "")  # a None result prints nothing
    rc, out, _ = cli(server, "run", "-", stdin="print('from stdin')\n")
    assert (rc, out) == (0, "from stdin\n")


def test_eval_and_tagged_values(server):
    rc, out, _ = cli(server, "run", "--eval", "-c", "(sorted(s), big + 1)",
                     "--scope", 's={"$type": "set", "items": [3, 1, 2]}',
                     "--scope", 'big={"$type": "int", "value": "123456789012345678901234567890"}')
    assert (rc, out) == (0, "([1, 2, 3], 123456789012345678901234567891)\n")
    rc, _, err = cli(server, "run", "--eval", "-c", "x = 1")
    assert rc == 1 and "SyntaxError" in err


def test_snippet_error_prints_traceback_and_exits_1(server):
    rc, out, err = cli(server, "run", "-c", "print('before')\ndef ratio(a, b):\n    return a / b\nratio(1, 0)")
    assert rc == 1
    assert out == "before\n"
    assert err == ("Traceback (most recent call last):\n  line 4, in <module>\n    ratio(1, 0)\n"
                   "  line 3, in ratio\n    return a / b\nZeroDivisionError: division by zero\n")


def test_timeout_is_an_api_error(server):
    rc, out, err = cli(server, "run", "-c", "while True:\n    pass", "--timeout", "200ms")
    assert rc == 3 and out == ""
    assert err.startswith("scopebox: 504 timeout: ")


def test_json_prints_the_raw_answer(server):
    rc, out, _ = cli(server, "run", "--json", "--eval", "-c", "(1, 2)")
    body = json.loads(out)
    assert rc == 0 and body["result"] == {"$type": "tuple", "items": [1, 2]} and "timing" in body
    rc, out, _ = cli(server, "run", "--json", "-c", "1/0")
    assert rc == 1 and json.loads(out)["error"]["type"] == "ZeroDivisionError"
    rc, out, _ = cli(server, "run", "--json", "-c", "1", "--scope", "class=1")
    assert rc == 3 and json.loads(out)["error"]["code"] == "invalid_name"


def test_return_keeps_only_the_named_scope_entries(server):
    rc, out, _ = cli(server, "run", "--json", "-c", "a = 1\nb = 2", "--return", "b")
    assert rc == 0 and json.loads(out)["scope"] == {"b": 2}


def cancelled_runs(server):
    text = urllib.request.urlopen(server.url + "/metrics", timeout=30).read().decode()
    return int(re.search(r'^scopebox_runs_total\{outcome="cancelled"\} (\d+)$', text, re.M).group(1))


def test_output_is_printed_as_it_comes_and_ctrl_c_cancels_the_run(server):
    before = cancelled_runs(server)
    env = dict(os.environ, SCOPEBOX_URL=server.url)
    p = subprocess.Popen([PYTHON, CLI, "run", "--timeout", "60s", "-c",
                          "import sys, time\nprint('first')\nprint('warn', file=sys.stderr)\ntime.sleep(0.1)\n"
                          "while True:\n    pass"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert p.stdout.readline() == "first\n"
        assert p.stderr.readline() == "warn\n"
        assert p.poll() is None  # printed while the run still runs
        p.send_signal(signal.SIGINT)
        assert p.wait(60) == 130
        assert p.stderr.read() == "scopebox: interrupted\n"
    finally:
        if p.poll() is None:
            p.kill()
        p.stdout.close()
        p.stderr.close()
    # Its stream closed, the server cancelled the run (its worker answers
    # the cancel at its next bytecode).
    for _ in range(600):
        if cancelled_runs(server) > before:
            break
        time.sleep(0.1)
    assert cancelled_runs(server) == before + 1


def test_session_run_streams_too(server):
    rc, out, _ = cli(server, "session", "start", "--scope", "n=1")
    sid = out.strip()
    rc, out, err = cli(server, "session", "run", sid, "-c", "import sys\nn += 1\nprint(n)\nprint('e', file=sys.stderr, end='')\nn")
    assert (rc, out, err) == (0, "2\n2\n", "e")
    assert cli(server, "session", "end", sid)[0] == 0


def test_session_start_run_show_end(server):
    rc, out, _ = cli(server, "session", "start", "--scope", "n=1")
    assert rc == 0
    sid = out.strip()
    assert cli(server, "session", "run", sid, "-c", "n += 1\nitems = (n,)")[0] == 0
    assert cli(server, "session", "run", sid, "--eval", "-c", "n * 10")[:2] == (0, "20\n")
    assert cli(server, "run", "--session", sid, "--eval", "-c", "n")[:2] == (0, "2\n")
    rc, out, _ = cli(server, "session", "show", sid)
    assert (rc, out) == (0, "n = 2\nitems = (2,)\n")
    rc, out, _ = cli(server, "session", "end", sid, "--json")
    assert rc == 0 and json.loads(out) == {"ok": True, "id": sid}
    rc, _, err = cli(server, "session", "run", sid, "-c", "n")
    assert rc == 3 and "session_not_found" in err


def test_session_fork_list_export_and_start_from_the_image(server, tmp_path):
    rc, out, _ = cli(server, "session", "start", "--scope", "n=1")
    sid = out.strip()
    assert cli(server, "session", "run", sid, "-c", "n += 1")[0] == 0
    rc, out, _ = cli(server, "session", "fork", sid)
    copy = out.strip()
    assert rc == 0 and copy != sid
    rc, out, _ = cli(server, "session", "list")
    assert rc == 0 and {line.split()[0] for line in out.splitlines()} >= {sid, copy}
    rc, out, _ = cli(server, "session", "list", "--json")
    assert rc == 0 and {x["id"] for x in json.loads(out)} >= {sid, copy}
    assert cli(server, "session", "end", copy)[0] == 0
    rc, out, _ = cli(server, "session", "export", sid)
    assert rc == 0 and json.loads(out)["id"] == sid and json.loads(out)["image"]
    image = tmp_path / "image.json"
    image.write_text(out)
    assert cli(server, "session", "end", sid)[0] == 0
    rc, out, err = cli(server, "session", "start", "--image", str(image))
    restored = out.strip()
    assert rc == 0, err
    assert cli(server, "session", "run", restored, "--eval", "-c", "n")[:2] == (0, "2\n")
    rc, out, _ = cli(server, "session", "start", "--image", "-", stdin=json.loads(image.read_text())["image"])
    assert rc == 0 and cli(server, "session", "end", out.strip())[0] == 0
    assert cli(server, "session", "end", restored)[0] == 0
    rc, _, err = cli(server, "session", "start", "--image", "-", stdin="{}")
    assert rc == 2 and "no \"image\"" in err


def test_url_flag_and_unreachable_server(server):
    rc, out, _ = cli(server, "run", "--url", server.url, "--eval", "-c", "6 * 7", env_url=False)
    assert (rc, out) == (0, "42\n")
    rc, _, err = cli(server, "run", "--url", "http://127.0.0.1:9", "-c", "1")
    assert rc == 4 and "cannot reach" in err


@pytest.mark.parametrize("args", [
    ["run"], ["run", "-c", "1", "--scope", "x"], ["run", "-c", "1", "--scope", "x=nope"],
    ["run", "-c", "1", "--timeout", "soon"], ["run", "/nonexistent/file.py"], ["session"], ["frobnicate"],
])
def test_bad_usage_exits_2(server, args):
    rc, out, err = cli(server, *args)
    assert rc == 2 and out == "" and err


def test_api_key_from_the_flag_or_the_environment(tmp_path):
    key = ALICE
    with keyed_server(tmp_path) as s:
        rc, out, err = cli(s, "run", "--eval", "-c", "1 + 1")
        assert rc == 3 and err.startswith("scopebox: 401 unauthorized: "), err
        rc, out, err = cli(s, "run", "--api-key", key, "--eval", "-c", "1 + 1")
        assert (rc, out) == (0, "2\n"), err
        os.environ["SCOPEBOX_API_KEY"] = key
        try:
            rc, out, err = cli(s, "run", "--eval", "-c", "2 + 2")
        finally:
            del os.environ["SCOPEBOX_API_KEY"]
        assert (rc, out) == (0, "4\n"), err
