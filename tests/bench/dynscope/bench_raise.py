"""The cost of the runner's raise hook (scopebox_worker/raised.py, issue 13
§7): a sys.monitoring RAISE callback that records dynscope.snapshot() at
the innermost snippet frame an exception passes through.

Rows, each with the hook off and on, interleaved, best of REPEATS:
ordinary code that raises nothing (the hook must cost nothing there); a
snippet loop raising and catching an exception per iteration with only the
request's root bound (no snapshot: the scope has not changed since the run
began) and inside a bind of its own (a snapshot per raise); and the same
raising in code that is not the snippet's (filtered by file name).  Prints figures; never asserts a timing.  Runs in
Pyodide, where the runner lives:
    node tests/dynscope/run_in_pyodide.mjs build/runtime --script tests/bench/dynscope/bench_raise.py
"""
import sys
import time

import dynscope

try:
    from scopebox_worker import raised
    from scopebox_worker.errors import SNIPPET
except ImportError:          # natively: no runner package
    print("bench_raise: needs the runner package (run it in Pyodide)")
    sys.exit(0)

N = 20_000
REPEATS = 7

ORDINARY = f"""
def work():
    t = 0
    for i in range({N * 10}):
        t += len("ab") + i % 7
    return t
work()
"""

RAISING_BOUND = f"""
import dynscope
def work():
    with dynscope.bind(x=1):
        for i in range({N}):
            try:
                raise ValueError(i)
            except ValueError:
                pass
work()
"""

RAISING = f"""
def work():
    for i in range({N}):
        try:
            raise ValueError(i)
        except ValueError:
            pass
work()
"""


def timed(code, filename):
    compiled = compile(code, filename, "exec")

    def run():
        t0 = time.perf_counter()
        exec(compiled, {"__name__": "__bench__"})
        return (time.perf_counter() - t0) * 1e3
    return run


def hook_off():
    m = sys.monitoring
    for t in range(6):
        if m.get_tool(t) is not None:
            m.set_events(t, 0)


def main():
    rows = {
        "ordinary code, nothing raised": timed(ORDINARY, SNIPPET),
        f"snippet raising {N} times": timed(RAISING, SNIPPET),
        f"snippet raising {N} times in its bind": timed(RAISING_BOUND, SNIPPET),
        f"non-snippet code raising {N} times": timed(RAISING, "<library>"),
    }
    print(f"raise hook cost (Python {sys.version.split()[0]}), best of {REPEATS}, ms per run")
    print(f"{'row':44} {'off':>8} {'on':>8} {'ratio':>6}")
    with dynscope.bind(request_id="r-1"):     # as the runner's root binding
        for name, run in rows.items():
            best = {"off": float("inf"), "on": float("inf")}
            for _ in range(REPEATS):
                hook_off()
                best["off"] = min(best["off"], run())
                raised.arm()
                best["on"] = min(best["on"], run())
                raised.release()
            print(f"{name:44} {best['off']:8.2f} {best['on']:8.2f} "
                  f"{best['on'] / best['off']:6.2f}")
    hook_off()


if __name__ == "__main__":
    main()
