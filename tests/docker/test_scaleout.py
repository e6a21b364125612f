"""Scale-out on loopback: two scopebox replicas sharing their sessions through
a real redis-server, behind Debian's nginx running the shipped config
(docker/nginx/compose.conf with the replicas' names pointed at loopback
ports; locations.conf verbatim): plain round robin, no session routing.
Stateless runs spread over both; a session made through one replica is used
through the other; when a replica is SIGKILLed under load no stateless run is
lost (nginx sends it to the other) and no session run answered 200 is lost."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pytest

from scopebox_server import ScopeboxServer, descendants

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
            assert n == 1, f"compose.conf should name scopebox-{rid} once, in the round robin"
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



def served(server, pattern):
    """Requests this replica answered, from its log."""
    return sum(1 for line in server.log_lines if re.search(pattern, line))


def served_runs(server):
    return served(server, r"\bPOST /v1/run 200\b")


REDIS = shutil.which("redis-server")


@pytest.fixture(scope="module")
def cluster():
    if REDIS is None:
        pytest.skip("redis-server is in install-deps.sh's test profile")
    tmp = tempfile.mkdtemp(prefix="scopebox-nginx-")
    os.chmod(tmp, 0o755)  # nginx's workers run as an unprivileged user
    key = os.path.join(tmp, "session.key")
    with open(key, "wb") as f:
        f.write(os.urandom(32))
    redis_port = free_port()
    redis = subprocess.Popen([REDIS, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", tmp], stdout=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", redis_port), 0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    # One pool worker each keeps CI time down; a short run limit keeps the
    # lease of a session whose replica died short too.
    args = ("--workers", "1", "--queue-size", "32", "--queue-timeout-ms", "30000", "--timeout-ms", "2000",
            "--session-store", f"redis://127.0.0.1:{redis_port}/0", "--session-key-file", key,
            # Behind nginx every client has nginx's address (docker/compose.yaml).
            "--max-connections-per-ip", "0", "--crash-limit", "0")
    a = ScopeboxServer(*args)
    b = ScopeboxServer(*args)
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
        redis.kill()
        redis.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def run_ok(lb, code="1 + 1", **kw):
    status, _, body = lb.request("POST", "/v1/run", {"code": code, "mode": "eval", **kw})
    assert status == 200 and body["ok"], (status, body, lb.errors())
    return body


def test_nginx_config_has_no_session_routing():
    with open(os.path.join(NGINX_DIR, "locations.conf")) as f:
        conf = re.sub(r"#.*", "", f.read())
    assert "scopebox_replica" not in conf and "map " not in conf
    assert sorted(os.listdir(NGINX_DIR)) == ["compose.conf", "locations.conf"]


def test_stateless_runs_spread(cluster):
    lb, a, b = cluster["lb"], cluster["a"], cluster["b"]
    before = served_runs(a), served_runs(b)
    for i in range(12):
        assert run_ok(lb, "x * 2", scope={"x": i})["result"] == 2 * i
    time.sleep(0.2)  # log lines are read by a thread
    got = served_runs(a) - before[0], served_runs(b) - before[1]
    assert sum(got) == 12 and min(got) >= 4, f"runs per replica: a={got[0]} b={got[1]}"


def test_a_session_is_served_by_either_replica(cluster):
    lb, a, b = cluster["lb"], cluster["a"], cluster["b"]
    status, headers, body = lb.request("POST", "/v1/sessions", {"scope": {"n": 0}})
    assert status == 201, body
    sid = body["id"]
    pattern = rf"POST /v1/sessions/{sid}/run 200\b"
    for i in range(1, 9):
        status, _, body = lb.request("POST", f"/v1/sessions/{sid}/run", {"code": "n += 1"})
        assert status == 200 and body["scope"]["n"] == i, (status, body)
    time.sleep(0.2)
    assert served(a, pattern) >= 2 and served(b, pattern) >= 2, (served(a, pattern), served(b, pattern))
    status, _, body = lb.request("GET", f"/v1/sessions/{sid}")
    assert status == 200 and body["scope"] == {"n": 8}, body
    # The body form works too, through either replica.
    status, _, body = lb.request("POST", "/v1/run", {"code": "n += 10", "session": sid})
    assert status == 200 and body["scope"]["n"] == 18, (status, body)
    status, _, body = lb.request("DELETE", f"/v1/sessions/{sid}")
    assert status == 200, body
    status, _, body = lb.request("GET", f"/v1/sessions/{sid}")
    assert status == 404 and body["error"]["code"] == "session_not_found", body


def test_killing_a_replica_loses_no_run_answered_200(cluster):
    lb, a, b = cluster["lb"], cluster["a"], cluster["b"]
    victim = a
    workers = descendants(victim.proc.pid)
    assert workers
    errors = []
    stateless_ok = [0]
    sessions = {}  # sid -> [200 answers, other answers]
    deadline = time.monotonic() + 90

    def stateless(k):
        for i in range(15):
            # Long enough that some runs are in flight on the victim when it dies.
            code = "import time\nt = time.time()\nwhile time.time() - t < 0.15:\n    pass\nk * 1000 + i"
            try:
                status, _, body = lb.request("POST", "/v1/run", {"code": code, "scope": {"k": k, "i": i}},
                                             timeout=60)
                if status == 200 and body.get("result") == k * 1000 + i:
                    stateless_ok[0] += 1
                else:
                    errors.append((status, body))
            except Exception as e:  # noqa: BLE001 - any failure counts
                errors.append(repr(e))

    def session_client(sid):
        counts = sessions[sid]
        while counts[0] < 10 and time.monotonic() < deadline:
            t0 = time.monotonic()
            body = None
            try:
                status, headers, body = lb.request("POST", f"/v1/sessions/{sid}/run",
                                                   {"code": "import time\ntime.sleep(0.05)\nn += 1"},
                                                   timeout=60)
            except Exception:  # noqa: BLE001 - a dropped connection: not a 200
                status, headers = 0, {}
            if status == 200:
                counts[0] += 1
            else:
                counts[1] += 1
                counts.append((status, round(time.monotonic() - t0, 2),
                               body.get("error", {}).get("code") if isinstance(body, dict) else body))
                time.sleep(float(headers.get("Retry-After", "0.5") or 0.5))

    for _ in range(3):
        sid = lb.request("POST", "/v1/sessions", {"scope": {"n": 0}})[2]["id"]
        sessions[sid] = [0, 0]
    threads = [threading.Thread(target=stateless, args=(k,)) for k in range(3)]
    threads += [threading.Thread(target=session_client, args=(sid,)) for sid in sessions]
    for t in threads:
        t.start()
    time.sleep(1.0)
    victim.proc.kill()  # no drain: as if the machine died
    victim.proc.wait()
    for t in threads:
        t.join(120)
    assert not errors, (errors[:5], lb.errors())
    assert stateless_ok[0] == 45
    # Every session run answered 200 is in the state; a run cut off with its
    # replica may or may not have been stored before it died, never more.
    for sid, (ok, other, *why) in sessions.items():
        assert ok == 10, (sid, ok, other, why, victim.log()[-1500:], b.log()[-3000:])
        status, _, body = lb.request("GET", f"/v1/sessions/{sid}")
        assert status == 200, body
        assert ok <= body["scope"]["n"] <= ok + other, (sid, ok, other, body)
    # New sessions and stateless runs keep working, on b.
    status, _, body = lb.request("POST", "/v1/sessions", {})
    assert status == 201, body
    run_ok(lb)
    # The killed replica's workers (and anything they started) went with it.
    time.sleep(0.5)
    assert not [p for p in workers if os.path.exists(f"/proc/{p}")]
