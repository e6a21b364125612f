"""Workers start from the build-time memory snapshot (wasm/runtime/snapshot.mjs),
fall back to a cold boot when it cannot be used, and a snapshot does not make
runs predictable: every worker reseeds `random`, and os.urandom stays fresh."""
import concurrent.futures
import os
import shutil

import pytest

from scopebox_server import ScopeboxServer
from worker_proc import Worker

RUNTIME = os.environ["SCOPEBOX_RUNTIME_DIR"]
NODE = os.environ["SCOPEBOX_NODE"]
PROBE = "import random, os\n[random.random(), random.getrandbits(64), os.urandom(16).hex()]"
# The snapshot's objects are made immortal and frozen when it is made
# (snapshot.mjs): immortal, counted as frozen, left out of gc.get_objects
# until a snippet thaws them. After a cold boot the capture made the same
# objects immortal, and nothing is frozen.
FROZEN = ("import gc, json, sys\n"
          "seen = lambda: any(o is json.dumps for o in gc.get_objects())\n"
          "before = [sys._is_immortal(json.dumps), gc.get_freeze_count() > 10000, seen()]\n"
          "gc.unfreeze()\n"
          "before + [seen()]")


def test_snapshot_is_built():
    assert os.path.getsize(os.path.join(RUNTIME, "pyodide.snapshot")) > 1 << 20


def test_workers_boot_from_snapshot_and_do_not_share_randomness():
    workers = [Worker(RUNTIME) for _ in range(2)]
    firsts = []
    for w in workers:
        ready = w.recv()
        assert ready["type"] == "ready" and ready["snapshot"] is True, ready
        out = w.run(PROBE)
        assert out["ok"], out
        firsts.append(out["result"])
        # The first run after a restore, then a second one after isolation's reset.
        assert w.run(PROBE, id=2)["result"] != out["result"]
        w.close()
    a, b = firsts
    assert a[0] != b[0], "random.random() starts the same in two workers"
    assert a[1] != b[1]
    assert a[2] != b[2], "os.urandom gives the same bytes in two workers"


def test_snapshot_objects_are_immortal_and_frozen():
    w = Worker(RUNTIME)
    assert w.recv()["snapshot"] is True
    assert w.run(FROZEN)["result"] == [True, True, False, True]
    # The thaw was the run's alone: the reset froze them again.
    assert w.run(FROZEN, id=2)["result"] == [True, True, False, True]
    w.close()


def test_unusable_snapshot_falls_back_to_a_cold_boot(tmp_path):
    # A copy of the runtime dir whose snapshot is garbage: the worker's code
    # is copied (node resolves symlinks to find its own directory), the rest
    # is linked.
    for name in os.listdir(RUNTIME):
        src = os.path.join(RUNTIME, name)
        if name.endswith(".mjs"):
            shutil.copy(src, tmp_path / name)
        elif name != "pyodide.snapshot":
            os.symlink(os.path.realpath(src), tmp_path / name)
    (tmp_path / "pyodide.snapshot").write_bytes(b"\0" * 4096)
    w = Worker(str(tmp_path))
    ready = w.recv()
    assert ready["type"] == "ready" and ready["snapshot"] is False, ready
    assert w.run("1 + 1")["ok"]
    assert w.run(FROZEN, id=2)["result"] == [True, False, True, True]
    assert "booting cold" in w.close()


@pytest.fixture(scope="module")
def server():
    with ScopeboxServer("--workers", "2") as s:
        s.wait_healthy(2)
        yield s


def test_sandboxed_workers_use_the_snapshot(server):
    ready = [line for line in server.log_lines if " ready after " in line]
    assert len(ready) >= 2 and all("from snapshot" in line for line in ready), server.log()


def test_first_runs_on_two_workers_differ(server):
    # Concurrent, and each holds its worker a while: one per worker.
    body = {"code": "import time\ntime.sleep(0.5)\n" + PROBE, "mode": "exec"}
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        answers = list(ex.map(lambda _: server.run(body, timeout=60), range(2)))
    results = []
    for status, _, out in answers:
        assert status == 200 and out["ok"], out
        results.append(out["result"])
    assert results[0][0] != results[1][0] and results[0][2] != results[1][2], results
