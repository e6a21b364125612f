"""The image, built and started natively: the Dockerfile's steps carried out
on this machine with the same scripts (dockerfile.Plan), its paths moved
under a temporary root, then its ENTRYPOINT started as its USER with its ENV,
the way `docker run` would; then its HEALTHCHECK, a few requests, and a
SIGTERM (its STOPSIGNAL) while runs are in flight."""
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

import dockerfile as df
from scopebox_server import descendants

REPO = df.REPO
BUILD = os.environ.get("SCOPEBOX_BUILD_DIR", os.path.join(REPO, "build"))
DOCKER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the image's steps install packages and a user: root only")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Image:
    """The Dockerfile's plan carried out under `root`."""

    def __init__(self, root):
        self.root = root
        self.plan = df.Plan(df.parse())
        self.map = df.mapper(self.plan, root)
        self.log = []

    def build(self):
        for step in self.plan.steps:
            if step.kind == "copy":
                self._copy(step)
            elif step.kind == "script":
                self._run(step)
            else:
                self.log.append(f"not run natively ({step.reason or step.kind}): {' '.join(step.argv)}")

    def _copy(self, step):
        args = step.argv[1:]
        chmod = None
        if args[0].startswith("--chmod="):
            chmod = int(args.pop(0).split("=", 1)[1], 8)
        if args[0].startswith("--from="):
            # The earlier stage's files are already where the mapping puts
            # them (same root for every stage).
            for src in args[1:-1]:
                assert self.map(src) == self.map(args[-1]) or os.path.exists(self.map(src)), step
            return
        *srcs, dest = args
        if step.stage != self.plan.final.name:
            return  # the earlier stages build in the repository itself
        for src in srcs:
            target = self.map(dest)
            if dest.endswith("/"):
                os.makedirs(target, exist_ok=True)
                target = os.path.join(target, os.path.basename(src))
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(os.path.join(REPO, src), target)
            if chmod is not None:
                os.chmod(target, chmod)

    def _run(self, step):
        argv = [self.map(a) for a in step.argv]
        # The stages before the last build in the repository itself.
        building = step.stage != self.plan.final.name
        cwd = REPO if building else self.root
        if building:
            argv[1] = os.path.join(REPO, step.script)
        env = dict(os.environ, SCOPEBOX_BUILD_DIR=BUILD)
        r = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        self.log.append(f"$ {' '.join(argv)}\n{r.stderr}")
        assert r.returncode == 0, f"{' '.join(argv)} failed:\n{r.stdout}\n{r.stderr}"

    def user_args(self):
        user = self.plan.user()
        uid, _, gid = user.partition(":")
        return ["setpriv", f"--reuid={uid}", f"--regid={gid or uid}", "--clear-groups", "--"]

    def env(self, **extra):
        env = {"PATH": DOCKER_PATH, "HOME": "/nonexistent", "TINI_SUBREAPER": "1"}
        env.update({k: self.map(v) for k, v in self.plan.env().items()})
        env.update(extra)
        return env


@pytest.fixture(scope="module")
def image():
    root = tempfile.mkdtemp(prefix="scopebox-image-")
    os.chmod(root, 0o755)  # the image's user must reach its files
    img = Image(root)
    try:
        img.build()
        yield img
    finally:
        shutil.rmtree(root, ignore_errors=True)


class Container:
    """The ENTRYPOINT (tini, the entrypoint script, the server) as the
    image's USER, with its ENV plus `-e` style overrides and arguments."""

    def __init__(self, image, args=(), **env):
        self.image = image
        self.port = free_port()
        self.env = image.env(SCOPEBOX_PORT=str(self.port), **env)
        entry = [image.map(a) for a in image.plan.entrypoint()]
        self.argv = image.user_args() + entry + image.plan.cmd() + list(args)
        self.lines = []
        self.ready = threading.Event()

    def __enter__(self):
        self.proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, errors="replace")
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(120) or self.proc.poll() is not None:
            self.stop()
            raise AssertionError("not ready:\n" + self.output())
        return self

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if "scopebox: ready on" in line:
                self.ready.set()
        self.ready.set()

    def output(self):
        return "\n".join(self.lines[-100:])

    def stop(self):
        """Like `docker stop`: the stop signal, then SIGKILL for everything
        left (killing tini alone would orphan the server)."""
        if self.proc.poll() is None:
            kids = self.descendants()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
            for pid in kids + [self.proc.pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait()

    def __exit__(self, *exc):
        self.stop()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def request(self, method, path, body=None, timeout=60):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url(path), data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw.decode(errors="replace")

    def descendants(self):
        return descendants(self.proc.pid)

    def healthcheck(self):
        argv, _ = self.image.plan.healthcheck()
        argv = self.image.user_args() + [self.image.map(a) for a in argv]
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=10)


def proc_info(pid):
    with open(f"/proc/{pid}/status") as f:
        status = f.read()
    uid = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        cmdline = f.read().split(b"\0")
    return uid, os.readlink(f"/proc/{pid}/exe"), [c.decode() for c in cmdline if c]


KEY = "image-key-0123456789abcdef"


def test_a_mounted_keys_file_turns_keys_on(image):
    # The conventional path, as `-v ./api-keys:/opt/scopebox/etc/api-keys:ro`.
    path = image.map("/opt/scopebox/etc/api-keys")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(f"ops {KEY}\n")
    os.chmod(path, 0o644)
    try:
        with Container(image, ["--max-sessions", "0"], SCOPEBOX_WORKERS="1") as c:
            assert "API keys on: 1 keys" in c.output(), c.output()
            assert c.healthcheck().returncode == 0  # /healthz needs no key
            status, body = c.request("POST", "/v1/run", {"code": "1"})
            assert status == 401 and body["error"]["code"] == "unauthorized", body
            req = urllib.request.Request(c.url("/v1/run"), data=b'{"code":"2*3","mode":"eval"}', method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {KEY}"})
            with urllib.request.urlopen(req, timeout=60) as r:
                assert json.loads(r.read())["result"] == 6
    finally:
        os.unlink(path)


def test_the_image_installs_and_serves(image):
    root = image.root
    prefix = image.map("/opt/scopebox")
    assert prefix.startswith(root)
    # The runtime stage owns its files as root and lets the user read them.
    for rel in ("bin/scopebox-server", "bin/scopebox-entrypoint", "bin/scopebox-healthcheck", "node/bin/node",
                "lib/scopebox/runtime/worker.mjs", "lib/scopebox/runtime/node_modules/pyodide/pyodide.mjs"):
        st = os.stat(os.path.join(prefix, rel))
        assert st.st_uid == 0 and not st.st_mode & 0o022, rel
    # The runtime dir is a copy, not a link back into the build tree.
    assert not os.path.islink(os.path.join(prefix, "lib/scopebox/runtime/node_modules"))
    # One copy of Pyodide: the playground's files are links to the runtime's.
    runtime_pyodide = os.path.join(prefix, "lib/scopebox/runtime/node_modules/pyodide")
    for name in ("pyodide.asm.wasm", "python_stdlib.zip", "pyodide.asm.mjs"):
        web = os.path.join(prefix, "share/scopebox/web/pyodide", name)
        assert os.path.islink(web) and os.path.realpath(web) == os.path.join(runtime_pyodide, name), web

    with Container(image, ["--max-sessions", "1"], SCOPEBOX_WORKERS="1") as c:
        # Listening on every address, as in a container.
        assert re.search(rf"ready on http://(0\.0\.0\.0|\[::\]):{c.port}\b", c.output()), c.output()
        # tini -> server (as the image's user) -> workers (the installed
        # node running the installed runtime, not the build tree's).
        kids = c.descendants()
        server = [p for p in kids if proc_info(p)[1] == os.path.join(prefix, "bin/scopebox-server")]
        assert server, [proc_info(p) for p in kids]
        uid, exe, _ = proc_info(server[0])
        assert exe == os.path.join(prefix, "bin/scopebox-server") and uid == int(image.plan.user().split(":")[0])
        workers = [p for p in kids if p not in server and proc_info(p)[1] == os.path.join(prefix, "node/bin/node")]
        assert workers, [proc_info(p) for p in kids]
        for w in workers:
            _, _, cmd = proc_info(w)
            assert any(a.startswith(os.path.join(prefix, "lib/scopebox/runtime")) for a in cmd), cmd
            assert not any(BUILD in a for a in cmd), cmd

        # The full worker sandbox, not the --insecure fallback.
        assert "INSECURE" not in c.output() and "refusing" not in c.output(), c.output()

        h = c.healthcheck()
        assert h.returncode == 0, h.stdout + h.stderr
        # Without a keys file SIGHUP reloads nothing, says so, and stops nothing.
        c.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "got SIGHUP" not in c.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "got SIGHUP: nothing to reload" in c.output(), c.output()
        assert c.proc.poll() is None
        status, body = c.request("POST", "/v1/run", {"code": "x * 2", "mode": "eval", "scope": {"x": 21}})
        assert status == 200 and body["result"] == 42, body
        status, body = c.request("GET", "/healthz")
        assert status == 200 and body["ok"], body
        # The command line installed beside the server, on the image's python3.
        cli = subprocess.run([os.path.join(prefix, "bin/scopebox"), "run", "--url", c.url(""), "--eval",
                              "-c", "6 * 7"], capture_output=True, text=True, timeout=60)
        assert (cli.returncode, cli.stdout) == (0, "42\n"), cli.stderr
        with urllib.request.urlopen(c.url("/"), timeout=10) as r:
            assert r.status == 200 and "html" in r.headers["Content-Type"]
        with urllib.request.urlopen(c.url("/pyodide/pyodide.asm.wasm"), timeout=10) as r:
            assert r.status == 200 and r.read(4) == b"\0asm"
        # A session: the argument (--max-sessions 1) took effect.
        status, s1 = c.request("POST", "/v1/sessions", {"scope": {"n": 1}})
        assert status == 201, (s1, c.output())
        status, err = c.request("POST", "/v1/sessions", {})
        assert status == 503 and err["error"]["code"] == "too_many_sessions", err

        # STOPSIGNAL while runs are in flight: a short one finishes, a long
        # one is cut at the drain bound, and the whole thing exits 0.
        slow = "import time\nt = time.time()\nwhile time.time() - t < {}:\n    pass\n'done'"
        results = {}

        def post(name, secs, session=None):
            path = f"/v1/sessions/{session}/run" if session else "/v1/run"
            results[name] = c.request("POST", path, {"code": slow.format(secs), "timeout_ms": 30000}, timeout=60)

        def busy_workers():
            with urllib.request.urlopen(c.url("/metrics"), timeout=10) as r:
                m = re.search(r'^scopebox_workers\{state="busy"\} (\d+)$', r.read().decode(), re.M)
            return int(m.group(1))

        # One worker: the short run must hold it before the long one is sent,
        # or the long one runs first and the short one is refused from the queue.
        threads = [threading.Thread(target=post, args=("short", 2)),
                   threading.Thread(target=post, args=("long", 25, s1["id"]))]
        threads[0].start()
        deadline = time.monotonic() + 10
        while busy_workers() == 0:
            assert time.monotonic() < deadline, "the short run never reached the worker:\n" + c.output()
            time.sleep(0.02)
        threads[1].start()
        time.sleep(0.3)
        stopped_at = time.monotonic()
        c.proc.send_signal(getattr(signal, image.plan.stopsignal()))
        # Stops accepting at once.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", c.port), timeout=1).close()
                time.sleep(0.05)
            except OSError:
                break
        else:
            pytest.fail("still accepting connections 3 s after SIGTERM:\n" + c.output())
        rc = c.proc.wait(timeout=15)
        took = time.monotonic() - stopped_at
        for t in threads:
            t.join(30)
        assert rc == 0, c.output()
        assert took < 10, f"{took:.1f} s to stop: past Docker's default 10 s stop timeout"
        status, body = results["short"]
        assert status == 200 and body["result"] == "done", results
        status, body = results["long"]
        assert status >= 500 and body["error"]["code"] == "shutting_down", results
        assert "stopped" in c.output()
        # Workers go with the server.
        time.sleep(0.5)
        assert not [p for p in kids if os.path.exists(f"/proc/{p}")], "processes left behind"


def test_bad_configuration_fails_loudly(image):
    """A bad variable stops the container at once with the reason, instead
    of running with something else."""
    c = Container(image, SCOPEBOX_WORKERS="many")
    r = subprocess.run(c.argv, env=c.env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r
    assert "SCOPEBOX_WORKERS" in r.stderr, r.stderr


def test_healthcheck_fails_without_server(image):
    c = Container(image)
    h = c.healthcheck()
    assert h.returncode == 1 and "unhealthy" in h.stdout, h
