"""Session images (wasm/runtime/PROTOCOL.md, "Session images"), spoken to
the worker directly: every worker of a build boots to the same pristine
heap; a session's state captured on one worker resumes on another; a worker
refuses an image of another pristine state; what cannot be carried is not."""
import base64
import json
import os

import pytest

from worker_proc import Worker

RUNTIME = os.environ["SCOPEBOX_RUNTIME_DIR"]


def booted():
    w = Worker(RUNTIME)
    ready = w.recv()
    assert ready["type"] == "ready", ready
    return w, ready


def session_run(w, code, id, mode="exec", **extra):
    answer = w.run(code, id=id, mode=mode, capture=True, **extra)
    assert answer["type"] == "result", answer
    image = w.recv()
    assert (image["type"], image["id"]) == ("image", id), image
    assert image["image"] and image["bytes"] == len(base64.b64decode(image["image"])), image
    return answer, image["image"]


def test_two_workers_boot_to_byte_identical_pristine_heaps():
    (a, ra), (b, rb) = booted(), booted()
    # The fingerprint is a SHA-256 of the pristine heap and its layout.
    assert len(ra["fingerprint"]) == 64
    assert ra["fingerprint"] == rb["fingerprint"]
    a.close(), b.close()


def test_state_moves_between_workers_and_random_keeps_its_sequence():
    (a, _), (b, _) = booted(), booted()
    code = ("import json, re, collections, decimal, random\n"
            "v = [i * 3 for i in range(10)]\n"
            "def f(n): return n + v[1]\n"
            "random.seed(7)\n"
            "first = random.random()\n"
            "open('/tmp/notes.txt', 'w').write('kept')\n"
            "import os; os.mkdir('/home/pyodide/d'); os.chdir('/home/pyodide/d')")
    answer, image = session_run(a, code, 1, image="")
    assert answer["ok"], answer
    expected = a.run("random.random()", id=2, mode="eval", persist=True)["result"]
    answer, _ = session_run(
        b, "(f(1), open('/tmp/notes.txt').read(), os.getcwd(), random.random())", 3, mode="eval", image=image)
    assert answer["result"] == {"$type": "tuple", "items": [4, "kept", "/home/pyodide/d", expected]}, answer
    # The worker that resumed it still serves stateless runs from pristine.
    answer = b.run("[n for n in ('f', 'v') if n in globals()] + __import__('os').listdir('/tmp')", id=4, mode="eval")
    assert answer["result"] == [], answer
    a.close(), b.close()


def test_new_sessions_get_their_own_random_seed():
    (a, _), (b, _) = booted(), booted()
    draws = [session_run(w, "import random\nrandom.random()", 1, image="")[0]["result"] for w in (a, b)]
    assert draws[0] != draws[1]
    a.close(), b.close()


def test_image_of_another_pristine_state_is_refused():
    w, _ = booted()
    _, image = session_run(w, "x = 1", 1, image="")
    raw = bytearray(base64.b64decode(image))
    raw[8] ^= 1  # the fingerprint
    answer = w.run("x", id=2, mode="eval", image=base64.b64encode(bytes(raw)).decode())
    assert answer["type"] == "rejected" and answer["error"]["code"] == "session_incompatible", answer
    answer = w.run("x", id=3, mode="eval", image=base64.b64encode(b"garbage" * 10).decode())
    assert answer["type"] == "rejected" and answer["error"]["code"] == "invalid_image", answer
    # The worker is fine afterwards.
    assert w.run("6 * 7", id=4, mode="eval")["result"] == 42
    w.close()


def test_pending_timers_are_not_carried():
    (a, _), (b, _) = booted(), booted()
    code = "import asyncio\nfired = []\nasyncio.get_event_loop().call_later(0.05, fired.append, 'late')"
    _, image = session_run(a, code, 1, image="")
    import time
    time.sleep(0.3)
    # Cancelled by the capture: it never fires on the worker that kept the
    # state, nor on one that resumed it.
    assert a.run("fired", id=2, mode="eval", persist=True)["result"] == []
    answer, _ = session_run(b, "fired", 3, mode="eval", image=image)
    assert answer["result"] == [], answer
    a.close(), b.close()


def test_sleep_after_resuming_with_a_pending_timer():
    """An image taken with a call_later pending, resumed elsewhere: the timer
    was cancelled by the capture, so sleeping past its deadline neither
    fires it (print would write a newline) nor breaks the worker. (Once
    marked as a crash of the resuming worker: the test's own snippet was an
    eval-mode SyntaxError, never a sleep.)"""
    (a, _), (b, _) = booted(), booted()
    code = "import asyncio\nasyncio.get_event_loop().call_later(0.05, print)"
    _, image = session_run(a, code, 1, image="")
    answer = b.run("import time\ntime.sleep(0.2)\n1", id=2, image=image)
    again = b.run("2", id=3, mode="eval", persist=True)
    a.close(), b.close()
    assert answer.get("result") == 1 and answer["stdout"] == "", json.dumps(answer.get("error"))
    assert again.get("result") == 2, again


def test_a_session_that_slept_first_resumes_where_nothing_slept():
    """time.sleep calls a JS callable; Pyodide sets up such a call path
    lazily. Set up first during a session's run, its image named it on a
    worker that never slept, and that worker's first sleep broke the
    interpreter ("table index is out of bounds"): a replica that died left
    every session it had served poisoned for all the others. The worker
    now makes the call before its pristine capture."""
    (a, _), (b, _) = booted(), booted()
    _, image = session_run(a, "import time\ntime.sleep(0.01)\nn = 1", 1, image="")
    answer, _ = session_run(b, "import time\ntime.sleep(0.01)\nn += 1\nn", 2, image=image)
    a.close(), b.close()
    assert answer.get("result") == 2, json.dumps(answer.get("error"))


def test_timed_out_run_sends_no_image():
    w, _ = booted()
    answer = w.run("while True: pass", id=1, image="", capture=True, timeout_ms=300)
    # The timeout frame says what the run did; `idle` follows it, not an image
    # (run() read up to `idle`: an image frame would have failed it).
    assert (answer["type"], answer["id"]) == ("timeout", 1), answer
    assert w.run("1", id=2, mode="eval")["result"] == 1
    w.close()
