"""The process sandbox (server/sandbox.c), looked at from the host and from
native code inside it, and --insecure's semantics (fail closed)."""
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from scopebox_server import ScopeboxServer

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
            # malloc tunables alone (server/sandbox.c WORKER_ENV)
            assert f.read() == b"GLIBC_TUNABLES=glibc.malloc.mmap_threshold=32768\0", "the worker's environment"
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


def _probe_lines(extra=()):
    """The server started with sandbox_probe (native code) as --node: what
    it saw from the worker's place, as {key: value}."""
    probe = os.environ.get("SCOPEBOX_SANDBOX_PROBE")
    if not probe:
        pytest.skip("SCOPEBOX_SANDBOX_PROBE not set (ctest sets it)")
    lines = _run_fake_node(("--node", probe, *extra), wait_for="probe done")
    # --node is given twice: the last one counts
    seen = {}
    for line in lines:
        m = re.search(r"probe (\S+) ?(.*)$", line)
        if m and m.group(1) not in seen:
            seen[m.group(1)] = m.group(2)
        m = re.search(r"probe syscall (\S+) (.*)$", line)
        if m:
            seen.setdefault("syscall " + m.group(1), m.group(2))
    assert "done" in seen, "\n".join(lines)
    return seen, "\n".join(lines)


def test_worker_start_never_hangs():
    """Switching to the worker user after the raw clone once went through
    glibc's set*id, which waits for the server's other threads (absent in
    the child), or on a lock one of them held: about one start in thirty
    hung until the ready timeout killed it. Three hundred starts in a row,
    each given 5 s, catch that with near certainty."""
    probe = os.environ.get("SCOPEBOX_SANDBOX_PROBE")
    if not probe:
        pytest.skip("SCOPEBOX_SANDBOX_PROBE not set (ctest sets it)")
    binary = os.environ["SCOPEBOX_SERVER"]
    for i in range(300):
        proc = subprocess.Popen([binary, "--port", "0", "--workers", "1", "--node", probe],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, errors="replace")
        done, lines = threading.Event(), []

        def reader():
            for line in proc.stderr:
                lines.append(line.rstrip("\n"))
                if "probe done" in line:
                    done.set()

        threading.Thread(target=reader, daemon=True).start()
        started = done.wait(5)
        proc.kill()
        proc.wait()
        assert started, (i, "\n".join(lines))


def test_denied_system_calls():
    """memfd_create, inotify, modify_ldt and the NUMA memory policy calls
    answer EPERM inside the sandbox (node itself still starts: the other
    tests of this suite run it)."""
    seen, log = _probe_lines()
    for call in ("memfd_create", "inotify_init1", "modify_ldt", "set_mempolicy", "mbind",
                 "migrate_pages", "move_pages"):
        if call == "modify_ldt" and "syscall modify_ldt" not in seen:
            continue  # not on this architecture
        assert seen.get("syscall " + call) == "errno=1", (call, log)


def test_worker_sees_its_own_root_only():
    """From inside: no host files (/etc/passwd, /home, /tmp), the root is
    read-only, /proc holds the worker alone, so no other worker's
    /proc/<pid>/mem is there to open."""
    seen, log = _probe_lines()
    assert seen["passwd"] == "No such file or directory", log
    assert seen["rootwrite"] == "denied", log
    root = set(seen["root"].split())
    # the system's directories, and the first component of each path the
    # worker needs (wherever the checkout is: /work, /check, /home, ...)
    on_the_way = {p.split(os.sep)[1] for p in _exposed_prefixes()}
    assert root <= {"dev", "etc", "lib", "lib64", "lib32", "libx32", "usr", "bin", "sbin", "proc",
                    "opt", "srv", "mnt"} | on_the_way, log
    # only the directories on the way to node, the runtime and Pyodide
    for host_only in ("home", "root", "tmp", "var", "boot", "sys"):
        if not any(p.startswith(f"/{host_only}/") for p in _exposed_prefixes()):
            assert host_only not in root, (host_only, log)
    assert seen["etc"].split() in ([], ["ld.so.cache"]), log
    assert seen["procs"].split() == ["1"], log


def _exposed_prefixes():
    """Host paths the worker's root must hold: node, the runtime, Pyodide."""
    binary = os.path.realpath(os.environ["SCOPEBOX_SERVER"])
    build = os.path.dirname(binary)
    return [os.path.realpath(os.path.join(build, "runtime")),
            os.path.realpath(os.path.join(build, "runtime", "node_modules", "pyodide")),
            os.path.realpath(os.path.join(build, "runtime", "node_modules"))]


def test_worker_root_from_outside(server):
    """From the host: the real worker's root has no /etc/passwd, every mount
    in it but /proc is read-only, and its /proc shows one process."""
    if not ROOT:
        pytest.skip("reading another process's root needs root")
    for pid in node_pids(server):
        root = f"/proc/{pid}/root"
        assert not os.path.exists(f"{root}/etc/passwd")
        assert not os.path.exists(f"{root}/home") or os.listdir(f"{root}/home") != os.listdir("/home")
        with open(f"/proc/{pid}/mountinfo") as f:
            mounts = [line.split() for line in f]
        for m in mounts:
            point, opts = m[4], m[5]
            if point != "/proc":
                assert "ro" in opts.split(","), (point, opts)
        assert [n for n in os.listdir(f"{root}/proc") if n.isdigit()] == ["1"]
        assert os.path.exists(f"{root}/usr") and os.path.exists(f"{root}/dev/null")


def test_environment_shows_no_host_path(server):
    """os.environ inside a snippet names no path of the host (Emscripten's
    default environment had "_" = the script that made the heap)."""
    status, _, out = server.run({"code": "import os\ndict(os.environ)"})
    assert status == 200 and out["ok"], out
    env = out["result"]
    assert "_" not in env, env
    runtime = os.path.dirname(_exposed_prefixes()[0])
    for key, value in env.items():
        assert runtime not in value and "node_modules" not in value and ".mjs" not in value, (key, value)


@pytest.mark.parametrize("env", [{"FOO": "1"},
                                 {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=32768", "LD_PRELOAD": "/x.so"},
                                 {"GLIBC_TUNABLES": "glibc.rtld.optional_static_tls=1"}])
def test_worker_refuses_an_environment_beyond_malloc_tunables(env):
    """The host gives the worker one variable, GLIBC_TUNABLES with malloc
    settings (server/sandbox.c WORKER_ENV); anything more means it was not
    started by our sandbox, and it refuses to run."""
    runtime = os.path.realpath(os.environ["SCOPEBOX_RUNTIME_DIR"])
    pyodide = os.path.realpath(os.path.join(runtime, "node_modules", "pyodide"))
    r = subprocess.run([os.environ["SCOPEBOX_NODE"], "--experimental-permission",
                        f"--allow-fs-read={runtime}/*", f"--allow-fs-read={pyodide}/*", "--allow-worker",
                        "--disallow-code-generation-from-strings", os.path.join(runtime, "worker.mjs")],
                       env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    assert r.returncode == 70, (r.returncode, r.stdout, r.stderr)
    assert b"the environment holds more than malloc tunables" in r.stdout, r.stdout
