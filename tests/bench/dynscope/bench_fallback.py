"""The cost of FallbackBuiltins on ordinary code (issue 16: "the
dynamic-scope fallback's cost on ordinary code").

A snippet's __builtins__ in the service is dynscope.FallbackBuiltins.  Each
program below runs under exec() three ways, in one process: with the real
builtins dict (the anchor), with a FallbackBuiltins and no dynamic binding
live (the ordinary case, target <= 1.05x), and with a FallbackBuiltins while
an unrelated dynamic binding is live (the fallback must then consult the
dynamic scope for every builtin name: the price of the feature, no target).
Prints ms per run and the ratios; never asserts a timing.  Natively:
    PYTHONPATH=build/native python3.11 tests/bench/dynscope/bench_fallback.py
in Pyodide:
    node tests/dynscope/run_in_pyodide.mjs build/runtime --script tests/bench/dynscope/bench_fallback.py
"""
import builtins
import sys
import time

import dynscope

IN_PYODIDE = sys.platform == "emscripten"
N = 200_000 if IN_PYODIDE else 1_000_000
REPEATS = 7
TARGET = 1.05

PROGRAMS = {
    "len() in a function loop": f"""
def f(x):
    t = 0
    for i in range({N}):
        t += len(x)
    return t
f("abc")
""",
    "builtin mix (isinstance, abs, min, range)": f"""
def f():
    t = 0
    for i in range({N // 4}):
        if isinstance(i, int):
            t += abs(min(i, 7) - 3)
    return t
f()
""",
    "module-level loop (LOAD_NAME)": f"""
t = 0
for i in range({N // 2}):
    t += len("ab")
""",
    "pure arithmetic, no builtins": f"""
def f():
    t = 0
    for i in range({N}):
        t += i * 3 % 7
    return t
f()
""",
}


def run_ms(compiled, builtins_dict):
    g = {"__name__": "__main__", "__builtins__": builtins_dict}
    t0 = time.perf_counter()
    exec(compiled, g)
    return (time.perf_counter() - t0) * 1e3


def measure(code):
    """Best of REPEATS for each variant, the variants interleaved so that a
    busy machine's drift hits them alike."""
    variants = {"real": compile(code, "<bench>", "exec"),
                "fallback": compile(code, "<bench>", "exec"),
                "bound": compile(code, "<bench>", "exec")}
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(REPEATS):
        best["real"] = min(best["real"], run_ms(variants["real"], builtins.__dict__))
        fb = dynscope.FallbackBuiltins(builtins.__dict__)
        best["fallback"] = min(best["fallback"], run_ms(variants["fallback"], fb))
        with dynscope.bind(unrelated=1):
            fb = dynscope.FallbackBuiltins(builtins.__dict__)
            best["bound"] = min(best["bound"], run_ms(variants["bound"], fb))
    return best


def main():
    print(f"FallbackBuiltins on ordinary code ({'Pyodide' if IN_PYODIDE else 'native'} "
          f"Python {sys.version.split()[0]}), best of {REPEATS}, ms per run")
    print(f"{'program':44} {'real':>8} {'fallback':>9} {'ratio':>6} {'target':>7}  "
          f"{'bound':>8} {'ratio':>6}")
    for name, code in PROGRAMS.items():
        best = measure(code)
        anchor, plain, live = best["real"], best["fallback"], best["bound"]
        ratio = plain / anchor
        verdict = "met" if ratio <= TARGET else "NOT met"
        print(f"{name:44} {anchor:8.2f} {plain:9.2f} {ratio:6.2f} {'<=' + str(TARGET):>7}  "
              f"{live:8.2f} {live / anchor:6.2f}  {verdict}")


if __name__ == "__main__":
    main()
