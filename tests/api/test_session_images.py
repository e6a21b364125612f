"""Sessions are data (issue 14): a session is a signed image in the session
store that any pool worker resumes. Listing, fork, export and import; the
store's checks (signature, build); and what survives: every worker killed
between two runs, a run killed past its limit, a server restart with
--session-dir."""
import base64
import hashlib
import hmac
import os
import re
import signal
import tempfile
import time

import pytest

from scopebox_server import ScopeboxServer

REFERENCE = ("import json, re, collections, decimal\n"
             + "\n".join(f"v{i} = {i} * 3" for i in range(10))
             + "\ndef f(a): return a + 1\ndef g(): return f(v1)\n")


def create(s, **fields):
    status, headers, body = s.request("POST", "/v1/sessions", fields)
    assert status == 201, body
    assert headers["Location"] == "/v1/sessions/" + body["id"]
    return body["id"]


def run(s, sid, code, mode="exec", **extra):
    return s.request("POST", f"/v1/sessions/{sid}/run", {"code": code, "mode": mode, **extra})


def metric(s, name):
    text = s.request("GET", "/metrics")[2]
    m = re.search("^" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


@pytest.fixture(scope="module")
def srv():
    with ScopeboxServer("--workers", "2", "--timeout-grace-ms", "500") as s:
        s.wait_healthy(2)
        yield s


def test_list_is_paginated_in_id_order(srv, api):
    ids = sorted(create(srv) for _ in range(3))
    run(srv, ids[0], "x = 1")
    seen, after = [], ""
    while True:
        status, _, page = srv.request("GET", "/v1/sessions?limit=2" + (f"&after={after}" if after else ""))
        assert status == 200, page
        api.validate("GET", "/v1/sessions", status, page)
        assert len(page["sessions"]) <= 2
        seen += page["sessions"]
        if page["next"] is None:
            break
        after = page["next"]
    mine = {s["id"]: s for s in seen if s["id"] in ids}
    assert sorted(mine) == ids and [s["id"] for s in seen] == sorted(s["id"] for s in seen)
    assert mine[ids[0]]["runs"] == 1 and mine[ids[0]]["image_bytes"] > 0
    assert mine[ids[1]]["runs"] == 0 and mine[ids[1]]["image_bytes"] == 0
    assert srv.request("GET", "/v1/sessions?limit=0")[0] == 400
    assert srv.request("GET", "/v1/sessions?after=not%20an%20id")[0] == 400
    for sid in ids:
        srv.request("DELETE", f"/v1/sessions/{sid}")


def test_fork_copies_the_state_and_leaves_the_original_alone(srv, api):
    sid = create(srv, scope={"n": 1})
    run(srv, sid, "n += 1\nhistory = [n]")
    status, headers, fork = srv.request("POST", f"/v1/sessions/{sid}/fork")
    assert status == 201, fork
    api.validate("POST", "/v1/sessions/{id}/fork", status, fork, headers)
    assert fork["forked_from"] == sid and fork["id"] != sid and fork["runs"] == 1
    assert headers["Location"] == "/v1/sessions/" + fork["id"]
    status, _, b = run(srv, fork["id"], "n += 10\nhistory.append(n)\nhistory", mode="exec")
    assert (status, b["result"]) == (200, [2, 12]), b
    status, _, b = run(srv, sid, "n, history", mode="eval")
    assert b["result"] == {"$type": "tuple", "items": [2, [2]]}, b
    for x in (sid, fork["id"]):
        srv.request("DELETE", f"/v1/sessions/{x}")
    assert srv.request("POST", f"/v1/sessions/{sid}/fork")[0] == 404


def test_export_and_import(srv, api):
    sid = create(srv)
    run(srv, sid, REFERENCE)
    status, _, exp = srv.request("GET", f"/v1/sessions/{sid}/export")
    assert status == 200, exp
    api.validate("GET", "/v1/sessions/{id}/export", status, exp)
    assert exp["image_bytes"] == len(base64.b64decode(exp["image"]))
    status, headers, body = srv.request("POST", "/v1/sessions", {"image": exp["image"]})
    assert status == 201, body
    api.validate("POST", "/v1/sessions", status, body, headers)
    assert body["scope"]["v9"] == 27 and body["definitions"]["f"] == "function"
    status, _, b = run(srv, body["id"], "g()", mode="eval")
    assert (status, b["result"]) == (200, 4), b
    # One bit changed anywhere: refused before any worker sees it.
    raw = bytearray(base64.b64decode(exp["image"]))
    raw[len(raw) // 2] ^= 1
    status, _, b = srv.request("POST", "/v1/sessions", {"image": base64.b64encode(bytes(raw)).decode()})
    assert (status, b["error"]["code"]) == (400, "invalid_image"), b
    assert srv.request("POST", "/v1/sessions", {"image": "!!"})[2]["error"]["code"] == "invalid_image"
    assert srv.request("POST", "/v1/sessions", {"image": exp["image"], "scope": {}})[0] == 400
    # A session that never ran has nothing to export yet.
    fresh = create(srv)
    assert srv.request("GET", f"/v1/sessions/{fresh}/export")[0] == 409
    for x in (sid, body["id"], fresh):
        srv.request("DELETE", f"/v1/sessions/{x}")


def test_state_survives_every_worker_killed_between_runs(srv):
    sid = create(srv)
    assert run(srv, sid, "import random\nrandom.seed(3)\nkept = [random.random()]")[0] == 200
    expected = __import__("random").Random(3)
    expected.random()
    for pid in srv.worker_pids():
        os.kill(pid, signal.SIGKILL)
    srv.wait_healthy(2, timeout=120)
    status, _, b = run(srv, sid, "kept.append(random.random())\nkept", mode="exec")
    assert status == 200, b
    assert b["result"][1] == expected.random()  # the sequence goes on where it was
    srv.request("DELETE", f"/v1/sessions/{sid}")


def test_a_failed_run_loses_only_itself(srv):
    sid = create(srv)
    run(srv, sid, "x = 1")
    # Interrupted at its limit: the changes it made before are not kept.
    status, _, b = run(srv, sid, "x = 2\nwhile True: pass", timeout_ms=300)
    assert (status, b["error"]["code"]) == (504, "timeout"), b
    assert run(srv, sid, "x", mode="eval")[2]["result"] == 1
    # Killed past the grace period (a C call no interrupt stops): the same.
    status, _, b = run(srv, sid, "x = 3\ny = 10**10**8", timeout_ms=300)
    assert (status, b["error"]["code"]) == (504, "timeout"), b
    status, _, b = run(srv, sid, "x", mode="eval")
    assert (status, b["result"]) == (200, 1), b
    srv.request("DELETE", f"/v1/sessions/{sid}")


def test_consecutive_runs_reuse_the_resident_state(srv):
    sid = create(srv)
    run(srv, sid, "n = 0")
    before = metric(srv, 'scopebox_session_resumes_total{how="resident"}')
    for _ in range(3):
        run(srv, sid, "n += 1")
    assert metric(srv, 'scopebox_session_resumes_total{how="resident"}') >= before + 2
    assert run(srv, sid, "n", mode="eval")[2]["result"] == 3
    # A stateless run between two session runs sees nothing of the session.
    assert srv.run({"code": "'n' in globals()", "mode": "eval"})[2]["result"] is False
    assert metric(srv, "scopebox_session_image_bytes") > 0
    assert metric(srv, "scopebox_session_capture_seconds_count") >= 4
    srv.request("DELETE", f"/v1/sessions/{sid}")


def test_runs_of_one_session_are_served_one_at_a_time_in_order(srv):
    import threading
    sid = create(srv, scope={"log": []})
    answers = []

    def one(i):
        answers.append(run(srv, sid, f"import time\ntime.sleep(0.05)\nlog.append({i})")[0])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
        time.sleep(0.01)
    for t in threads:
        t.join()
    assert answers == [200] * 6
    log = run(srv, sid, "log", mode="eval")[2]["result"]
    assert sorted(log) == list(range(6))  # none lost, none interleaved
    srv.request("DELETE", f"/v1/sessions/{sid}")


def test_queued_runs_of_a_session_go_to_the_worker_holding_it():
    """Runs of two sessions queued behind a long run on the one worker: once
    a run of a session is done, that session's next queued run goes first
    (its state is resident: no image applied), not the older run of the
    other session (an image each time); each session's runs stay in order."""
    import threading
    with ScopeboxServer("--workers", "1") as s:
        s.wait_healthy(1)
        a, b = create(s, scope={"log": []}), create(s, scope={"log": []})
        applied = metric(s, 'scopebox_session_resumes_total{how="image"}')
        resident = metric(s, 'scopebox_session_resumes_total{how="resident"}')
        answers = []
        blocker = threading.Thread(target=lambda: s.run({"code": "import time\ntime.sleep(2)"}))
        blocker.start()
        time.sleep(0.3)  # the worker is busy with it: what follows queues
        threads = [threading.Thread(target=lambda sid=sid, i=i: answers.append(
            run(s, sid, f"log.append({i})")[0])) for i in range(3) for sid in (a, b)]
        for t in threads:
            t.start()
            time.sleep(0.02)
        for t in [blocker, *threads]:
            t.join()
        assert answers == [200] * 6
        # One image applied per session, the rest ran on the resident state.
        assert metric(s, 'scopebox_session_resumes_total{how="image"}') - applied == 2
        assert metric(s, 'scopebox_session_resumes_total{how="resident"}') - resident == 4
        for sid in (a, b):
            assert run(s, sid, "log", mode="eval")[2]["result"] == [0, 1, 2]


def test_a_session_passes_older_jobs_only_a_few_runs_in_a_row():
    """The runs of a resident session that go first do not hold back an
    older job for good: a stateless run queued behind a session's first run
    is served after at most four of that session's later runs (dispatch.c,
    RESIDENT_AHEAD_MAX), before the rest."""
    import threading
    with ScopeboxServer("--workers", "1") as s:
        s.wait_healthy(1)
        sid = create(s, scope={"log": []})
        started = []  # (when the run started, in the worker's clock, what)
        blocker = threading.Thread(target=lambda: s.run({"code": "import time\ntime.sleep(2)"}))
        blocker.start()
        time.sleep(0.3)

        # The order is the one the worker ran them in, from the time each
        # started (runs 50 ms apart at least), not the order the client
        # threads happened to get their answers in.
        def session_run(i):
            assert run(s, sid, f"import time\nlog.append(({i}, time.time()))\ntime.sleep(0.05)")[0] == 200

        def stateless():
            status, _, body = s.run({"code": "import time\ntime.time()"})
            assert status == 200, body
            started.append((body["result"], "stateless"))

        threads = [threading.Thread(target=session_run, args=(0,)), threading.Thread(target=stateless),
                   *(threading.Thread(target=session_run, args=(i,)) for i in range(1, 7))]
        for t in threads:
            t.start()
            time.sleep(0.02)
        for t in [blocker, *threads]:
            t.join()
        log = run(s, sid, "[i for i, _ in log]", mode="eval")[2]["result"]
        assert log == list(range(7)), log
        started += [(t, i) for i, t in run(s, sid, "[[i, t] for i, t in log]", mode="eval")[2]["result"]]
        order = [what for _, what in sorted(started)]
        assert order == [0, 1, 2, 3, 4, "stateless", 5, 6], order


def test_a_worker_pipes_hold_a_whole_image(srv):
    """A session's image travels in one frame each way (the reference
    session's is ~100 KiB as base64): the worker's pipes take it whole, so
    neither side waits for the other to read part of it first (a worker's
    write sleeps 1 ms whenever its pipe is full)."""
    import fcntl
    F_GETPIPE_SZ = 1032
    for pid in srv.worker_pids():
        for fd in (0, 1):
            end = os.open(f"/proc/{pid}/fd/{fd}", os.O_RDONLY | os.O_NONBLOCK if fd == 0 else os.O_WRONLY)
            try:
                assert fcntl.fcntl(end, F_GETPIPE_SZ) >= 256 * 1024, (pid, fd)
            finally:
                os.close(end)


def test_disk_store_survives_a_restart_and_refuses_edited_images():
    with tempfile.TemporaryDirectory() as d:
        with ScopeboxServer("--workers", "1", "--session-dir", d) as s:
            s.wait_healthy(1)
            sid = create(s)
            assert run(s, sid, REFERENCE)[0] == 200
            other = create(s)
            run(s, other, "secret = 42")
            s.proc.send_signal(signal.SIGKILL)
            s.proc.wait()
        files = sorted(os.listdir(d))
        assert f"{sid}.session" in files and ".key" in files
        with ScopeboxServer("--workers", "1", "--session-dir", d) as s:
            s.wait_healthy(1)
            status, _, b = run(s, sid, "g(), v9", mode="eval")
            assert (status, b["result"]) == (200, {"$type": "tuple", "items": [4, 27]}), b
            # Someone edits the stored image: refused, never loaded.
            path = os.path.join(d, f"{other}.session")
            data = bytearray(open(path, "rb").read())
            data[-100] ^= 0xFF
            open(path, "wb").write(bytes(data))
            status, _, b = run(s, other, "secret", mode="eval")
            assert (status, b["error"]["code"]) == (409, "invalid_image"), b


def test_image_from_another_build_is_refused_with_409():
    with tempfile.TemporaryDirectory() as d:
        key = os.path.join(d, "key")
        with open(key, "wb") as f:
            f.write(b"k" * 32)
        with ScopeboxServer("--workers", "1", "--session-key-file", key) as s:
            s.wait_healthy(1)
            sid = create(s)
            run(s, sid, "x = 1")
            signed = base64.b64decode(s.request("GET", f"/v1/sessions/{sid}/export")[2]["image"])
            image = bytearray(signed[32:])
            image[8] ^= 1  # the pristine fingerprint it names: another build's
            resigned = hmac.new(b"k" * 32, bytes(image), hashlib.sha256).digest() + bytes(image)
            status, _, b = s.request("POST", "/v1/sessions", {"image": base64.b64encode(resigned).decode()})
            assert (status, b["error"]["code"]) == (409, "session_incompatible"), b
            # The same key makes the original importable here: it is only the build.
            status, _, b = s.request("POST", "/v1/sessions", {"image": base64.b64encode(signed).decode()})
            assert status == 201, b


def test_past_the_session_count_or_bytes_of_the_store_a_new_session_gets_503():
    with ScopeboxServer("--workers", "1", "--max-sessions", "2", "--session-store-bytes", "100000") as s:
        s.wait_healthy(1)
        a, b = create(s), create(s)
        status, headers, body = s.request("POST", "/v1/sessions", {})
        assert (status, body["error"]["code"]) == (503, "too_many_sessions") and headers.get("Retry-After")
        assert run(s, a, "x = 1")[0] == 200
        # The byte budget: an image of ~300 KiB does not fit; the session
    # keeps its state from before that run.
        status, _, body = run(s, b, "y = __import__('os').urandom(40000).hex()")
        assert (status, body["error"]["code"]) == (503, "too_many_sessions"), body
        assert run(s, b, "'y' in globals()", mode="eval")[2]["result"] is False
