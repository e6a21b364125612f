// An answer's JSON text (scopebox_worker/jsontext.py) is exactly what
// json.dumps makes of it, whichever way each string went out: answers the
// runner builds for requests with long strings that need no escapes (taken
// by the fast path, which the test checks it was), with escapes, non-ASCII
// ones, long keys, many short strings beside a long one, a str subclass
// whose methods lie about its content, and a snippet that patches json.
// The interpreter is the worker's (tests/support/sandboxed_boot.mjs).
//   node answer_text.mjs <runtimeDir>
import { resolve } from "node:path";
import { bootSandboxed } from "../support/sandboxed_boot.mjs";

const runtimeDir = resolve(process.argv[2] ?? "runtime");
const py = await bootSandboxed(runtimeDir);
const report = py.runPython(String.raw`
import json, json.encoder
from scopebox_worker import jsontext, runner
# The last case's snippet patches json in this very interpreter.
ref_dumps, ref_loads, ref_make = json.dumps, json.loads, json.encoder.c_make_encoder
LONG = jsontext.LONG
cases = {
    "plain scope value": ({"code": "len(blob)", "mode": "eval", "scope": {"blob": "x" * 100000}}, True),
    "plain result": ({"code": "'ab' * 30000", "mode": "eval"}, True),
    "plain stdout": ({"code": "import sys\nsys.stdout.write('z' * 50000)", "mode": "exec"}, True),
    "escapes": ({"code": "s = 'a\"b\\\\c\\n\\t\\x01' * 9000", "mode": "exec"}, False),
    "non-ASCII": ({"code": "s = '\u00e9\u4e2d\U0001f600' * 9000", "mode": "exec"}, False),
    "long key": ({"code": "globals()['k' * 5000] = 1", "mode": "exec"}, False),
    "many beside a long one": ({"code": "v = [f's{i}\"' for i in range(900)]\nw = 'q' * 70000", "mode": "exec"}, True),
    "lying subclass": ({"code": "class S(str):\n    def isascii(self): return True\n    def encode(self, *a, **k): return b'x' * len(self)\ns = S('\"\\n' * 5000)", "mode": "exec"}, False),
    "json patched": ({"code": "import json\njson.dumps = lambda *a, **k: 'broken'\nimport json.encoder\njson.encoder.c_make_encoder = None\ns = 'p' * 9000", "mode": "exec"}, True),
}
problems = []
for name, (req, fast) in cases.items():
    reply = runner._serve({"type": "run", "id": 1, **req})
    took = bool(jsontext._plain)
    text = jsontext.dumps(reply)
    want = ref_dumps(reply, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    if text != want:
        problems.append(f"{name}: the text differs from json.dumps's (at {next(i for i, (a, b) in enumerate(zip(text, want)) if a != b)})")
    if fast and not took:
        problems.append(f"{name}: no string was taken by the fast path")
    if ref_loads(text) != ref_loads(want):
        problems.append(f"{name}: the text parses to another value")
    if jsontext._plain:
        problems.append(f"{name}: strings left remembered after dumps")
json.dumps, json.encoder.c_make_encoder = ref_dumps, ref_make
"\n".join(problems) or "ok"
`);
if (report !== "ok") {
  console.error(`FAIL\n${report}`);
  process.exit(1);
}
console.log(`ok: answers' JSON text identical to json.dumps's in every case`);
