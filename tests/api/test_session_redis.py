"""--session-store redis://: replicas share sessions through a real
redis-server on a loopback port. Sessions made through one replica are used
through the other; a replica SIGKILLed loses no session state answered 200;
the lease and the compare-and-set keep two replicas from interleaving one
session."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from scopebox_server import ScopeboxServer

REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS is None, reason="redis-server is not installed")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url():
    port = free_port()
    d = tempfile.mkdtemp()
    proc = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", d], stdout=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/2"
    proc.kill()
    proc.wait()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def key():
    d = tempfile.mkdtemp()
    path = os.path.join(d, "key")
    with open(path, "wb") as f:
        f.write(os.urandom(32))
    yield path
    shutil.rmtree(d, ignore_errors=True)


def replica(redis_url, key, *extra):
    return ScopeboxServer("--workers", "1", "--session-store", redis_url, "--session-key-file", key,
                          "--timeout-grace-ms", "500", *extra)


def run(s, sid, code, mode="exec"):
    return s.request("POST", f"/v1/sessions/{sid}/run", {"code": code, "mode": mode})


def test_redis_needs_a_shared_key(redis_url):
    with pytest.raises(RuntimeError):
        with ScopeboxServer("--workers", "1", "--session-store", redis_url, ready_timeout=20):
            pass


def test_sessions_move_between_replicas_and_survive_one_killed(redis_url, key):
    with replica(redis_url, key) as a, replica(redis_url, key) as b:
        a.wait_healthy(1), b.wait_healthy(1)
        status, _, body = a.request("POST", "/v1/sessions", {"scope": {"n": 0}})
        assert status == 201, body
        sid = body["id"]
        expected = 0
        for i in range(6):
            s = (a, b)[i % 2]
            status, _, r = run(s, sid, "n += 1\nn")
            assert status == 200, r
            expected += 1
            assert r["result"] == expected
        ids = {x["id"] for x in b.request("GET", "/v1/sessions")[2]["sessions"]}
        assert sid in ids
        status, _, fork = b.request("POST", f"/v1/sessions/{sid}/fork")
        assert status == 201 and a.request("GET", f"/v1/sessions/{fork['id']}")[2]["scope"] == {"n": 6}
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait()
        status, _, r = run(b, sid, "n", mode="eval")
        assert (status, r["result"]) == (200, expected), r


def test_two_replicas_never_interleave_one_session(redis_url, key):
    with replica(redis_url, key) as a, replica(redis_url, key) as b:
        a.wait_healthy(1), b.wait_healthy(1)
        sid = a.request("POST", "/v1/sessions", {"scope": {"n": 0}})[2]["id"]
        run(a, sid, "n = 0")
        oks, busy = [0], [0]
        lock = threading.Lock()

        def hammer(s):
            for _ in range(8):
                status, headers, r = run(s, sid, "import time\nn += 1\ntime.sleep(0.02)")
                with lock:
                    if status == 200:
                        oks[0] += 1
                    else:
                        assert (status, r["error"]["code"]) == (503, "session_busy"), r
                        assert headers.get("Retry-After")
                        busy[0] += 1

        threads = [threading.Thread(target=hammer, args=(s,)) for s in (a, b, a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # Every run answered 200 is in the state, exactly once.
        status, _, r = run(b, sid, "n", mode="eval")
        assert (status, r["result"]) == (200, oks[0]), (oks, busy, r)
        text = a.request("GET", "/metrics")[2] + b.request("GET", "/metrics")[2]
        assert "scopebox_session_lease_waits_total" in text
