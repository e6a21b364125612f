"""--log-level (issue 19), as Redis has it: `info`, the default, writes every
event and one access line per request; `warning` writes only what went
wrong, so a request that went well leaves no line; an unknown level is
refused before anything starts. Each server here writes its log to a file,
read once the server has exited, so that what is absent is absent for
good."""
import os
import re
import signal
import subprocess
import time
import urllib.request

SERVER = os.environ["SCOPEBOX_SERVER"]
READY = re.compile(r"scopebox: ready on (http://[^ ]+) ")
ACCESS = re.compile(r" GET /healthz 200 ")


def serve_one_request(tmp_path, *args):
    """The whole log of a server that answered GET /healthz once and stopped."""
    log = tmp_path / "server.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([SERVER, "--port", "0", "--workers", "1", *args],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 120
        while not (m := READY.search(log.read_text())):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        with urllib.request.urlopen(m.group(1) + "/healthz", timeout=30) as r:
            assert r.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()
    return log.read_text()


def test_info_logs_an_access_line_per_request(tmp_path):
    text = serve_one_request(tmp_path)
    assert ACCESS.search(text), text
    assert "stopped" in text, text


def test_info_is_the_default(tmp_path):
    assert ACCESS.search(serve_one_request(tmp_path, "--log-level", "info"))


def test_warning_leaves_out_what_went_well(tmp_path):
    text = serve_one_request(tmp_path, "--log-level", "warning")
    assert not ACCESS.search(text), text
    assert "starting 1 workers" not in text and "stopped" not in text, text
    # The line supervisors wait for is not an event: it is always written.
    assert READY.search(text), text


def test_an_unknown_level_is_refused_at_start():
    out = subprocess.run([SERVER, "--log-level", "loud"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out
    assert "--log-level must be debug, info or warning" in out.stderr, out.stderr
