"""Usage: python3 tests/bench/output/capture_write.py

Micro-benchmark: Capture.write with and without the ordered Output record
(native CPython; the package's __init__ is bypassed)."""
import importlib.util, sys, timeit, types
root = sys.argv[1] if len(sys.argv) > 1 else __import__("os").path.join(__import__("os").path.dirname(__file__), "..", "..", "..", "wasm", "runtime", "scopebox_worker")
pkg = types.ModuleType("scopebox_worker"); pkg.__path__ = [root]; sys.modules["scopebox_worker"] = pkg
def load(name):
    spec = importlib.util.spec_from_file_location(f"scopebox_worker.{name}", f"{root}/{name}.py")
    m = importlib.util.module_from_spec(spec); sys.modules[spec.name] = m; spec.loader.exec_module(m); return m
load("codec"); cap = load("capture")
def bench(ordered, n=200000):
    o = cap.Output(1 << 24) if ordered else None
    c = cap.Capture(1 << 24, "stdout", o)
    for i in range(n):
        c.write("line %d\n" % (i % 10))
for ordered in (False, True):
    t = min(timeit.repeat(lambda: bench(ordered), number=1, repeat=5))
    print(f"{'with' if ordered else 'without'} output: {t * 1000:.1f} ms for 200000 writes ({t / 200000 * 1e9:.0f} ns each)")
