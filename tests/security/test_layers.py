"""The process sandbox (server/sandbox.c), looked at from the host and from
native code inside it, and --insecure's semantics (fail closed)."""
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from scopebox_server import ScopeboxServer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.geteuid() == 0


@pytest.fixture(scope="module")
def server():
    with ScopeboxServer("--workers", "1") as s:
        s.wait_healthy(1)
        yield s


def node_pids(server):
    """The node processes: the server's direct children (each is PID 1 of
    its own PID namespace)."""
    return server.worker_pids()


def status_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def test_worker_process_is_confined(server):
    pids = node_pids(server)
    assert pids, server.log()
    for pid in pids:
        st = status_of(pid)
        assert st["Seccomp"].strip() == "2", st          # a filter is installed
        assert st["NoNewPrivs"].strip() == "1", st
        if ROOT:
            assert st["Uid"].split()[0] != "0", st       # not root
            assert int(st["CapEff"], 16) == 0, st
        for ns in ("net", "pid", "ipc", "uts"):
            assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns
        with open(f"/proc/{pid}/environ", "rb") as f:
            assert f.read() == b"", "the worker's environment is not empty"
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
        for flag in (b"--experimental-permission", b"--disallow-code-generation-from-strings"):
            assert flag in args, args
        assert not any(a.startswith(b"--allow-fs-write") or a.startswith(b"--allow-child-process")
                       or a.startswith(b"--allow-addons") for a in args), args
        assert any(a.startswith(b"--allow-fs-read=") for a in args), args
        with open(f"/proc/{pid}/limits") as f:
            limits = f.read()
        assert re.search(r"Max open files\s+256\s+256", limits), limits
        assert re.search(r"Max core file size\s+0\s+0", limits), limits
        assert re.search(r"Max file size\s+0\s+0", limits), limits


def test_plan_is_logged(server):
    line = next(l for l in server.log_lines if "sandbox: node" in l)
    assert "permission model on" in line and "seccomp on" in line, line
    assert "OFF" not in line and "INSECURE" not in line, line


def _run_fake_node(extra=(), wait_for="probe exec-attempt", timeout=60):
    """Starts the server with fake_node.sh as --node; returns its log."""
    binary = os.environ["SCOPEBOX_SERVER"]
    proc = subprocess.Popen([binary, "--port", "0", "--workers", "1", "--node",
                             os.path.join(HERE, "fake_node.sh"), *extra],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, errors="replace")
    lines, done = [], threading.Event()

    def reader():
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            if wait_for in line:
                done.set()
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    done.wait(timeout)
    time.sleep(0.5)  # the lines right after
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return lines


def test_native_code_inside_the_sandbox():
    log = "\n".join(_run_fake_node())
    assert "probe Seccomp: 2" in log, log
    assert "probe NoNewPrivs: 1" in log, log
    assert "probe write=denied" in log, log
    assert "probe write=ALLOWED" not in log, log
    assert "probe exec=ALLOWED" not in log, log       # no second execve
    # a fresh network namespace: loopback only
    devs = re.findall(r"probe netdev (\w+):", log)
    assert devs and set(devs) == {"lo"}, log
    if ROOT:
        assert "probe shadow=denied" in log, log
        assert "probe Uid: 0" not in log, log
    assert not os.path.exists("/tmp/scopebox-sandbox-write-probe")


def test_missing_layer_refuses_to_start():
    if not ROOT:
        pytest.skip("the worker user only matters when run as root")
    binary = os.environ["SCOPEBOX_SERVER"]
    r = subprocess.run([binary, "--port", "0", "--worker-user", "no-such-user-scopebox"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "refusing to start" in r.stderr, r.stderr


def test_insecure_starts_and_says_so():
    if not ROOT:
        pytest.skip("the worker user only matters when run as root")
    with ScopeboxServer("--workers", "1", "--worker-user", "no-such-user-scopebox",
                        "--insecure") as s:
        s.wait_healthy(1)
        log = s.log()
        assert "INSECURE" in log, log
        status, _, body = s.run({"code": "1+1"})
        assert status == 200 and body["result"] == 2, body
