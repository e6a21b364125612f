"""Scale-out on loopback: two scopebox replicas (a and b) behind Debian's
nginx running the shipped routing (docker/nginx/compose.conf with the
replicas' names pointed at loopback ports; maps.conf and locations.conf
verbatim). Stateless runs spread over both, a session stays on the replica
its id names, and when a replica is killed no stateless run is lost (nginx
sends it to the other) while its sessions fail with replica_unavailable."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from scopebox_server import ScopeboxServer, descendants  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NGINX_DIR = os.path.join(REPO, "docker", "nginx")
NGINX = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin")

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is in install-deps.sh's test profile")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    """nginx in the foreground with its own prefix, config and logs in a
    temporary directory, on a loopback port; /etc/nginx is never read."""

    def __init__(self, tmp, replicas):
        self.tmp = tmp
        self.port = free_port()
        with open(os.path.join(NGINX_DIR, "compose.conf")) as f:
            conf = f.read()
        # compose.conf as shipped, but with Docker's service names replaced by
        # the loopback ports of the replicas started here.
        for rid, port in replicas.items():
            conf, n = re.subn(rf"server scopebox-{rid}:8080\b", f"server 127.0.0.1:{port}", conf)
            assert n == 2, f"compose.conf should name scopebox-{rid} twice (round robin and its own upstream)"
        assert "scopebox-" not in re.sub(r"#.*", "", conf).replace("upstream scopebox", ""), conf
        conf, n = re.subn(r"^\s*listen \[::\]:8080;\n", "", conf, flags=re.M)
        conf, m = re.subn(r"listen 8080;", f"listen 127.0.0.1:{self.port};", conf)
        assert m == 1, conf
        conf = conf.replace("include scopebox/", f"include {NGINX_DIR}/")
        with open(os.path.join(tmp, "compose.conf"), "w") as f:
            f.write(conf)
        self.access_log = os.path.join(tmp, "access.log")
        self.error_log = os.path.join(tmp, "error.log")
        with open(os.path.join(tmp, "nginx.conf"), "w") as f:
            f.write(f"""
worker_processes 1;
error_log {self.error_log} info;
events {{ worker_connections 512; }}
http {{
    log_format upstreams '$request_method $uri $status up=$upstream_addr up_status=$upstream_status';
    access_log {self.access_log} upstreams;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/compose.conf;
}}
""")

    def __enter__(self):
        self.proc = subprocess.Popen(
            [NGINX, "-p", self.tmp, "-e", self.error_log, "-c", os.path.join(self.tmp, "nginx.conf"),
             "-g", f"daemon off; pid {self.tmp}/nginx.pid;"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited: " + self.proc.stderr.read() + self.errors())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("nginx did not listen: " + self.errors())

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def errors(self):
        try:
            with open(self.error_log) as f:
                return f.read()[-4000:]
        except FileNotFoundError:
            return ""

    def access(self):
        with open(self.access_log) as f:
            return f.read().splitlines()

    def request(self, method, path, body=None, timeout=60):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, dict(r.headers), json.loads(r.read())
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, dict(e.headers), json.loads(raw)
            except ValueError:
                return e.code, dict(e.headers), raw.decode(errors="replace")



def served_runs(server):
    """Stateless runs this replica answered, from its log."""
    return sum(1 for line in server.log_lines if re.search(r"\bPOST /v1/run 200\b", line))


@pytest.fixture(scope="module")
def cluster():
    # One pool worker each keeps CI time down; sessions get workers of their own.
    args = ("--workers", "1", "--max-sessions", "2", "--queue-timeout-ms", "30000")
    tmp = tempfile.mkdtemp(prefix="scopebox-nginx-")
    os.chmod(tmp, 0o755)  # nginx's workers run as an unprivileged user
    a = ScopeboxServer(*args, "--replica-id", "a")
    b = ScopeboxServer(*args, "--replica-id", "b")
    try:
        # Boot both at once: each takes seconds.
        threads = [threading.Thread(target=s.__enter__) for s in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for s in (a, b):
            assert s.url, "replica did not start:\n" + s.log()
            s.wait_healthy(1)
        ports = {"a": int(a.url.rsplit(":", 1)[1]), "b": int(b.url.rsplit(":", 1)[1])}
        with Nginx(tmp, ports) as lb:
            yield {"a": a, "b": b, "lb": lb}
    finally:
        for s in (a, b):
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def run_ok(lb, code="1 + 1", **kw):
    status, _, body = lb.request("POST", "/v1/run", {"code": code, "mode": "eval", **kw})
    assert status == 200 and body["ok"], (status, body, lb.errors())
    return body


def test_stateless_runs_spread(cluster):
    lb, a, b = cluster["lb"], cluster["a"], cluster["b"]
    before = served_runs(a), served_runs(b)
    for i in range(12):
        assert run_ok(lb, "x * 2", scope={"x": i})["result"] == 2 * i
    time.sleep(0.2)  # log lines are read by a thread
    got = served_runs(a) - before[0], served_runs(b) - before[1]
    assert sum(got) == 12 and min(got) >= 4, f"runs per replica: a={got[0]} b={got[1]}"


def make_sessions(lb):
    """Sessions made through the load balancer until each replica owns one."""
    owned = {}
    for _ in range(6):
        status, headers, body = lb.request("POST", "/v1/sessions", {"scope": {"n": 0}})
        assert status == 201, (status, body)
        sid = body["id"]
        assert headers["Location"] == f"/v1/sessions/{sid}"
        owned.setdefault(sid.split("-")[0], sid)
        if len(owned) == 2:
            return owned
    pytest.fail(f"sessions all on one replica: {owned}")


def test_sessions_stick_to_their_replica(cluster):
    lb = cluster["lb"]
    owned = make_sessions(lb)
    assert set(owned) == {"a", "b"}
    for rid, sid in owned.items():
        for i in range(1, 5):
            status, _, body = lb.request("POST", f"/v1/sessions/{sid}/run", {"code": "n += 1"})
            assert status == 200 and body["scope"]["n"] == i, (rid, status, body)
        # Every request for it went to its own replica, by the path alone.
        status, _, body = lb.request("GET", f"/v1/sessions/{sid}")
        assert status == 200 and body["scope"] == {"n": 4}, body
        # The body form (POST /v1/run {"session": ...}) still reaches it:
        # the other replica answers 404 without running, nginx moves on.
        status, _, body = lb.request("POST", "/v1/run", {"code": "n += 10", "session": sid})
        assert status == 200 and body["scope"]["n"] == 14, (status, body)
    for rid, sid in owned.items():
        status, _, body = lb.request("DELETE", f"/v1/sessions/{sid}")
        assert status == 200, body
    # Ids the config cannot route get clear JSON errors from nginx itself.
    status, _, body = lb.request("GET", "/v1/sessions/" + "0" * 32)
    assert status == 404 and body["error"]["code"] == "session_not_found", body
    status, _, body = lb.request("POST", "/v1/sessions/zz-" + "0" * 32 + "/run", {"code": "1"})
    assert status == 502 and body["error"]["code"] == "replica_unavailable", body
    # An unknown session still gets the replicas' own 404.
    status, _, body = lb.request("POST", "/v1/run", {"code": "1", "session": "a-" + "0" * 32})
    assert status == 404 and body["error"]["code"] == "session_not_found", body


def test_killing_a_replica_loses_no_stateless_run(cluster):
    lb, a, b = cluster["lb"], cluster["a"], cluster["b"]
    owned = make_sessions(lb)
    victim = a
    workers = descendants(victim.proc.pid)
    assert workers
    results, errors = [], []
    stop = threading.Event()

    def client(k):
        i = 0
        while not stop.is_set() and i < 15:
            # Long enough that some runs are in flight on the victim when it dies.
            code = "import time\nt = time.time()\nwhile time.time() - t < 0.15:\n    pass\nk * 1000 + i"
            try:
                status, _, body = lb.request("POST", "/v1/run", {"code": code, "scope": {"k": k, "i": i}},
                                             timeout=60)
                results.append((status, body))
                if status != 200 or body.get("result", None) != k * 1000 + i:
                    errors.append((status, body))
            except Exception as e:  # noqa: BLE001 - any failure counts
                errors.append(repr(e))
            i += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    victim.proc.kill()  # no drain: as if the machine died
    victim.proc.wait()
    for t in threads:
        t.join(120)
    stop.set()
    assert not errors, (errors[:5], lb.errors())
    assert len(results) == 45
    # Some of those were retried: nginx saw the dead replica fail.
    retried = [ln for ln in lb.access() if "POST /v1/run 200" in ln and ", " in ln]
    failed = [ln for ln in lb.access() if "POST /v1/run" in ln and "up_status=502" in ln]
    assert retried or "connect() failed" in lb.errors() or "prematurely closed" in lb.errors() or failed, \
        lb.errors()

    # Its session is gone, said plainly; the other replica's is fine.
    status, _, body = lb.request("POST", f"/v1/sessions/{owned['a']}/run", {"code": "n += 1"})
    assert status == 502, (status, body)
    assert body["error"]["code"] == "replica_unavailable" and "'a'" in body["error"]["message"], body
    status, _, body = lb.request("GET", f"/v1/sessions/{owned['a']}")
    assert status == 502 and body["error"]["code"] == "replica_unavailable", body
    status, _, body = lb.request("POST", f"/v1/sessions/{owned['b']}/run", {"code": "n += 1"})
    assert status == 200 and body["scope"]["n"] == 1, body
    # New sessions and stateless runs keep working, on b.
    status, _, body = lb.request("POST", "/v1/sessions", {})
    assert status == 201 and body["id"].startswith("b-"), body
    run_ok(lb)
    # The killed replica's workers (and anything they started) went with it.
    time.sleep(0.5)
    assert not [p for p in workers if os.path.exists(f"/proc/{p}")]
