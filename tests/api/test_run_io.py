"""A run's input and output through the real server: the ordered `output`
(order, merging, the cap, the answer budget, 504 bodies, sessions), `stdin`
(input(), sys.stdin, EOF, per run), `files` in and `collect` out (paths,
bounds, the stateless reset, a session's files across workers), each answer
validated against server/openapi.yaml."""
import base64
import json
import os
import signal
import tempfile

import pytest

from scopebox_server import ScopeboxServer

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def one():
    """One worker: consecutive stateless runs land on the same interpreter,
    so whatever a run left would be seen by the next. A small output cap."""
    with ScopeboxServer("--workers", "1", "--output-cap-bytes", "200") as s:
        s.wait_healthy(1)
        yield s


@pytest.fixture(scope="module")
def big():
    """The largest output cap (16 MiB, past the 8 MiB answer budget), bodies
    large enough for the request bounds, a files cap of 6 MiB."""
    with ScopeboxServer("--workers", "1", "--output-cap-bytes", "16777216", "--max-body-bytes",
                        str(12 * MIB), "--worker-files-mb", "6") as s:
        s.wait_healthy(1)
        yield s


def run(s, api, body, path="/v1/run"):
    status, headers, out = s.request("POST", path, body)
    api.validate("POST", path if "/sessions/" not in path else "/v1/sessions/{id}/run", status, out, headers)
    return status, out


def create(s):
    status, _, body = s.request("POST", "/v1/sessions", {})
    assert status == 201, body
    return body["id"]


# ---- output -------------------------------------------------------------

def test_output_is_both_streams_in_the_order_written(server, api):
    code = ("import sys\nprint('a')\nsys.stderr.write('e1 ')\nsys.stderr.write('e2\\n')\n"
            "sys.stdout.write('b')\nprint('c', end='')\nprint('e3', file=sys.stderr)\nprint()")
    status, out = run(server, api, {"code": code})
    assert status == 200, out
    # Adjacent writes to one stream are one chunk; empty writes make none.
    assert out["output"] == [{"stream": "stdout", "text": "a\n"}, {"stream": "stderr", "text": "e1 e2\n"},
                             {"stream": "stdout", "text": "bc"}, {"stream": "stderr", "text": "e3\n"},
                             {"stream": "stdout", "text": "\n"}], out
    assert (out["stdout"], out["stderr"]) == ("a\nbc\n", "e1 e2\ne3\n")
    assert out["truncated"]["output"] is False
    # The traceback of an uncaught error is in `error`, not in stderr.
    status, out = run(server, api, {"code": "print('x')\n1/0"})
    assert out["output"] == [{"stream": "stdout", "text": "x\n"}] and out["error"]["type"] == "ZeroDivisionError"


def test_output_is_cut_by_the_cap_as_a_prefix(one, api):
    # Cap 200: each stream keeps its own 200 bytes; `output` keeps 200 of both
    # together, each chunk costing 32 besides its text.
    status, out = run(one, api, {"code": "import sys\nsys.stdout.write('a' * 150)\nsys.stderr.write('b' * 150)"})
    assert status == 200, out
    assert (out["stdout"], out["stderr"]) == ("a" * 150, "b" * 150)
    assert out["truncated"]["stdout"] is False and out["truncated"]["stderr"] is False
    assert out["output"] == [{"stream": "stdout", "text": "a" * 150}] and out["truncated"]["output"] is True
    # Past the cut nothing comes back, however small: a prefix, never holes.
    status, out = run(one, api, {"code": "import sys\nprint('x' * 300)\nprint('late', file=sys.stderr)"})
    assert out["output"] == [{"stream": "stdout", "text": "x" * 168}], out
    assert out["stderr"] == "late\n" and out["truncated"] == {**out["truncated"], "stdout": True, "output": True}
    # Cut on a character boundary (é is two bytes).
    status, out = run(one, api, {"code": "print('é' * 100)"})
    assert out["output"][0]["text"] == "é" * 84 and len(out["stdout"]) == 100


def test_many_tiny_alternating_writes_keep_a_bounded_number_of_chunks(one, api):
    code = "import sys\nfor i in range(20000):\n    sys.stdout.write('o')\n    sys.stderr.write('e')"
    status, out = run(one, api, {"code": code})
    assert status == 200, out
    assert len(out["output"]) == 200 // 33 and out["truncated"]["output"] is True
    assert [c["stream"] for c in out["output"][:2]] == ["stdout", "stderr"]


def test_output_shares_the_answer_budget(big, api):
    # 6 MiB on stdout under a 16 MiB cap: stdout whole, `output` gets what
    # the 8 MiB answer budget has left, and the answer stays within it.
    status, headers, raw = big.request("POST", "/v1/run", {"code": "print('x' * (6 * 1024 * 1024))"})
    assert status == 200, raw
    api.validate("POST", "/v1/run", status, raw, headers)
    assert len(raw["stdout"]) == 6 * MIB + 1 and raw["truncated"]["stdout"] is False
    kept = sum(len(c["text"]) for c in raw["output"])
    assert 0 < kept < 2 * MIB and raw["truncated"]["output"] is True and raw["truncated"]["answer"] is True
    assert len(json.dumps(raw)) <= 8 * MIB + 4096


def test_output_in_a_timeout_body_and_a_session_run(server, api):
    code = "import sys\nprint('working')\nprint('warn', file=sys.stderr)\nwhile True:\n    pass"
    status, out = run(server, api, {"code": code, "timeout_ms": 300})
    assert status == 504 and out["error"]["stopped_by"] == "interrupt", out
    assert out["output"] == [{"stream": "stdout", "text": "working\n"}, {"stream": "stderr", "text": "warn\n"}]
    sid = create(server)
    status, out = run(server, api, {"code": "import sys\nprint(1)\nprint(2, file=sys.stderr)"},
                      f"/v1/sessions/{sid}/run")
    assert out["output"] == [{"stream": "stdout", "text": "1\n"}, {"stream": "stderr", "text": "2\n"}], out
    server.request("DELETE", f"/v1/sessions/{sid}")


# ---- stdin ---------------------------------------------------------------

def test_input_reads_lines_then_eof_as_cpython(server, api):
    code = ("got = []\nwhile True:\n    try:\n        got.append(input('> '))\n    except EOFError as e:\n"
            "        err = str(e)\n        break\ngot, err")
    status, out = run(server, api, {"code": code, "stdin": "one\ntwo\r\nthree"})
    assert status == 200, out
    # The last line without a newline still comes back; \r\n reads as \n.
    assert out["result"] == {"$type": "tuple", "items": [["one", "two", "three"], "EOF when reading a line"]}
    assert out["stdout"] == "> > > > "


def test_sys_stdin_read_readline_and_iteration(server, api):
    code = ("import sys\nfirst = sys.stdin.readline()\nsecond = sys.stdin.read(3)\n"
            "rest = [line for line in sys.stdin]\n(first, second, rest, sys.stdin.read(), sys.stdin.readable(),"
            " sys.stdin.writable(), sys.stdin.isatty())")
    status, out = run(server, api, {"code": code, "stdin": "héllo\nabcdef\nlast\n"})
    assert out["result"] == {"$type": "tuple", "items": ["héllo\n", "abc", ["def\n", "last\n"], "", True, False, False]}, out
    status, out = run(server, api, {"code": "import sys\nsys.stdin.write('x')"})
    assert out["error"]["type"] == "io.UnsupportedOperation", out


def test_stdin_is_per_run_in_a_session(server, api):
    sid = create(server)
    status, out = run(server, api, {"code": "first = input()", "stdin": "a\nb\n"}, f"/v1/sessions/{sid}/run")
    assert status == 200 and out["ok"], out
    # The next run does not get what the first left unread.
    status, out = run(server, api, {"code": "input()"}, f"/v1/sessions/{sid}/run")
    assert out["error"]["type"] == "EOFError" and "stdin is empty" in out["error"]["message"], out
    status, out = run(server, api, {"code": "first, input()", "mode": "eval", "stdin": "c"},
                      f"/v1/sessions/{sid}/run")
    assert out["result"] == {"$type": "tuple", "items": ["a", "c"]}, out
    server.request("DELETE", f"/v1/sessions/{sid}")


def test_stdin_up_to_its_bound(big, api):
    status, out = run(big, api, {"code": "import sys\nlen(sys.stdin.read())", "stdin": "x" * MIB})
    assert (status, out["result"]) == (200, MIB), out
    status, out = run(big, api, {"code": "1", "stdin": "é" * (MIB // 2 + 1)})
    assert (status, out["error"]["code"]) == (400, "stdin_too_large"), out


# ---- files ---------------------------------------------------------------

def test_files_are_written_before_the_run(server, api):
    files = [{"path": "data.csv", "text": "a,1\n"}, {"path": "./deep/er/x.txt", "text": "ü"},
             {"path": "/tmp/blob.bin", "base64": base64.b64encode(bytes(range(256))).decode()},
             {"path": "/home/pyodide/empty", "base64": ""}, {"path": "data.csv", "text": "a,2\n"}]
    code = ("import os\n(os.getcwd(), open('data.csv').read(), open('deep/er/x.txt', encoding='utf-8').read(),"
            " open('/tmp/blob.bin', 'rb').read() == bytes(range(256)), os.path.getsize('empty'))")
    status, out = run(server, api, {"code": code, "files": files})
    assert status == 200, out
    # Later entries overwrite earlier ones of the same path.
    assert out["result"] == {"$type": "tuple", "items": ["/home/pyodide", "a,2\n", "ü", True, 0]}, out


def test_collect_returns_matching_files_as_text_or_base64(server, api):
    code = ("import os\nos.makedirs('out/sub', exist_ok=True)\nopen('out/a.txt', 'w').write('A')\n"
            "open('out/sub/b.txt', 'w').write('B')\nopen('out/.hidden', 'w').write('h')\n"
            "open('out/c.bin', 'wb').write(b'\\xff\\x00')\nopen('/tmp/t.log', 'w').write('log')\n"
            "os.symlink('/tmp/t.log', 'out/link.txt')\nopen('skip.txt', 'w').write('no')")
    status, out = run(server, api, {"code": code, "collect": ["out/*", "out/**/*.txt", "/tmp/*.log"]})
    assert status == 200, out
    assert out["files"] == [
        {"path": "/tmp/t.log", "size": 3, "text": "log"},
        {"path": "out/.hidden", "size": 1, "text": "h"},
        {"path": "out/a.txt", "size": 1, "text": "A"},
        {"path": "out/c.bin", "size": 2, "base64": "/wA="},
        {"path": "out/sub/b.txt", "size": 1, "text": "B"},
    ], out
    # Input files match too; a pattern matching nothing is no error.
    status, out = run(server, api, {"code": "pass", "files": [{"path": "in.txt", "text": "i"}],
                                    "collect": ["*.txt", "nothing/*"]})
    assert out["files"] == [{"path": "in.txt", "size": 1, "text": "i"}], out


def test_collect_is_bounded(big, api):
    # 4 MiB of contents per answer: the 3 MiB file fits, the 2 MiB after it
    # is listed without contents; past 100 files the rest are counted.
    code = ("open('a.bin', 'wb').write(b'a' * (3 << 20))\nopen('b.bin', 'wb').write(b'b' * (2 << 20))\n"
            "import os\nos.mkdir('/tmp/many')\nfor i in range(120):\n    open(f'/tmp/many/{i:03}', 'w').write('x')")
    status, out = run(big, api, {"code": code, "collect": ["*.bin", "/tmp/many/*"]})
    assert status == 200, out
    first = out["files"][:2]
    assert first == [{"path": "/tmp/many/000", "size": 1, "text": "x"}, {"path": "/tmp/many/001", "size": 1, "text": "x"}]
    assert len(out["files"]) == 100 and out["truncated"]["files"] == 22, out["truncated"]
    status, out = run(big, api, {"code": code, "collect": ["*.bin"]})
    assert out["files"] == [{"path": "a.bin", "size": 3 << 20, "text": "a" * (3 << 20)},
                            {"path": "b.bin", "size": 2 << 20, "omitted": True}]


def test_files_past_the_workers_cap_are_refused_and_leave_nothing(big, api):
    # 7 MiB: within the request's bound (8 MiB), past this worker's 6 MiB.
    files = [{"path": "small.txt", "text": "s"}, {"path": "huge.txt", "text": "x" * (7 * MIB)}]
    status, out = run(big, api, {"code": "1", "files": files})
    assert (status, out["error"]["code"]) == (400, "files_too_large"), out
    status, out = run(big, api, {"code": "import os\nos.listdir('.')", "mode": "exec"})
    assert (status, out["result"]) == (200, []), out


def test_stateless_runs_leave_no_files_behind(one, api):
    code = ("import os\nopen('mine.txt', 'w').write('x')\nos.makedirs('/tmp/d/e')\n"
            "open('/tmp/d/e/f', 'w').write('y')\nsorted(os.listdir('.') + os.listdir('/tmp'))")
    status, out = run(one, api, {"code": code, "files": [{"path": "given.txt", "text": "g"}]})
    assert out["result"] == ["d", "given.txt", "mine.txt"], out
    # Same worker (there is one): its next run finds both directories empty.
    status, out = run(one, api, {"code": "import os\n(os.listdir('.'), os.listdir('/tmp'))", "mode": "exec"})
    assert out["result"] == {"$type": "tuple", "items": [[], []]}, out


def test_a_sessions_files_persist_across_runs_and_workers(server, api):
    sid = create(server)
    status, out = run(server, api, {"code": "open('notes.txt', 'a').write('one\\n')",
                                    "files": [{"path": "/tmp/cfg.json", "text": "{\"k\": 1}"}]},
                      f"/v1/sessions/{sid}/run")
    assert status == 200 and out["ok"], out
    # Exported and imported: the new session may run on any worker, from the
    # image alone; its files came with it.
    status, _, exp = server.request("GET", f"/v1/sessions/{sid}/export")
    assert status == 200, exp
    server.request("DELETE", f"/v1/sessions/{sid}")
    status, _, body = server.request("POST", "/v1/sessions", {"image": exp["image"]})
    assert status == 201, body
    copy = body["id"]
    status, out = run(server, api, {"code": "import json\nopen('notes.txt', 'a').write('two\\n')\n"
                                            "json.load(open('/tmp/cfg.json'))['k']", "collect": ["notes.txt"]},
                      f"/v1/sessions/{copy}/run")
    assert out["result"] == 1 and out["files"] == [{"path": "notes.txt", "size": 8, "text": "one\ntwo\n"}], out
    # A stateless run in between sees none of them.
    status, out = run(server, api, {"code": "import os\nos.listdir('.') + os.listdir('/tmp')", "mode": "exec"})
    assert out["result"] == [], out
    server.request("DELETE", f"/v1/sessions/{copy}")


def test_a_sessions_files_survive_a_restart_with_the_disk_store(api):
    with tempfile.TemporaryDirectory() as d:
        with ScopeboxServer("--workers", "1", "--session-dir", d) as s:
            s.wait_healthy(1)
            sid = create(s)
            status, out = run(s, api, {"code": "pass", "files": [{"path": "kept.txt", "text": "k"}]},
                              f"/v1/sessions/{sid}/run")
            assert status == 200, out
            s.proc.send_signal(signal.SIGKILL)
            s.proc.wait()
        with ScopeboxServer("--workers", "1", "--session-dir", d) as s:
            s.wait_healthy(1)
            status, out = run(s, api, {"code": "open('kept.txt').read()", "mode": "eval"}, f"/v1/sessions/{sid}/run")
            assert (status, out["result"]) == (200, "k"), out


def test_a_session_outside_the_writable_dirs_gets_invalid_path_and_keeps_its_state(server, api):
    sid = create(server)
    run(server, api, {"code": "import os\nos.chdir('/')\nx = 1"}, f"/v1/sessions/{sid}/run")
    # Relative paths resolve in the cwd, now '/': only the worker can tell.
    status, out = run(server, api, {"code": "x = 2", "scope": {"y": 1}, "files": [{"path": "a.txt", "text": "a"}]},
                      f"/v1/sessions/{sid}/run")
    assert (status, out["error"]["code"]) == (400, "invalid_path") and "outside" in out["error"]["message"], out
    status, out = run(server, api, {"code": "import os\n(x, 'y' in globals(), os.getcwd())", "mode": "exec",
                                    "files": [{"path": "/tmp/b.txt", "text": "b"}], "collect": ["/tmp/*"]},
                      f"/v1/sessions/{sid}/run")
    assert out["result"] == {"$type": "tuple", "items": [1, False, "/"]}, out
    # Collected paths are relative to the cwd when inside it: here '/'.
    assert out["files"] == [{"path": "tmp/b.txt", "size": 1, "text": "b"}], out
    server.request("DELETE", f"/v1/sessions/{sid}")


def test_a_symlink_out_of_the_writable_dirs_is_not_followed_for_files(server, api):
    sid = create(server)
    run(server, api, {"code": "import os\nos.symlink('/lib', '/tmp/out')"}, f"/v1/sessions/{sid}/run")
    status, out = run(server, api, {"code": "1", "files": [{"path": "/tmp/out/x.py", "text": "x"}]},
                      f"/v1/sessions/{sid}/run")
    assert (status, out["error"]["code"]) == (400, "invalid_path"), out
    server.request("DELETE", f"/v1/sessions/{sid}")
