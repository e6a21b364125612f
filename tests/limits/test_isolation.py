"""No shared state between stateless requests: one worker, so that every
request lands on the same interpreter; each case plants something and the
next request must not see it. Sessions keep their state (persist)."""
import time

import pytest

from scopebox_server import ScopeboxServer


@pytest.fixture(scope="module")
def server():
    with ScopeboxServer("--workers", "1", "--max-sessions", "1") as s:
        s.wait_healthy(1)
        yield s


def run(server, code, **kw):
    status, _, out = server.run({"code": code, **kw}, timeout=60)
    assert status == 200, out
    return out


# (plant, probe): the probe evaluates to True when the plant is gone.
CASES = {
    "builtins": ("import builtins\nbuiltins.EVIL = 1\nbuiltins.len = lambda x: 42",
                 "import builtins\nnot hasattr(builtins, 'EVIL') and len([1]) == 1"),
    "sys.modules": ("import sys, types\nsys.modules['json'] = types.ModuleType('json')\nsys.modules['planted'] = 1",
                    "import sys, json\n'planted' not in sys.modules and hasattr(json, 'dumps')"),
    "module attribute": ("import string\nstring.ascii_letters = 'evil'",
                         "import string\nstring.ascii_letters.startswith('abc')"),
    "file in /tmp": ("open('/tmp/planted', 'w').write('x')\nimport os\nos.mkdir('/tmp/d')",
                     "import os\nos.listdir('/tmp') == []"),
    "file in home": ("open('planted.txt', 'w').write('x')",
                     "import os\nnot os.path.exists('planted.txt') and os.listdir('.') == []"),
    "open file": ("f = open('/tmp/keep', 'w')\nf.write('x')\nimport builtins\nbuiltins.F = f",
                  "import os\nfd = os.open('/dev/null', os.O_RDONLY)\nos.close(fd)\n"
                  "fd == 3 and not os.path.exists('/tmp/keep')"),
    "cwd": ("import os\nos.chdir('/lib')", "import os\nos.getcwd() == '/home/pyodide'"),
    "os.environ": ("import os\nos.environ['PLANTED'] = '1'\nos.putenv('PLANTED2', '1')",
                   "import os\n'PLANTED' not in os.environ and 'PLANTED2' not in os.environ"),
    "random.seed": ("import random\nrandom.seed(42)",
                    "import random\nr = random.random()\nrandom.seed(42)\nr != random.random()"),
    "recursion limit": ("import sys\nsys.setrecursionlimit(50)", "import sys\nsys.getrecursionlimit() == 1000"),
    "sys.path": ("import sys\nsys.path.insert(0, '/tmp/evil')", "import sys\n'/tmp/evil' not in sys.path"),
    "meta_path hook": ("import sys\nclass H:\n    def find_spec(self, *a): raise ImportError('hooked')\nsys.meta_path.insert(0, H())",
                       "import colorsys\nTrue"),
    "trace function": ("import sys, threading\nsys.settrace(lambda *a: None)\nthreading.settrace(lambda *a: None)\nsys.setprofile(lambda *a: None)",
                       "import sys\nsys.gettrace() is None and sys.getprofile() is None"),
    "atexit / gc callbacks": ("import gc\ngc.callbacks.append(lambda *a: 1/0)\ngc.disable()",
                              "import gc\ngc.isenabled() and gc.callbacks == []"),
    "warnings filter": ("import warnings\nwarnings.simplefilter('error')",
                        "import warnings\nwarnings.warn('x')\nTrue"),
    "stdout replaced": ("import sys, io\nsys.__stdout__ = io.StringIO()\nsys.stdout = None",
                        "print('visible')\nTrue"),
    "asyncio background task": (
        "import asyncio\nasync def bg():\n    while True:\n        open('/tmp/bg', 'a').write('x')\n"
        "        await asyncio.sleep(0.01)\nasyncio.get_event_loop().create_task(bg())\n"
        "import time\ntime.sleep(0.05)",
        "import os, time\ntime.sleep(0.2)\nnot os.path.exists('/tmp/bg')"),
    "timer callback": ("import pyodide.webloop as w\nfrom pyodide.ffi import create_once_callable\n"
                       "w.scheduleCallback(create_once_callable(lambda: open('/tmp/cb', 'w')), 50)",
                       "import os, time\ntime.sleep(0.2)\nnot os.path.exists('/tmp/cb')"),
    "dynscope state": ("import dynscope\ndynscope.PLANTED = 1", "import dynscope\nnot hasattr(dynscope, 'PLANTED')"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_no_state_leaks(server, name):
    plant, probe = CASES[name]
    run(server, plant)
    out = run(server, probe)
    assert out["ok"] and out["result"] is True, (name, out)
    # and still the same worker: no respawn was needed
    assert len(server.worker_pids()) == 1


def test_breaking_the_runner_breaks_only_that_run(server):
    """Patching what the runner itself uses (json.dumps) spoils that run's
    answer at worst; the next run is fine."""
    status, _, out = server.run({"code": "import json\njson.dumps = lambda *a, **k: 'evil'"}, timeout=60)
    assert status in (200, 500), out
    server.wait_healthy(1)
    out = run(server, "import json\njson.dumps([1]) == '[1]'")
    assert out["result"] is True, out


def test_memory_of_a_run_is_wiped(server):
    secret = "s3cr3t-" + str(time.time())
    run(server, f"x = {secret!r} * 1000\ny = bytearray(b'{secret}' * 100000)")
    # a fresh run scanning the interpreter's objects finds no trace
    out = run(server, f"import gc\nany({secret!r} in str(o)[:100] for o in gc.get_objects() if isinstance(o, (str, bytes, bytearray)))")
    assert out["result"] is False, out


def test_session_keeps_its_state(server):
    status, _, created = server.request("POST", "/v1/sessions", {"scope": {"n": 1}})
    if status == 404:
        pytest.skip("no sessions endpoint")
    assert status in (200, 201), created
    sid = created.get("id") or created.get("session", {}).get("id")
    path = f"/v1/sessions/{sid}/run"
    for expected in (2, 3):
        status, _, out = server.request("POST", path, {"code": "import builtins\nbuiltins.KEPT = 1\nn += 1\nn"})
        assert status == 200 and out["result"] == expected, out
    status, _, out = server.request("POST", path, {"code": "import builtins\nbuiltins.KEPT"})
    assert status == 200 and out["result"] == 1, out
    server.request("DELETE", f"/v1/sessions/{sid}")
