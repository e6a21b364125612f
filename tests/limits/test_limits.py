"""Time, memory, stack and output limits, end to end through a real server
with the sandbox on. Each case also checks that the server recovers: the
next request on the (possibly replaced) worker succeeds.

The grace period is set to 700 ms so that a run the soft interrupt cannot
stop is still answered within limit + 1 s (the acceptance bound)."""
import time

import pytest

from scopebox_server import ScopeboxServer

LIMIT_MS = 1000
GRACE_MS = 700


@pytest.fixture(scope="module")
def server():
    # Runs here end their workers on purpose: no crash rate limit.
    with ScopeboxServer("--workers", "2", "--timeout-grace-ms", str(GRACE_MS),
                        "--output-cap-bytes", "65536", "--crash-limit", "0") as s:
        s.wait_healthy(2)
        yield s


def run(server, code, timeout_ms=None, **kw):
    body = {"code": code, **kw}
    if timeout_ms is not None:
        body["timeout_ms"] = timeout_ms
    t0 = time.monotonic()
    status, _, out = server.run(body, timeout=120)
    return status, out, time.monotonic() - t0


def healthy_again(server, workers=2, timeout=60):
    server.wait_healthy(workers, timeout=timeout)
    status, out, _ = run(server, "1 + 1", mode="eval")
    assert status == 200 and out["result"] == 2, out


TIMEOUTS = {
    "busy loop": "while True:\n    pass",
    "swallowing KeyboardInterrupt": "while True:\n    try:\n        while True: pass\n    except BaseException:\n        pass",
    "time.sleep": "import time\ntime.sleep(10**6)",
    "C-level bignum": "x = 10**10**8",
    "regex backtracking": "import re\nre.match(r'(a+)+$', 'a' * 64 + 'b')",
    "SIGINT ignored": "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass",
    "sum over a huge range": "sum(range(10**12))",
    "sleep in a finally": "import time\ntry:\n    while True: pass\nfinally:\n    time.sleep(100)",
}


@pytest.mark.parametrize("name", list(TIMEOUTS))
def test_a_run_past_its_limit_is_stopped_with_504_timeout(server, name):
    status, out, elapsed = run(server, TIMEOUTS[name], timeout_ms=LIMIT_MS)
    assert status == 504, out
    assert out["ok"] is False and out["error"]["code"] == "timeout", out
    assert elapsed < LIMIT_MS / 1000 + 1.0, f"{name}: answered after {elapsed:.2f} s"
    healthy_again(server)


def test_own_keyboard_interrupt_is_not_a_timeout(server):
    status, out, _ = run(server, "raise KeyboardInterrupt", timeout_ms=LIMIT_MS)
    assert status == 200 and out["error"]["type"] == "KeyboardInterrupt", out


@pytest.fixture(scope="module")
def patient_server():
    # A long grace: on a loaded machine describing 900 frames outlasted
    # 700 ms, and the kill then ended the run before its answer (a 504 that
    # is right, but not the case under test). What the test guards against
    # happens 50 ms after the first interrupt, whatever the grace.
    with ScopeboxServer("--workers", "1", "--timeout-grace-ms", "10000") as s:
        s.wait_healthy(1)
        yield s


def test_interrupt_during_the_description_keeps_the_answer(patient_server):
    """The watchdog interrupts again every 50 ms; describing a thousand-frame
    traceback takes longer than that on a slow machine. Those interrupts
    must not land in the runner (they once escaped it and the 504 said
    nothing of the run: no output, no line)."""
    code = "print('working')\ndef f(n):\n    if n == 0:\n        while True: pass\n    return f(n - 1)\nf(900)"
    status, out, _ = run(patient_server, code, timeout_ms=300)
    assert status == 504 and out["error"]["stopped_by"] == "interrupt", out
    assert out["stdout"] == "working\n", out
    assert out["error"]["line"] == 4 and len(out["error"]["traceback"]) > 10, out


def test_sleep_is_real_and_cheap(server):
    status, out, elapsed = run(server, "import time\nt = time.monotonic()\ntime.sleep(0.3)\ntime.monotonic() - t")
    assert status == 200 and out["ok"], out
    assert 0.29 <= out["result"] < 1.0, out


MEMORY = {
    "bytearray(3 GiB)": "bytearray(3 * 1024**3)",
    "[0] * 10**9": "x = [0] * 10**9",
    "'x' * 10**10": "x = 'x' * 10**10",
    "growing list": "l = []\nwhile True:\n    l.append('x' * 10**6)",
    "bytes doubling": "b = b'x'\nwhile True:\n    b = b + b",
}


@pytest.mark.parametrize("name", list(MEMORY))
def test_a_memory_bomb_gets_memory_error_or_a_replaced_worker(server, name):
    status, out, _ = run(server, MEMORY[name], timeout_ms=20000)
    if status == 200:
        assert out["ok"] is False, out
        assert out["error"]["type"] in ("MemoryError", "OverflowError"), out
    else:  # a dead interpreter: a clean 500 and a replaced worker
        assert status == 500 and out["error"]["code"] == "worker_crashed", out
    healthy_again(server)


def test_unbounded_recursion_raises_recursion_error(server):
    status, out, _ = run(server, "def f(n): return f(n + 1)\nf(0)")
    assert status == 200 and out["error"]["type"] == "RecursionError", out


def nested(call):
    return ("def go():\n    l = []\n    for i in range(300000):\n        l = [l]\n"
            f"    return {call}\ngo()")


@pytest.mark.parametrize("code", [
    nested("__import__('json').dumps(l)"),
    nested("repr(l)"),
    nested("str(l)"),
    "import sys\nsys.setrecursionlimit(10**7)\ndef f(n): return f(n + 1)\nf(0)",
])
def test_deep_c_recursion_never_takes_the_server_down(server, code):
    """C-level recursion: it works (the interpreter thread has a 256 MB
    stack), or a RecursionError, or a dead interpreter reported as a crash
    (500) and replaced, or a run that cannot stop in time (504); never
    anything worse, and the server recovers."""
    status, out, _ = run(server, code, timeout_ms=20000)
    if status == 200:
        assert out["ok"] or out["error"]["type"] in ("RecursionError", "MemoryError"), out
    elif status == 504:
        assert out["error"]["code"] == "timeout", out
    else:
        assert status == 500 and out["error"]["code"] == "worker_crashed", out
    healthy_again(server)


def test_output_past_the_cap_is_cut_and_marked_truncated(server):
    status, out, _ = run(server, "for i in range(3000):\n    print('x' * 100000)", timeout_ms=20000)
    assert status == 200 and out["ok"], out
    assert out["truncated"]["stdout"] is True
    assert len(out["stdout"]) <= 65536


def test_print_a_gigabyte(server):
    status, out, _ = run(server, "print('x' * 10**9)", timeout_ms=20000)
    assert status == 200, out
    assert out["ok"] or out["error"]["type"] == "MemoryError", out
    assert len(out["stdout"]) <= 65536
    healthy_again(server)


def test_raw_fd_writes_do_not_flood(server):
    status, out, _ = run(server, "import os\nfor i in range(200):\n    os.write(1, b'y' * 100000 + b'\\n')",
                         timeout_ms=20000)
    assert status == 200, out
    flooded = sum(len(l) for l in server.log_lines if "python:" in l)
    assert flooded < 64 * 1024, flooded
