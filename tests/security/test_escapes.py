"""Escape attempts against a real server with the sandbox on (its defaults).

Each case is a snippet that evaluates to "ESCAPED" only if it got what it
went for; anything else (an exception, a refusal, a different value) means
the attempt failed. After each case: no secret of the host (a canary in the
server's environment, /etc/passwd, the worker's source) appears anywhere in
the answer, and the server still answers.

Sources of the paths tried: the Terrarium CVE (CVE-2026-5752:
js.document.constructor.constructor -> Function -> process -> require), the
audit of a Pyodide MCP sandbox (js.process, pyodide_js._api.loadBinaryFile,
JsProxy.constructor.constructor, dynamic import of node:fs/child_process),
vm2/jailed-style constructor chains through errors and promises, and
Pyodide's own ways out (run_js, pyodide_js, mountNodeFS, _nodeSock, dlopen,
ctypes).
"""
import json
import os
import time
import uuid

import pytest

from scopebox_server import ScopeboxServer

CANARY = "canary-" + uuid.uuid4().hex
SITE = "/lib/python3.14/site-packages"

# Python helpers every case can use (prepended to each snippet).
PRELUDE = '''
def _try(f):
    try:
        return f()
    except BaseException as e:
        return e
'''

CASES = [
    # --- the js module: the JS realm's globals -------------------------------
    ("js.process", "import js\n'ESCAPED' if hasattr(js, 'process') else 'no'"),
    ("js.globalThis", "import js\n'ESCAPED' if hasattr(js, 'globalThis') else 'no'"),
    ("js.eval", "import js\njs.eval('1+1'); 'ESCAPED'"),
    ("from js import process", "from js import process\nprocess.env; 'ESCAPED'"),
    ("js.require", "import js\njs.require('child_process'); 'ESCAPED'"),
    ("js.Function", "import js\njs.Function('return process')(); 'ESCAPED'"),
    ("js attribute set", "import js\njs.x = 1\n'ESCAPED' if js.x == 1 else 'no'"),
    ("js module replaced in sys.modules",
     "import sys, importlib\nsys.modules.pop('js', None)\nimport js\n"
     "'ESCAPED' if hasattr(js, 'process') or hasattr(js, 'setTimeout') else 'no'"),
    # Terrarium CVE-2026-5752: an object of the globals -> Function -> process
    ("terrarium: js.document.constructor.constructor",
     "import js\njs.document.constructor.constructor('return process')().mainModule.require"
     "('child_process').execSync('id'); 'ESCAPED'"),
    ("js object constructor chain",
     "import js\nc = js.constructor\nc.constructor('return globalThis')(); 'ESCAPED'"),
    # --- pyodide_js: Pyodide's JS API ------------------------------------------
    ("pyodide_js._module", "import pyodide_js\npyodide_js._module.HEAP8; 'ESCAPED'"),
    ("pyodide_js._api.loadBinaryFile",
     "import pyodide_js\npyodide_js._api.loadBinaryFile('/etc/passwd'); 'ESCAPED'"),
    ("pyodide_js.FS.readFile", "import pyodide_js\npyodide_js.FS.readFile('/etc/passwd'); 'ESCAPED'"),
    ("pyodide_js.mountNodeFS",
     "import pyodide_js\npyodide_js.mountNodeFS('/host', '/etc')\nopen('/host/passwd').read(); 'ESCAPED'"),
    ("pyodide_js._api._nodeSock", "import pyodide_js\npyodide_js._api._nodeSock; 'ESCAPED'"),
    ("pyodide_js.loadPackage", "import pyodide_js\npyodide_js.loadPackage('micropip'); 'ESCAPED'"),
    ("pyodide_js re-import",
     "import sys, importlib\nfor n in [m for m in sys.modules if m.startswith('pyodide_js')]: del sys.modules[n]\n"
     "importlib.import_module('pyodide_js')._api._module; 'ESCAPED'"),
    ("importhook jsproxies",
     "import _pyodide._importhook as h\n"
     "'ESCAPED' if any(hasattr(v, '_module') or hasattr(v, 'process') or hasattr(v, 'FS') "
     "for v in h.jsfinder.jsproxies.values()) else 'no'"),
    ("register_js_module", "from pyodide.ffi import register_js_module\nregister_js_module('x', {}); 'ESCAPED'"),
    # --- code generation in the JS realm ---------------------------------------
    ("pyodide.code.run_js", "from pyodide.code import run_js\nrun_js('process.env'); 'ESCAPED'"),
    ("pyodide._run_js", "import pyodide._run_js as r\nr.run_js('1'); 'ESCAPED'"),
    ("to_js({}).constructor.constructor",
     "from pyodide.ffi import to_js\nto_js({}).constructor.constructor('return process')(); 'ESCAPED'"),
    ("to_js([]) Function via prototype",
     "from pyodide.ffi import to_js\na = to_js([1])\na.map.constructor('return globalThis')(); 'ESCAPED'"),
    ("error object constructor chain",
     "from pyodide.ffi import to_js, JsException\n"
     "try:\n    to_js({}).constructor.defineProperty(1, 2, 3)\n"
     "except JsException as e:\n    e.constructor.constructor('return process')(); r = 'ESCAPED'\nr"),
    ("webloop scheduleCallback constructor",
     "import pyodide.webloop as w\nw.scheduleCallback.constructor('return process')(); 'ESCAPED'"),
    ("Function.prototype.bind/call route",
     "from pyodide.ffi import to_js\nF = to_js({}).constructor.constructor\n"
     "F.call(None, 'return process')(); 'ESCAPED'"),
    ("Reflect.construct of Function",
     "from pyodide.ffi import to_js\nO = to_js({}).constructor\n"
     "O.getPrototypeOf(O).constructor.new('return process')(); 'ESCAPED'"),
    # --- the realm's shared objects: no pollution, no engine hooks -------------
    ("prototype pollution",
     "from pyodide.ffi import to_js\no = to_js({})\no.constructor.prototype.polluted = 1\n'ESCAPED'"),
    ("typed array prototype pollution",
     "from pyodide.ffi import to_js\nu = to_js(b'x')\nu.constructor.prototype.polluted = 1\n'ESCAPED'"),
    ("typed array method replaced",
     "from pyodide.ffi import to_js\nu = to_js(b'x')\nO = to_js({}).constructor\n"
     "O.getPrototypeOf(u.constructor.prototype).subarray = 1\n'ESCAPED'"),
    ("typed array method redefined",
     "from pyodide.ffi import to_js\nu = to_js(b'x')\nO = to_js({}).constructor\n"
     "O.defineProperty(u.constructor.prototype, 'fill', to_js({'value': 1}, dict_converter=O.fromEntries))\n'ESCAPED'"),
    ("Error.prepareStackTrace hook",
     "from pyodide.ffi import to_js, create_proxy, JsException\n"
     "try:\n    to_js({}).constructor.defineProperty(1, 2, 3)\nexcept JsException as e:\n"
     "    E = e.js_error.constructor if hasattr(e, 'js_error') else None\n"
     "import js\nE = to_js({}).constructor.getPrototypeOf(to_js(ValueError)).constructor\n"
     "E.prepareStackTrace = create_proxy(lambda e, s: s)\n'ESCAPED'"),
    ("freeze of Object blocks new statics",
     "from pyodide.ffi import to_js\nO = to_js({}).constructor\nO.evil = 1\n'ESCAPED'"),
    # --- walking the interpreter's objects -------------------------------------
    # gc.unfreeze first: the start-up snapshot's objects are frozen out of
    # gc.get_objects (snapshot.mjs), and a snippet may thaw them.
    ("gc.get_objects JsProxy walk",
     "import gc\ngc.unfreeze()\nfound = []\nfor o in gc.get_objects():\n    if 'JsProxy' in type(type(o)).__name__ or type(o).__name__.startswith('Js'):\n"
     "        for a in ('_module', '_api', 'process', 'FS', 'mountNodeFS', 'globalThis', 'require'):\n"
     "            try:\n                getattr(o, a); found.append(a)\n            except Exception:\n                pass\n"
     "'ESCAPED' if found else 'no'"),
    ("__subclasses__ walk to os.system",
     "w = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close']\n"
     "'ESCAPED' if w and w[0].__init__.__globals__['system']('id') == 0 else 'no'"),
    ("__subclasses__ walk to JsProxy types",
     "found = []\nfor c in object.__subclasses__():\n    for s in c.__subclasses__():\n"
     "        if 'Js' in s.__name__:\n            for a in ('_module', 'process'):\n"
     "                if hasattr(s, a): found.append(s)\n'ESCAPED' if found else 'no'"),
    ("_pyodide_core re-import",
     "import _imp, importlib.machinery as m\n"
     "core = _imp.create_builtin(m.ModuleSpec('_pyodide_core', None))\n"
     "'ESCAPED' if core is not None and any(hasattr(v, '_module') for v in vars(core).values()) else 'no'"),
    # --- native code and raw memory --------------------------------------------
    ("ctypes", "import ctypes\nctypes.string_at(0, 16); 'ESCAPED'"),
    ("_ctypes via _imp.create_builtin",
     "import _imp, importlib.machinery as m\n"
     "'ESCAPED' if _imp.create_builtin(m.ModuleSpec('_ctypes', None)) is not None else 'no'"),
    ("_testcapi", "import _testcapi; 'ESCAPED'"),
    ("_testinternalcapi", "import _testinternalcapi; 'ESCAPED'"),
    ("side module from a written file",
     "import dynscope, shutil, importlib.util as u\n"
     "shutil.copy(dynscope.__file__, '/tmp/evil.abi3.so')\n"
     "spec = u.spec_from_file_location('evil', '/tmp/evil.abi3.so')\n"
     "m = u.module_from_spec(spec); 'ESCAPED'"),
    # --- processes, network, host files ----------------------------------------
    ("os.system", "import os\n'ESCAPED' if os.system('id') == 0 else 'no'"),
    ("subprocess", "import subprocess\nsubprocess.run(['id'], capture_output=True); 'ESCAPED'"),
    ("os.fork", "import os\nos.fork(); 'ESCAPED'"),
    ("os.execv", "import os\nos.execv('/bin/sh', ['sh', '-c', 'id']); 'ESCAPED'"),
    ("os.posix_spawn", "import os\nos.posix_spawn('/bin/sh', ['sh', '-c', 'id'], {}); 'ESCAPED'"),
    ("_posixsubprocess.fork_exec",
     "import _posixsubprocess, os, subprocess\n"
     "p = subprocess.Popen(['/bin/sh', '-c', 'id'], stdout=subprocess.PIPE)\n"
     "'ESCAPED' if b'uid=' in p.stdout.read() else 'no'"),
    ("os.kill of the host", "import os\nos.kill(1, 9); 'ESCAPED'"),
    ("socket connect", "import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1); 'ESCAPED'"),
    ("socket bind", "import socket\ns = socket.socket()\ns.bind(('0.0.0.0', 0)); s.listen(); 'ESCAPED'"),
    ("http to the server itself",
     "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{port}/healthz', timeout=2); 'ESCAPED'"),
    ("pyfetch",
     "import asyncio\nfrom pyodide.http import pyfetch\n"
     "r = asyncio.get_event_loop().run_until_complete(pyfetch('http://127.0.0.1:{port}/healthz'))\n"
     "'ESCAPED' if r is not None and not isinstance(r, asyncio.Future) else 'no'"),
    ("open_url (sync XHR)",
     "from pyodide.http import open_url\nopen_url('http://127.0.0.1:{port}/healthz').read(); 'ESCAPED'"),
    ("ssl over node sockets", "import ssl, socket\nssl.create_default_context().wrap_socket(socket.socket()); 'ESCAPED'"),
    ("open /etc/passwd", "'ESCAPED' if 'root:' in open('/etc/passwd').read() else 'no'"),
    ("/proc/self/environ", "'ESCAPED' if b'CANARY' in open('/proc/self/environ', 'rb').read() else 'no'"),
    ("os.environ", "import os\n'ESCAPED' if any('CANARY' in k or 'canary' in v for k, v in os.environ.items()) else 'no'"),
    ("the worker's source", "open('{runtime}/worker.mjs').read(); 'ESCAPED'"),
    ("host directories", "import os\n'ESCAPED' if {{'work', 'etc', 'usr'}} & set(os.listdir('/')) else 'no'"),
    # --- planting state for the next request -----------------------------------
    ("write into site-packages", f"open('{SITE}/evil.py', 'w').write('x'); 'ESCAPED'"),
    ("chmod site-packages", f"import os\nos.chmod('{SITE}', 0o777); 'ESCAPED'"),
    ("overwrite the runner",
     f"open('{SITE}/scopebox_worker/runner.py', 'a').write('#'); 'ESCAPED'"),
    ("stdlib zip", "open('/lib/python314.zip', 'r+b'); 'ESCAPED'"),
]


@pytest.fixture(scope="module")
def server():
    env = dict(os.environ, SCOPEBOX_CANARY=CANARY)
    # Attempts here may end their workers: no crash rate limit.
    with ScopeboxServer("--workers", "2", "--crash-limit", "0", env=env) as s:
        s.wait_healthy(2)
        yield s


def _runtime_dir(server):
    # The worker's own path, as it is on the host: from its command line.
    for pid in server.worker_pids():
        with open(f"/proc/{pid}/cmdline", "rb") as c:
            for arg in c.read().split(b"\0"):
                if arg.endswith(b"/worker.mjs"):
                    return os.path.dirname(arg.decode())
    return "/nonexistent"


def test_at_least_40_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name,code", CASES, ids=[c[0] for c in CASES])
def test_an_escape_attempt_fails_inside_the_sandbox(server, name, code):
    port = server.url.rsplit(":", 1)[1]
    snippet = PRELUDE + code.replace("{port}", port).replace("{runtime}", _runtime_dir(server)) \
        .replace("{{", "{").replace("}}", "}")
    status, _, body = server.run({"code": snippet, "timeout_ms": 10000}, timeout=60)
    text = json.dumps(body)
    assert status in (200, 500, 504), (status, body)
    if isinstance(body, dict) and body.get("ok"):
        assert body.get("result") != "ESCAPED", f"{name}: {text[:2000]}"
    assert CANARY not in text, name
    assert "root:x:0:0" not in text, name
    assert "sandboxGap" not in text, name  # a word of worker.mjs
    deadline = time.monotonic() + 60
    while True:
        st, _, health = server.request("GET", "/healthz")
        if st == 200:
            break
        assert time.monotonic() < deadline, health
        time.sleep(0.2)


def test_still_useful_after_all(server):
    status, _, body = server.run({"code": "import json, re, math, dynscope\nsum(range(10))"})
    assert status == 200 and body["ok"] and body["result"] == 45, body
