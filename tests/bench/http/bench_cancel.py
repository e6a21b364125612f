"""How soon a worker is free again after a cancel or a client disconnect
(issue 15's figures), on a 1-worker server: a run loops forever, is stopped,
and a `1 + 1` sent at that moment waits for the worker. Prints, for each way
of stopping it, the time from the stop to the `1 + 1` answer, and how long
that `1 + 1` waited in the queue (its queue_ms: the stop-to-free-worker
time). With streaming (issue 15, section 3) it also prints the time from a
`print` to its SSE event. Asserts nothing.

    SCOPEBOX_SERVER=build/scopebox-server python3 tests/bench/http/bench_cancel.py [rounds]
"""
import json
import os
import socket
import statistics
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "support"))
from scopebox_server import ScopeboxServer  # noqa: E402

LOOP = "while True:\n    pass"


def post(url, body, timeout=60):
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wait_running(s):
    while s.request("GET", "/healthz")[2]["workers"]["busy"] < 1:
        time.sleep(0.01)
    time.sleep(0.2)


def wait_idle(s):
    while s.request("GET", "/healthz")[2]["workers"]["ready"] < 1:
        time.sleep(0.01)


def next_run(s, t0):
    status, body = post(s.url + "/v1/run", {"code": "1 + 1", "mode": "eval"})
    assert status == 200, body
    return (time.monotonic() - t0) * 1000, body["timing"]["queue_ms"]


def by_cancel(s, i):
    rid = f"bench-{i}"
    threading.Thread(target=post, args=(s.url + "/v1/run", {"code": LOOP, "run_id": rid, "timeout_ms": 60000}),
                     daemon=True).start()
    wait_running(s)
    t0 = time.monotonic()
    s.request("POST", f"/v1/runs/{rid}/cancel")
    return next_run(s, t0)


def by_disconnect(s, i):
    host, port = s.url.split("//")[1].rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    data = json.dumps({"code": LOOP, "timeout_ms": 60000}).encode()
    sock.sendall(b"POST /v1/run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(data) + data)
    wait_running(s)
    t0 = time.monotonic()
    sock.close()
    return next_run(s, t0)


def print_to_event(s, rounds):
    """The snippet prints its own clock (time.time(), the same wall clock
    as ours on this machine); curl -N's arrival time minus it is the lag."""
    import shutil
    import subprocess
    code = "import time\nfor i in range(%d):\n    print(repr(time.time()))\n    time.sleep(0.2)" % rounds
    proc = subprocess.Popen([shutil.which("curl"), "-sN", s.url + "/v1/run", "-H", "Accept: text/event-stream",
                             "-H", "Content-Type: application/json", "--data-binary",
                             json.dumps({"code": code, "timeout_ms": 60000})], stdout=subprocess.PIPE, text=True)
    lags = []
    for line in proc.stdout:
        if line.startswith("data: {\"text\""):
            now = time.time()
            text = json.loads(line[6:])["text"].strip()
            if text:
                lags.append((now - float(text)) * 1000)
    proc.wait()
    return lags


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with ScopeboxServer("--workers", "1") as s:
        s.wait_healthy(1)
        print(f"1 worker, {rounds} rounds each; ms: median (max)")
        for name, how in (("cancel", by_cancel), ("disconnect", by_disconnect)):
            total, queue = [], []
            for i in range(rounds):
                wait_idle(s)
                t, q = how(s, i)
                total.append(t)
                queue.append(q)
            print(f"  {name:10s} -> free worker (next run's queue_ms) {statistics.median(queue):8.1f} ({max(queue):.1f})"
                  f"   -> next run answered {statistics.median(total):8.1f} ({max(total):.1f})")


        wait_idle(s)
        lags = print_to_event(s, max(rounds, 5))
        print(f"  print -> its SSE event at the client {statistics.median(lags):8.1f} ({max(lags):.1f})")


if __name__ == "__main__":
    main()
