"""Session images (wasm/runtime/PROTOCOL.md, "Session images"), spoken to
the worker directly: every worker of a build boots to the same pristine
heap; a session's state captured on one worker resumes on another; a worker
refuses an image of another pristine state; what cannot be carried is not."""
import base64
import json
import os
import struct
import zlib

import brotli
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


# The body's encodings (image.mjs): a page XOR pristine as spans of non-zero
# words (enc "spans"), or, in images of earlier builds, as all its bytes;
# as it is (z "none", a small body), compressed with brotli (z "br"), or, in
# images of earlier builds, deflate.
def unpack(image):
    raw = base64.b64decode(image)
    hlen = struct.unpack_from("<I", raw, 40)[0]
    header = json.loads(raw[44:44 + hlen])
    packed = raw[44 + hlen:]
    z = header.get("z")
    body = packed if z == "none" else brotli.decompress(packed) if z == "br" else zlib.decompress(packed, -15)
    return raw[:40], header, body


def pack(head, header, body):
    """As the header says: as it is for z "none", brotli for z "br",
    deflate without z."""
    text = json.dumps(header).encode()
    if header.get("z") == "none":
        packed = body
    elif header.get("z") == "br":
        packed = brotli.compress(body, quality=0)
    else:
        z = zlib.compressobj(1, zlib.DEFLATED, -15)
        packed = z.compress(body) + z.flush()
    return base64.b64encode(head + struct.pack("<I", len(text)) + text + packed).decode()


def spans_to_pages(body, n):
    """The spans of n pages as n whole pages; and where the files start."""
    at = 4 * n
    pages = bytearray(4096 * n)
    for p in range(n):
        while True:
            head, = struct.unpack_from("<I", body, at)
            at += 4
            if head == 0xFFFFFFFF:
                break
            first, words = head & 0xFFFF, head >> 16
            pages[4096 * p + 4 * first:4096 * p + 4 * (first + words)] = body[at:at + 4 * words]
            at += 4 * words
    return bytes(pages), at


STATE = ("import hashlib, random\n"
         "dense = random.Random(1).randbytes(300_000)\n"
         "sparse = bytearray(300_000)\n"
         "for i in range(0, len(sparse), 4099): sparse[i] = i % 251 + 1\n"
         "digest = hashlib.sha256(dense + bytes(sparse)).hexdigest()\n"
         "open('/tmp/kept.txt', 'w').write('files follow the pages')")
CHECK = ("(hashlib.sha256(dense + bytes(sparse)).hexdigest() == digest, len(dense), sum(sparse),"
         " open('/tmp/kept.txt').read())")


def expected_check():
    sparse = bytearray(300_000)
    for i in range(0, len(sparse), 4099):
        sparse[i] = i % 251 + 1
    return {"$type": "tuple", "items": [True, 300_000, sum(sparse), "files follow the pages"]}


def test_dense_and_sparse_changes_resume_exactly():
    """Pages the run rewrote whole (random bytes) and pages with a word
    changed here and there (spans of one word, gaps of every size) come back
    byte for byte on another worker, and the files after them."""
    (a, _), (b, _) = booted(), booted()
    _, image = session_run(a, STATE, 1, image="")
    assert unpack(image)[1]["enc"] == "spans"
    answer, _ = session_run(b, CHECK, 2, mode="eval", image=image)
    a.close(), b.close()
    assert answer["result"] == expected_check(), answer


def test_images_are_brotli_and_deflate_ones_of_an_earlier_build_resume():
    """A capture compresses its body with brotli (z "br": a quarter of the
    time deflate's Huffman coding took, before every session answer);
    images stored by the builds before it (spans in raw deflate, no z) are
    still resumed."""
    (a, _), (b, _) = booted(), booted()
    _, image = session_run(a, STATE, 1, image="")
    head, header, body = unpack(image)
    assert header["z"] == "br"
    del header["z"]
    answer, _ = session_run(b, CHECK, 2, mode="eval", image=pack(head, header, body))
    a.close(), b.close()
    assert answer["result"] == expected_check(), answer


def test_small_images_go_as_they_are_and_compressed_ones_still_resume():
    """A small session's body goes uncompressed (z "none": brotli there cost
    more of each of its runs than anything else a session adds to a run,
    for a few KiB); the same state compressed with brotli, as the build
    before this one stored it, resumes too. A big body is still brotli
    (the test above)."""
    (a, _), (b, _) = booted(), booted()
    _, image = session_run(a, "n = 41\nopen('/tmp/n.txt', 'w').write('small')", 1, image="")
    head, header, body = unpack(image)
    assert header["z"] == "none" and len(body) <= 64 * 1024, header
    answer, _ = session_run(b, "(n + 1, open('/tmp/n.txt').read())", 2, mode="eval", image=image)
    assert answer["result"] == {"$type": "tuple", "items": [42, "small"]}, answer
    header["z"] = "br"
    answer, _ = session_run(b, "(n + 1, open('/tmp/n.txt').read())", 3, mode="eval",
                            image=pack(head, header, body))
    a.close(), b.close()
    assert answer["result"] == {"$type": "tuple", "items": [42, "small"]}, answer


def test_warm_up_runs_leave_nothing_a_run_can_see():
    """The worker's warm-up requests before its pristine capture (frames.mjs,
    warmRuns: a stateless run setting x, a session created with n) leave
    neither name to a new session nor to a stateless run."""
    w, _ = booted()
    answer, _ = session_run(w, "[k for k in ('n', 'x') if k in globals()]", 1, mode="eval", image="")
    assert answer["result"] == [], answer
    answer = w.run("[k for k in ('n', 'x') if k in globals()]", id=2, mode="eval")
    assert answer["result"] == [], answer
    w.close()


def test_image_with_whole_pages_from_an_earlier_build_resumes():
    """Images stored by builds before the spans encoding (no `enc`: every
    page's 4096 bytes, deflate) are still resumed."""
    (a, _), (b, _) = booted(), booted()
    _, image = session_run(a, STATE, 1, image="")
    head, header, body = unpack(image)
    pages, files_at = spans_to_pages(body, header["pages"])
    del header["enc"], header["z"]
    old = pack(head, header, body[:4 * header["pages"]] + pages + body[files_at:])
    answer, _ = session_run(b, CHECK, 2, mode="eval", image=old)
    a.close(), b.close()
    assert answer["result"] == expected_check(), answer


@pytest.mark.parametrize("bad", ["past_the_page", "empty_span", "cut_short", "unknown_encoding",
                                 "unknown_compression", "header_not_an_object",
                                 "page_outside_the_heap", "file_outside_the_writable_dirs"])
def test_malformed_images_are_refused_before_the_reset(bad):
    """Every part of an image is checked before the worker lets go of the
    state it holds: a refused image leaves that state resident."""
    w, _ = booted()
    _, image = session_run(w, "x = 1", 1, image="")
    head, header, body = unpack(image)
    n = header["pages"]
    if bad == "page_outside_the_heap":
        body = struct.pack("<I", header["heap"] // 4096) + body[4:]
    elif bad == "file_outside_the_writable_dirs":
        header["files"] = [["/tmp/../etc/escaped", "f", 0o644, 0]]
    elif bad == "past_the_page":
        body = body[:4 * n] + struct.pack("<II", 1000 | 100 << 16, 7) + body[4 * n:]
    elif bad == "empty_span":
        body = body[:4 * n] + struct.pack("<I", 5) + body[4 * n:]
    elif bad == "cut_short":
        body = body[:4 * n + 6]
    elif bad == "unknown_compression":
        header["z"] = "lz4"
    elif bad == "unknown_encoding":
        header["enc"] = "rle"
    packed = pack(head, header, body)
    if bad == "header_not_an_object":
        raw = base64.b64decode(packed)
        packed = base64.b64encode(raw[:40] + struct.pack("<I", 4) + b"null" + raw[44 + struct.unpack_from("<I", raw, 40)[0]:]).decode()
    answer = w.run("x", id=2, mode="eval", image=packed)
    assert answer["type"] == "rejected" and answer["error"]["code"] == "invalid_image", answer
    # Nothing was reset: the session's state is still the worker's ...
    assert w.run("x", id=3, mode="eval", persist=True)["result"] == 1
    # ... and nothing applied: a stateless run starts from pristine.
    assert w.run("'x' in globals()", id=4, mode="eval")["result"] is False
    w.close()


def test_a_session_that_recursed_deep_in_c_resumes():
    """The capture skips the free part of the wasm stack (below the stack
    pointer, what finished C calls left). A run that recursed deep through
    C (sum over map, 3000 levels) scribbled far down it; its state resumes
    on a worker whose free stack is pristine, and recursing there again
    works."""
    code = ("import sys\nsys.setrecursionlimit(20000)\n"
            "def f(n): return 0 if n == 0 else 1 + sum(map(f, [n - 1]))\n"
            "n = f(3000)")
    (a, _), (b, _) = booted(), booted()
    _, deep = session_run(a, code, 1, image="")
    answer, _ = session_run(b, "n, f(2500)", 2, mode="eval", image=deep)
    a.close(), b.close()
    assert answer["result"] == {"$type": "tuple", "items": [3000, 2500]}, answer
