"""Starts a real scopebox-server on a free loopback port for a test, and
talks to it with urllib (a client we did not write)."""
import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

# The keys the keyed suites' servers accept (--api-keys-file), two callers
# whose runs and sessions must stay apart.
ALICE = "alice-0123456789abcdef0123456789"
BOB = "bob-fedcba9876543210fedcba987654"
KEYS = f"alice {ALICE}\nbob {BOB}\n"

READY = re.compile(r"scopebox: ready on (http://[^ ]+) \((\d+) workers\)")


def children(pid):
    """The direct child processes of `pid`, from /proc (empty once it is gone)."""
    kids = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(p) for p in f.read().split()]
    except FileNotFoundError:
        pass
    return kids


def descendants(pid):
    """Every process below `pid` (a worker's own threads' children too)."""
    out, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        out += kids
        todo += kids
    return out


class ScopeboxServer:
    def __init__(self, *args, binary=None, ready_timeout=120, env=None, nofile=None):
        self.binary = binary or os.environ["SCOPEBOX_SERVER"]
        self.nofile = nofile  # the server's RLIMIT_NOFILE (soft and hard), if given
        self.args = ["--port", "0", *args]
        self.ready_timeout = ready_timeout
        self.env = env
        self.url = None
        self.proc = None
        self.log_lines = []
        self._ready = threading.Event()

    def __enter__(self):
        self.proc = subprocess.Popen(
            [self.binary, *self.args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, errors="replace", env=self.env,
            preexec_fn=self._limit if self.nofile else None)
        threading.Thread(target=self._read_log, daemon=True).start()
        if not self._ready.wait(self.ready_timeout):
            self.stop()
            raise RuntimeError("server not ready in time; log:\n" + self.log())
        if self.url is None:
            raise RuntimeError("server exited before ready; log:\n" + self.log())
        return self

    def __exit__(self, *exc):
        self.stop()

    def _limit(self):
        import resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def _read_log(self):
        for line in self.proc.stderr:
            self.log_lines.append(line.rstrip("\n"))
            m = READY.search(line)
            if m and self.url is None:
                self.url = m.group(1)
                self._ready.set()
        self._ready.set()

    def log(self):
        return "\n".join(self.log_lines[-200:])

    def stop(self, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def worker_pids(self):
        """The server's child processes (the workers)."""
        return sorted(set(children(self.proc.pid)))

    def request(self, method, path, body=None, headers=None, timeout=90):
        """Returns (status, headers, parsed JSON or raw text). The timeout
        outlasts the server's own bound on a run with its defaults (60 s in
        the queue, 5 s on a worker, 0.7 s grace), so that a request the
        server gives up on is seen as the server's answer, not as ours."""
        data = body
        hdrs = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            data = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        if isinstance(data, str):
            data = data.encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, rh, raw = r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            status, rh, raw = e.code, dict(e.headers), e.read()
        except TimeoutError as e:
            # A request the server never answered is a server bug: say
            # where it sat while the server is still in that state.
            raise TimeoutError(f"{method} {path}: no answer within {timeout} s\n"
                               + self.diagnose()) from e
        text = raw.decode("utf-8", "replace")
        try:
            return status, rh, json.loads(text)
        except ValueError:
            return status, rh, text

    def diagnose(self):
        """The server's state for a report: where requests and runs are
        (/metrics, asked on a new connection), what each of its threads is
        blocked in, and the end of its log."""
        out = []
        try:
            with urllib.request.urlopen(self.url + "/metrics", timeout=10) as r:
                text = r.read().decode()
            out += [line for line in text.splitlines()
                    if re.match(r"scopebox_(http_requests_in_progress|runs_in_flight|oldest_run|"
                                r"queue_length|workers\{|workers_exited_total)", line)]
        except OSError as e:
            out.append(f"/metrics: no answer either ({e!r})")
        pid = self.proc.pid if self.proc else None
        try:
            for tid in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
                base = f"/proc/{pid}/task/{tid}"
                with open(f"{base}/comm") as f:
                    comm = f.read().strip()
                with open(f"{base}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                with open(f"{base}/wchan") as f:
                    wchan = f.read().strip()
                out.append(f"thread {tid} {comm}: {state} in {wchan or '-'}")
        except (OSError, TypeError):
            pass
        return "\n".join(out) + "\nlog:\n" + self.log()

    def run(self, body, **kw):
        return self.request("POST", "/v1/run", body, **kw)

    def run_ok(self, code, mode="exec", **fields):
        """POST /v1/run that must succeed: asserts a 200 whose snippet ran
        without an exception, and returns the answer's body."""
        status, _, body = self.run({"code": code, "mode": mode, **fields})
        assert status == 200, body
        assert body["ok"], body["error"]
        return body

    def wait_healthy(self, workers, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, _, body = self.request("GET", "/healthz")
            if status == 200 and body["workers"]["ready"] >= workers:
                return body
            time.sleep(0.2)
        raise AssertionError(f"not {workers} ready workers in {timeout}s; log:\n" + self.log())


@contextlib.contextmanager
def keyed_server(directory, *args, keys=KEYS, workers=1):
    """A server that wants a bearer key on every route but /healthz and /:
    `keys` (a keys file's text, ALICE's and BOB's by default) is written to
    `directory`/api-keys (the server's `keys_path`, for a reload) and
    passed as --api-keys-file; started with `workers` ready."""
    path = Path(directory) / "api-keys"
    path.write_text(keys)
    with ScopeboxServer("--workers", str(workers), *args, "--api-keys-file", str(path)) as s:
        s.keys_path = path
        s.wait_healthy(workers)
        yield s
