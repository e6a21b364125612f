"""The image, built by podman from a clean clone with the repository's own
Dockerfile and started the way the README starts it: the healthcheck, the
README's requests, the sandbox inside the container, configuration by
environment, the user and the read-only install, and `podman stop` with a
run in flight. (tests/docker/ carries out the same steps natively.)"""
import json
import os
import re
import shlex
import socket
import subprocess
import threading
import time
import uuid

import pytest

import engine as eng
from scopebox_server import descendants

PREFIX = "/opt/scopebox"
UID = 10001


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def readme_run_line():
    """The README's plain `podman run` line (the one without -e)."""
    lines = [ln for ln in eng.readme_commands("Run in Docker", "podman run") if " -e " not in ln]
    assert lines, "README's 'Run in Docker' has no plain `podman run ... scopebox` line"
    return lines[0]


def run_args(engine, name, port, env=(), args=(), container_port=8080):
    """The README's `podman run` line, for this machine: detached and named
    (the test inspects it after it stops, so no --rm), published on a free
    loopback port, nofile within the hard limit, the image just built."""
    argv = shlex.split(readme_run_line())
    assert argv[:2] == ["podman", "run"] and argv[-1] == "scopebox", argv
    assert "-p" in argv and argv[argv.index("-p") + 1] == "8080:8080", argv
    argv[argv.index("-p") + 1] = f"127.0.0.1:{port}:{container_port}"
    argv = [a for a in argv[1:-1] if a != "--rm"]
    extra = ["-d", "--name", name, *engine.ulimits]
    for e in env:
        extra += ["-e", e]
    return argv[:1] + extra + argv[1:] + [eng.IMAGE, *args]


@pytest.fixture(scope="module")
def server(engine, image):
    port = free_port()
    c = eng.Container(engine, run_args(engine, "scopebox-test-readme", port), "scopebox-test-readme", port).start()
    try:
        took = c.wait_healthy()
        eng.log(f"start to healthy: {took:.1f} s (load average {os.getloadavg()[0]:.1f})")
        c.url = f"http://127.0.0.1:{port}"
        yield c
    finally:
        c.remove()


def host_procs(c):
    """(pid, uid, argv) of every process in the container, as the host sees them."""
    out = []
    for pid in [c.pid()] + descendants(c.pid()):
        try:
            with open(f"/proc/{pid}/status") as f:
                uid = int(re.search(r"^Uid:\s+(\d+)", f.read(), re.M).group(1))
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = [a.decode() for a in f.read().split(b"\0") if a]
        except FileNotFoundError:
            continue
        out.append((pid, uid, argv))
    return out


def test_the_image_healthcheck_passes(engine, server):
    """The image keeps its HEALTHCHECK (docker format) and it passes."""
    hc = json.loads(engine.podman("image", "inspect", "--format", "{{json .Config.Healthcheck}}", eng.IMAGE).stdout)
    assert hc and hc["Test"][-1] == f"{PREFIX}/bin/scopebox-healthcheck", hc
    r = server.healthcheck()
    assert r.returncode == 0, r.stdout + r.stderr
    state = json.loads(server.inspect("{{json .State}}"))
    health = state.get("Health") or state.get("Healthcheck")
    assert health["Status"] == "healthy", state
    # The full sandbox, not the --insecure fallback.
    logs = server.wait_log("scopebox: ready on http://0.0.0.0:8080 (")
    assert "INSECURE" not in logs, logs


def test_readme_curl_answers_42(server):
    (line,) = [ln for ln in eng.readme_commands("Set up, run, test", "curl") if "x*2" in ln]
    argv = [a.replace("localhost:8080", f"127.0.0.1:{server.port}") for a in shlex.split(line)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout
    body = json.loads(out)
    assert body["ok"] is True and body["result"] == 42, body


def test_a_session_keeps_its_scope_across_runs(server):
    status, _, s = eng.request(server.url + "/v1/sessions", "POST", {"scope": {"n": 1}})
    assert status == 201, s
    sid = s["id"]
    status, _, r = eng.request(f"{server.url}/v1/sessions/{sid}/run", "POST", {"code": "n += 1\nhistory = [n]"})
    assert status == 200 and r["scope"] == {"n": 2, "history": [2]}, r
    status, _, r = eng.request(f"{server.url}/v1/sessions/{sid}/run", "POST", {"code": "n * 10", "mode": "eval"})
    assert status == 200 and r["result"] == 20, r
    status, _, r = eng.request(f"{server.url}/v1/sessions/{sid}", "DELETE")
    assert status == 200 and r["ok"], r
    status, _, r = eng.request(f"{server.url}/v1/sessions/{sid}")
    assert status == 404 and r["error"]["code"] == "session_not_found", r


def test_the_playground_and_its_pyodide_are_served(server):
    status, headers, page = eng.request(server.url + "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html"), headers
    assert b"<html" in page.lower()
    # Pyodide for the browser engine: served, and the same file the workers
    # run (one copy in the image, see docker/install.sh).
    status, _, wasm = eng.request(server.url + "/pyodide/pyodide.asm.wasm")
    assert status == 200 and wasm[:4] == b"\0asm"
    runtime = f"{PREFIX}/lib/scopebox/runtime/node_modules/pyodide/pyodide.asm.wasm"
    r = server.exec("readlink", "-f", f"{PREFIX}/share/scopebox/web/pyodide/pyodide.asm.wasm")
    assert r.stdout.strip() == runtime, r
    r = server.exec("stat", "-c", "%s", runtime)
    assert int(r.stdout) == len(wasm), r


def security_escapes():
    """tests/security/test_escapes.py as a module (another suite's directory
    is not on the path)."""
    import importlib.util
    path = os.path.join(os.path.dirname(__file__), "..", "security", "test_escapes.py")
    spec = importlib.util.spec_from_file_location("security_test_escapes", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ESCAPES = ["terrarium: js.document.constructor.constructor", "subprocess", "http to the server itself",
           "open /etc/passwd", "os.environ", "overwrite the runner"]


@pytest.mark.parametrize("name", ESCAPES)
def test_escape_refused_inside_the_container(server, name):
    """Cases of tests/security/test_escapes.py, against the container."""
    sec = security_escapes()
    (code,) = [c for n, c in sec.CASES if n == name]
    snippet = sec.PRELUDE + code.replace("{port}", "8080").replace("{runtime}", f"{PREFIX}/lib/scopebox/runtime") \
        .replace("{{", "{").replace("}}", "}")
    status, _, body = eng.request(server.url + "/v1/run", "POST", {"code": snippet, "timeout_ms": 10000}, timeout=90)
    assert status in (200, 500, 504), (status, body)
    text = json.dumps(body)
    assert not (body.get("ok") and body.get("result") == "ESCAPED"), text[:2000]
    assert "root:x:0:0" not in text and "sandboxGap" not in text and "SCOPEBOX_PORT" not in text, text[:2000]
    deadline = time.monotonic() + 60
    while eng.request(server.url + "/healthz")[0] != 200:
        assert time.monotonic() < deadline, server.logs()
        time.sleep(0.2)


def test_runs_as_10001_with_a_read_only_install(server):
    procs = host_procs(server)
    srv = [p for p in procs if p[2] and p[2][0] == f"{PREFIX}/bin/scopebox-server"]
    assert len(srv) == 1, procs
    pid, uid, _ = srv[0]
    assert uid == UID, procs
    workers = [p for p in procs if p[2] and p[2][0] == f"{PREFIX}/node/bin/node"]
    assert workers, procs
    ns = {k: os.readlink(f"/proc/{pid}/ns/{k}") for k in ("user", "net", "pid")}
    for wpid, _, argv in workers:
        assert any(a.startswith(f"{PREFIX}/lib/scopebox/runtime/") for a in argv), argv
        # Each worker in namespaces of its own, inside the container's.
        for k, v in ns.items():
            assert os.readlink(f"/proc/{wpid}/ns/{k}") != v, (k, argv)
    # `podman exec` runs as the image's USER.
    assert server.exec("id", "-u").stdout.strip() == str(UID)
    r = server.exec("find", PREFIX, "-writable")
    assert r.returncode == 0 and r.stdout == "", r
    r = server.exec("touch", f"{PREFIX}/bin/planted")
    assert r.returncode != 0 and "denied" in r.stderr, r
    r = server.exec("stat", "-c", "%u:%g %a", f"{PREFIX}/bin/scopebox-server", f"{PREFIX}/node/bin/node")
    assert all(ln.startswith("0:0 ") and ln.endswith("755") for ln in r.stdout.splitlines()), r


def test_configured_by_environment(engine, image):
    """SCOPEBOX_* variables as the README's table says, and a flag after the
    image name winning over its variable."""
    port, name = free_port(), "scopebox-test-env"
    env = ["SCOPEBOX_PORT=9090", "SCOPEBOX_WORKERS=1", "SCOPEBOX_MAX_SESSIONS=3", "SCOPEBOX_TIMEOUT_MS=400",
           "SCOPEBOX_REPLICA_ID=r1"]
    c = eng.Container(engine, run_args(engine, name, port, env, ["--max-sessions", "1"], container_port=9090), name, port)
    c.start()
    try:
        c.wait_healthy()  # the healthcheck follows SCOPEBOX_PORT
        url = f"http://127.0.0.1:{port}"
        c.wait_log("ready on http://0.0.0.0:9090 (1 workers)")
        status, _, body = eng.request(url + "/healthz")
        assert status == 200 and body["workers"]["ready"] == 1, body
        status, _, s = eng.request(url + "/v1/sessions", "POST", {})
        assert status == 201 and s["id"].startswith("r1-"), s
        status, _, err = eng.request(url + "/v1/sessions", "POST", {})
        assert status == 503 and err["error"]["code"] == "too_many_sessions", err
        status, _, r = eng.request(url + "/v1/run", "POST", {"code": "while True:\n    pass"}, timeout=60)
        assert status == 504 and r["error"]["code"] == "timeout" and "400 ms" in r["error"]["message"], r
    finally:
        c.remove()


def test_one_copy_of_the_install(engine, image):
    """/opt/scopebox is in the image once: the runtime stage's later steps
    change no file of it (in a layer, a changed file is a whole new copy)."""
    layers = [(h["size"], h["CreatedBy"]) for h in json.loads(engine.podman("history", "--format", "json", image).stdout)]
    (install,) = [size for size, by in layers if "COPY" in by and "dir:" in by and size > 50e6]
    later = [(size, by) for size, by in layers if "setup-runtime.sh" in by and "install-deps.sh" not in by]
    assert later and all(size < 1e6 for size, _ in later), (install, later)


def test_dependency_stage_stays_cached_when_sources_change(engine, image, clone):
    """The slow part of a build (toolchain, emscripten, Node, npm ci) is made
    from install-deps.sh and the npm lock only: a changed source reuses it."""
    want = engine.podman("image", "inspect", "--format", "{{.Id}}", eng.DEPS_IMAGE).stdout.strip()
    path = os.path.join(clone, "server", "main.c")
    st = os.stat(path)
    with open(path) as f:
        original = f.read()
    try:
        with open(path, "a") as f:
            f.write("/* a changed source */\n")
        r = engine.podman("build", "--pull=never", "--format", "docker", "--target", "deps", clone, timeout=1800)
    finally:
        with open(path, "w") as f:
            f.write(original)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert r.stdout.strip().splitlines()[-1] == want, r.stdout
    assert r.stdout.count("Using cache") >= 3, r.stdout


def test_bad_value_exits_2_naming_the_variable(engine, image):
    argv = run_args(engine, "scopebox-test-bad", free_port(), ["SCOPEBOX_WORKERS=many"])
    argv = [a for a in argv if a != "-d"]
    try:
        r = engine.podman(*argv, check=False, timeout=120)
        assert r.returncode == 2, r
        assert "SCOPEBOX_WORKERS" in r.stdout + r.stderr and "many" in r.stdout + r.stderr, r
    finally:
        engine.podman("rm", "-f", "scopebox-test-bad", check=False)


def test_stop_answers_the_run_in_flight_and_exits_0(engine, server):
    """Last: stops the README container. `podman stop` sends SIGTERM and
    kills after 10 s; exit code 0 means the server ended by itself."""
    slow = "import time\nt = time.time()\nwhile time.time() - t < 2:\n    pass\n'done'"
    result = {}

    def post():
        result["run"] = eng.request(server.url + "/v1/run", "POST", {"code": slow, "timeout_ms": 30000}, timeout=60)

    t = threading.Thread(target=post)
    t.start()
    time.sleep(0.7)
    started = time.monotonic()
    r = engine.podman("stop", "-t", "10", server.name, check=False, timeout=60)
    took = time.monotonic() - started
    t.join(60)
    eng.log(f"podman stop took {took:.2f} s with a run in flight")
    assert r.returncode == 0, r
    assert server.inspect("{{.State.Status}}") == "exited"
    assert server.inspect("{{.State.ExitCode}}") == "0", server.logs()
    status, _, body = result["run"]
    assert status == 200 and body["result"] == "done", result
    assert "stopped" in server.logs()
