"""Usage: SCOPEBOX_SERVER=build/scopebox-server python3 tests/bench/output/answer_and_collect.py

The answer size of a 1 MiB print (stdout plus the ordered output), and what
collect adds to a run that wrote 1000 files. Prints figures, asserts none."""
import os
import sys, json, statistics
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "support"))
from scopebox_server import ScopeboxServer
with ScopeboxServer("--workers", "1") as s:
    s.wait_healthy(1)
    st, _, raw = s.request("POST", "/v1/run", {"code": "print('x' * (1 << 20))"})
    print("print 1 MiB: answer JSON bytes", len(json.dumps(raw, separators=(",", ":"))), "truncated", raw["truncated"])
    mk = "import os\nos.mkdir('d')\nfor i in range(1000):\n    open(f'd/{i}', 'w').write('x' * 100)"
    for collect in (None, ["d/*"]):
        ms = []
        for _ in range(5):
            body = {"code": mk}
            if collect: body["collect"] = collect
            st, _, out = s.run(body)
            ms.append(out["timing"]["run_ms"])
        print("1000 files written, collect", collect, "median run_ms", statistics.median(ms), "files", len(out["files"]), out["truncated"]["files"])
