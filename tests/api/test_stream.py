"""Runs answered as Server-Sent Events (issue 15, section 3), read by real
SSE clients (curl -N here, Node's fetch in stream.test.mjs): stdout and
stderr events while the snippet runs, then one last event holding exactly
the body the plain answer would hold (`result` for a 200, `error` for any
other status, which the comment line before it gives); closing the stream
cancels the run. Timing is only ever compared with the run's own: nothing
here measures the server against a clock."""
import json
import shutil
import subprocess
import time


from scopebox_server import ScopeboxServer

SSE = {"Accept": "text/event-stream"}
PRINT_SLEEP_PRINT = "import time\nprint(1)\ntime.sleep(1)\nprint(2)"


SERVER_ARGS = ("--workers", "2")


class Stream:
    """curl -N reading the event stream of one run, event by event, each
    with the time it arrived."""

    def __init__(self, server, path, body, headers=()):
        args = [shutil.which("curl"), "-sS", "-N", "-D", "/dev/stderr", server.url + path,
                "-H", "Content-Type: application/json", "-H", "Accept: text/event-stream",
                "--data-binary", json.dumps(body)]
        for h in headers:
            args += ["-H", h]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def events(self):
        """Yields (arrived, comment, event, data) as they come."""
        comment, event, data = None, None, []
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line.startswith(":"):
                comment = line[1:].strip()
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
            elif line == "" and event is not None:
                yield time.monotonic(), comment, event, json.loads("\n".join(data))
                comment, event, data = None, None, []

    def all(self):
        out = list(self.events())
        self.proc.wait(60)
        return out

    def headers(self):
        return self.proc.stderr.read()

    def close(self):
        self.proc.kill()
        self.proc.wait()


def test_output_arrives_while_the_run_runs(server, api):
    stream = Stream(server, "/v1/run", {"code": PRINT_SLEEP_PRINT, "run_id": "s-1"})
    events = stream.all()
    names = [e[2] for e in events]
    assert names[-1] == "result" and set(names[:-1]) == {"stdout"}, names
    text = "".join(e[3]["text"] for e in events[:-1])
    assert text == "1\n2\n"
    first = next(e for e in events if e[3].get("text", "").startswith("1"))
    result = events[-1]
    # The snippet slept 1 s between its prints: streamed, the first print
    # came at least that long before the end; gathered, it would come with it.
    assert result[0] - first[0] >= 0.9, (first, result)
    assert result[1] == "status 200"
    body = result[3]
    api.validate("POST", "/v1/run", 200, body, {"Scopebox-Run-Id": "s-1"})
    assert body["stdout"] == "1\n2\n" and body["run_id"] == "s-1"
    assert "Scopebox-Run-Id: s-1" in stream.headers()


def test_the_first_event_comes_before_the_run_ends(server):
    """Causal, not timed: the run only ends because the client, having seen
    its first output, cancels it. Gathered until the end, the event would
    never come first, and the run would run into its 60 s limit."""
    stream = Stream(server, "/v1/run", {"code": "import sys\nsys.stdout.write('ready\\n')\nwhile True:\n    pass",
                                        "run_id": "s-2", "timeout_ms": 60000})
    events = stream.events()
    arrived, _, event, data = next(events)
    # One write (print() writes the newline apart, and the cancel could land
    # between the two, as it did under load).
    assert (event, data) == ("stdout", {"text": "ready\n"})
    assert server.request("POST", "/v1/runs/s-2/cancel")[0] == 202
    rest = list(events)
    assert rest[-1][1:3] == ("status 499", "error"), rest
    assert rest[-1][3]["error"]["code"] == "cancelled" and rest[-1][3]["stdout"] == "ready\n"


def test_the_last_event_is_exactly_the_plain_answer(server):
    for body in ({"code": "print('a')\n1 / 0"}, {"code": "x * 2", "mode": "eval", "scope": {"x": 0.1}},
                 {"code": "import sys\nprint('e', file=sys.stderr)\nwhile True: pass", "timeout_ms": 200},
                 {"code": "1", "scope": {"class": 1}}):
        events = Stream(server, "/v1/run", body).all()
        status, _, plain = server.run(body)
        last = events[-1]
        assert last[1] == f"status {status}" and last[2] == ("result" if status == 200 else "error"), (last, status)
        for key in ("run_id", "timing"):
            plain.pop(key, None)
            last[3].pop(key, None)
        assert last[3] == plain


def test_stderr_streams_too_and_output_is_capped_like_the_answer():
    with ScopeboxServer("--workers", "1", "--output-cap-bytes", "10") as s:
        s.wait_healthy(1)
        events = Stream(s, "/v1/run", {"code": "import sys\nprint('x' * 50)\nprint('oops', file=sys.stderr)"}).all()
        out = "".join(e[3]["text"] for e in events if e[2] == "stdout")
        err = "".join(e[3]["text"] for e in events if e[2] == "stderr")
        assert (out, err) == ("x" * 10, "oops\n"), events
        assert events[-1][3]["stdout"] == out and events[-1][3]["truncated"]["stdout"] is True


def test_a_session_run_streams(server, api):
    _, _, session = server.request("POST", "/v1/sessions", {"scope": {"n": 1}})
    try:
        events = Stream(server, f"/v1/sessions/{session['id']}/run", {"code": "print(n)\nn += 1"}).all()
        assert [(e[2], e[3].get("text")) for e in events[:-1]][0] == ("stdout", "1")
        assert events[-1][2] == "result" and events[-1][3]["scope"] == {"n": 2}
        api.validate("POST", "/v1/sessions/{id}/run", 200, events[-1][3], {"Scopebox-Run-Id": "x"})
    finally:
        server.request("DELETE", f"/v1/sessions/{session['id']}")


def test_closing_the_stream_cancels_the_run(server):
    stream = Stream(server, "/v1/run", {"code": "print('go', flush=True)\nwhile True:\n    pass",
                                        "run_id": "s-closed", "timeout_ms": 60000})
    assert next(stream.events())[2] == "stdout"
    stream.close()
    deadline = time.monotonic() + 60
    while not any("run=s-closed " in l for l in server.log_lines):
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)
    assert any("(s-closed) cancelled: its client went away" in l for l in server.log_lines), server.log()
    status, _, body = server.run({"code": "1 + 1", "mode": "eval"})
    assert (status, body["result"]) == (200, 2)


def test_errors_before_the_stream_starts_are_plain(server, api):
    status, headers, body = server.request("POST", "/v1/run", {"code": ""}, headers=SSE)
    api.validate("POST", "/v1/run", status, body, headers)
    assert (status, body["error"]["code"]) == (400, "invalid_value")
    assert headers["Content-Type"] == "application/json"


def test_a_streamed_run_in_a_session_resumed_elsewhere(server):
    """A session's image taken on one worker and resumed on another, with
    streamed runs on both sides: the JS call path the output takes must be
    in every worker's pristine state, not made during the session's run
    (which broke the resumed session: "table index is out of bounds")."""
    _, _, a = server.request("POST", "/v1/sessions", {})
    try:
        events = Stream(server, f"/v1/sessions/{a['id']}/run", {"code": "v = 1\nprint(v)\ndef g(): return v + 1"}).all()
        assert events[-1][2] == "result", events
        _, _, exported = server.request("GET", f"/v1/sessions/{a['id']}/export")
        _, _, b = server.request("POST", "/v1/sessions", {"image": exported["image"]})
        try:
            for _ in range(2):
                events = Stream(server, f"/v1/sessions/{b['id']}/run", {"code": "print(g())\ng()"}).all()
                assert events[-1][2] == "result" and events[-1][3]["result"] == 2, events[-1]
                assert events[0][3] == {"text": "2"}
        finally:
            server.request("DELETE", f"/v1/sessions/{b['id']}")
    finally:
        server.request("DELETE", f"/v1/sessions/{a['id']}")
