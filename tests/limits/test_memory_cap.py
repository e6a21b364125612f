"""One memory cap covers a run's wasm heap and its files (--worker-heap-mb,
files at most --worker-files-mb of it: wasm/runtime/fsquota.mjs), wherever
in the file system they are (/tmp, /dev/shm, /home, a pipe); and the host's
backstop kills a busy worker past --worker-rss-mb (server/rsswatch.c).
Through a real server with the sandbox on."""
import errno

import pytest

from scopebox_server import ScopeboxServer

FILES_MB = 32
HEAP_MB = 128
# Well above what a worker holds at rest (~190 MiB) plus the cap, well below
# what the file bomb took a worker to before the cap (1-1.7 GiB).
RSS_CEILING_MB = 600
# Fits in the heap cap next to the pristine heap (~30 MiB), not next to that
# and a full files share as well.
BIG_MB = HEAP_MB - 48

# Writes 4 MiB chunks under `d` until a write fails; the answer is (MiB
# written, errno).
FILL = """
import os
chunk = b'x' * (4 << 20)
n, err = 0, None
try:
    for i in range(10000):
        with open(f'{d}/f{i}', 'wb') as f:
            f.write(chunk)
        n += 4
except OSError as e:
    err = e.errno
(n, err)
"""
PIPE = """
import os
r, w = os.pipe()
chunk = b'y' * (1 << 20)
n, err = 0, None
try:
    for i in range(10000):
        os.write(w, chunk)
        n += 1
except OSError as e:
    err = e.errno
(n, err)
"""
MANY_FILES = """
import os
n, err = 0, None
try:
    for i in range(10**7):
        os.mkdir(f'/tmp/d{i}')
        n += 1
except OSError as e:
    err = e.errno
(n, err)
"""


@pytest.fixture(scope="module")
def server():
    with ScopeboxServer("--workers", "1", "--worker-heap-mb", str(HEAP_MB),
                        "--worker-files-mb", str(FILES_MB),
                        "--worker-rss-mb", str(RSS_CEILING_MB)) as s:
        s.wait_healthy(1)
        yield s


def result(server, code, timeout_ms=20000):
    status, _, out = server.run({"code": code, "timeout_ms": timeout_ms}, timeout=120)
    assert status == 200 and out["ok"], out
    r = out["result"]
    return tuple(r["items"]) if isinstance(r, dict) else r


def peak_rss_mb(server):
    with open(f"/proc/{server.worker_pids()[0]}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    raise AssertionError("no VmHWM")


ENOSPC = 51  # Emscripten's errno numbering, as Python inside sees it


@pytest.mark.parametrize("where", ["/tmp", "/home/pyodide", "/dev/shm", "/dev/shm/tmp", "/proc/self"])
def test_files_stop_at_their_share(server, where):
    written, err = result(server, f"d = {where!r}\n" + FILL)
    assert err == ENOSPC, (written, err)
    assert 0 < written <= FILES_MB, written
    # the next run has the whole share again: the charge went with the reset
    again, err = result(server, f"d = {where!r}\n" + FILL)
    assert (again, err) == (written, ENOSPC)
    assert peak_rss_mb(server) < RSS_CEILING_MB


def test_pipes_count_too(server):
    written, err = result(server, PIPE)
    assert err == ENOSPC and 0 < written <= FILES_MB, (written, err)


def test_empty_files_count_too(server):
    made, err = result(server, MANY_FILES)
    assert err == ENOSPC and made > 1000, (made, err)
    assert result(server, "import os\nos.mkdir('/tmp/x')\nos.listdir('/tmp')") == ["x"]


def test_deleted_files_give_their_room_back(server):
    code = ("import os\nchunk = b'x' * (4 << 20)\n"
            f"for i in range({FILES_MB} * 3):\n"
            "    with open('/tmp/f', 'wb') as f:\n        f.write(chunk)\n    os.unlink('/tmp/f')\n'ok'")
    assert result(server, code) == "ok"


def test_heap_and_files_share_one_cap():
    """The heap's size (it never shrinks) and the run's files together stay
    under the cap: with the files' share taken, the heap cannot grow to what
    it could alone; once the heap has grown, files get less than their
    share. A fresh worker, so that its heap starts at its pristine size."""
    with ScopeboxServer("--workers", "1", "--worker-heap-mb", str(HEAP_MB),
                        "--worker-files-mb", str(FILES_MB)) as s:
        s.wait_healthy(1)
        grow = (f"try:\n    keep = bytearray({BIG_MB} << 20)\n    r = 'fit'\n"
                "except MemoryError:\n    r = 'MemoryError'\nr")
        assert result(s, "d = '/tmp'\n" + FILL + "\n" + grow) == "MemoryError"
        # In one run: a worker whose heap grew past 64 MiB asks to be
        # replaced before its next run (PROTOCOL.md, recycle before idle).
        written, err = result(s, grow + "\nassert r == 'fit'\nd = '/tmp'\n" + FILL)
        assert err == ENOSPC and written < FILES_MB - 8, written


def test_the_host_kills_a_worker_past_the_rss_ceiling():
    """A ceiling below what a worker needs with a heap of 200 MiB touched:
    the host kills it mid-run (it would not stop by itself within its time
    limit), the answer says why, and the next request is served."""
    with ScopeboxServer("--workers", "1", "--worker-rss-mb", "300") as s:
        s.wait_healthy(1)
        status, _, out = s.run({"code": "import time\nb = b'x' * (200 << 20)\ntime.sleep(10)",
                                "timeout_ms": 20000}, timeout=120)
        assert status == 500 and out["error"]["code"] == "worker_crashed", out
        assert "300 MiB of resident memory" in out["error"]["message"], out
        assert "resident (ceiling 300); killing it" in s.log()
        s.wait_healthy(1, timeout=120)
        status, _, out = s.run({"code": "1 + 1"})
        assert status == 200 and out["result"] == 2, out


def test_a_session_keeps_its_files_under_one_share(server):
    """A session's files stay between its runs, and so does their charge:
    runs of a session share one files share rather than each getting one."""
    status, _, out = server.request("POST", "/v1/sessions", {})
    assert status == 201, out
    sid = out["id"]
    try:
        half = FILES_MB // 2 + 4  # two of these do not fit
        code = (f"import os\nname = f'/tmp/s{{len(os.listdir(\"/tmp\"))}}'\n"
                f"try:\n    open(name, 'wb').write(b'x' * ({half} << 20))\n    r = 'fit'\n"
                "except OSError as e:\n    r = e.errno\nr")
        answers = []
        for _ in range(2):
            status, _, out = server.request("POST", f"/v1/sessions/{sid}/run", {"code": code})
            assert status == 200 and out["ok"], out
            answers.append(out["result"])
        assert answers == ["fit", ENOSPC], answers
    finally:
        server.request("DELETE", f"/v1/sessions/{sid}")
