"""The worker's side of wasm/runtime/PROTOCOL.md, spoken to without the C
host: answers carry the run's id, the watchdog is armed for every run, the
worker ends cleanly when stdin ends between frames (after answering what it
read), and a frame that breaks the protocol gets `fatal` and exit status 70."""
import json
import os

from worker_proc import Worker, frame

RUNTIME = os.environ["SCOPEBOX_RUNTIME_DIR"]
EXIT_PROTOCOL = 70


def booted():
    w = Worker(RUNTIME)
    ready = w.recv()
    assert ready["type"] == "ready", ready
    assert ready["pid"] == w.proc.pid
    return w


def test_runs_answer_in_order_and_stdin_end_exits_cleanly():
    w = booted()
    for i in range(1, 4):
        answer = w.run(f"{i} * 7", id=i * 1000, mode="eval")
        assert (answer["type"], answer["id"], answer["result"]) == ("result", i * 1000, i * 7), answer
    w.close()
    assert w.proc.returncode == 0


def test_every_run_gets_its_own_time_limit():
    w = booted()
    for i in range(2):
        answer = w.run(f"print({i})\nwhile True: pass", id=10 + i, timeout_ms=200)
        assert (answer["type"], answer["id"], answer["stdout"]) == ("timeout", 10 + i, f"{i}\n"), answer
        assert answer["error"]["line"] == 2 and answer["error"]["source"] == "while True: pass", answer
        assert "ok" not in answer and "result" not in answer, answer
        assert w.run("6 * 7", id=20 + i, mode="eval")["result"] == 42
    w.close()
    assert w.proc.returncode == 0


def test_every_answer_is_followed_by_idle():
    """Each answer (result, rejected, timeout; stateless or persistent) is
    followed by exactly one `idle`, sent once the run's state is reset."""
    w = booted()
    for i, (code, extra, kind) in enumerate([
            ("x = 1", {}, "result"), ("'x' in globals()", {"mode": "eval"}, "result"),
            ("1", {"scope": {"class": 1}}, "rejected"), ("while True: pass", {"timeout_ms": 100}, "timeout"),
            ("y = 2", {"persist": True}, "result")]):
        w.send(frame({"type": "run", "id": i, "code": code, "mode": "exec", **extra}))
        answer = w.recv()
        assert (answer["type"], answer["id"]) == (kind, i), answer
        assert w.until_idle() == []
        if i == 1:
            assert answer["result"] is False, answer  # the first run's x was wiped
    w.close()
    assert w.proc.returncode == 0


def test_without_its_sandbox_a_worker_says_fatal_and_exits_70():
    """Started outside the host's sandbox (here: no permission model) and
    without --insecure, the worker refuses: one `fatal` frame naming the
    missing layer, exit status 70 (it used to die of a ReferenceError)."""
    w = Worker(RUNTIME, insecure=False)
    answer = w.recv()
    assert answer["type"] == "fatal" and "sandbox missing" in answer["message"], answer
    assert w.proc.wait(30) == EXIT_PROTOCOL


def test_run_read_before_stdin_ended_is_still_answered():
    w = booted()
    w.send(frame({"type": "run", "id": 5, "code": "import time\ntime.sleep(0.3)\n'done'", "mode": "exec"}))
    w.proc.stdin.close()
    answer = w.recv()
    assert (answer["id"], answer["result"]) == (5, "done"), answer
    assert w.until_idle() == []
    assert w.recv() is None
    assert w.proc.wait(30) == 0


def expect_fatal(w, words):
    answer = w.recv()
    assert answer["type"] == "fatal" and words in answer["message"], answer
    assert w.proc.wait(30) == EXIT_PROTOCOL


def test_two_frames_before_an_answer_are_a_protocol_error():
    w = booted()
    run = {"type": "run", "id": 1, "code": "1", "mode": "eval"}
    w.send(frame(run) + frame(dict(run, id=2)))
    expect_fatal(w, "2 frames sent before an answer")


def test_unknown_message_type_is_a_protocol_error():
    w = booted()
    w.send(frame({"type": "jump", "id": 1}))
    expect_fatal(w, 'unknown message type "jump"')


def test_bad_timeout_is_a_protocol_error():
    w = booted()
    w.send(frame({"type": "run", "id": 1, "code": "1", "mode": "eval", "timeout_ms": 2 ** 31}))
    expect_fatal(w, "timeout_ms")


def test_stdin_ending_inside_a_frame_is_a_protocol_error():
    w = booted()
    body = json.dumps({"type": "run", "id": 1, "code": "1", "mode": "eval"}).encode()
    w.send(frame(body)[:-3])
    w.proc.stdin.close()
    expect_fatal(w, "stdin ended inside a frame")


def test_a_payload_that_is_not_utf8_is_a_protocol_error():
    """The payload's bytes go to the runner as they are (frames.mjs,
    frameRunner): the worker checks them first. It used to replace the bad
    byte with U+FFFD and run the snippet."""
    w = booted()
    w.send(frame(b'{"type":"run","id":1,"code":"\xff","mode":"eval"}'))
    expect_fatal(w, "payload is not UTF-8")


def test_text_crosses_as_utf8_both_ways():
    """Raw (unescaped) UTF-8 of every width in the request, in code and
    scope, comes back as the same characters, raw too; a big value as well
    (past the 64 KiB a string may take in the answer, cut on a character)."""
    w = booted()
    wide = "\u00e9\u4e2d\U0001f600"
    body = json.dumps({"type": "run", "id": 5, "mode": "eval", "code": f"s + '{wide}'",
                       "scope": {"s": wide, "big": wide * 30000}}, ensure_ascii=False).encode()
    w.send(frame(body))
    head = w.proc.stdout.read(4)
    raw = w.proc.stdout.read(int.from_bytes(head, "big"))
    answer = json.loads(raw.decode("utf-8"))
    assert answer["type"] == "result" and answer["ok"], answer
    assert answer["result"] == wide * 2
    assert wide.encode() in raw  # not \u escapes
    big = answer["scope"]["big"]
    assert big["$type"] == "str" and big["truncated"] and big["length"] == 90000
    assert wide * 1000 in big["value"]
    w.until_idle()
    w.close()


def test_the_answer_budget_counts_strings_as_json_writes_them():
    """PROTOCOL.md, "Answer size": every string is charged the bytes it takes
    in the answer's JSON. codec.json_size skips escaping a long ASCII string
    that needs none (scopebox_worker/codec.py); either way the count is the
    encoder's, escapes at the very end and DEL (never escaped) included."""
    w = booted()
    code = (
        "import json\n"
        "from scopebox_worker.codec import json_size\n"
        "cases = ['x' * n + tail for n in (0, 10, 256, 257, 70000)\n"
        "         for tail in ('', '\"', '\\\\', '\\x1f', '\\x00', '\\x7f', '\\n', '\\u00e9', '\\U0001f600')]\n"
        "cases += ['\\x7f' * 400, '\\n' * 300, '\\u00e9' * 300, '\\ud800' * 300]\n"
        "[(repr(s[-3:]), len(s)) for s in cases\n"
        " if json_size(s) != len(json.dumps(s, ensure_ascii=False).encode('utf-8', 'surrogatepass'))]")
    answer = w.run(code)
    assert answer["type"] == "result" and answer["ok"], answer
    assert answer["result"] == []
    w.close()
