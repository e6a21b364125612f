"""Recovery after a soft timeout, a hard kill and an interpreter fault, through a
real server with one worker: the time from the failed answer to the next
successful one. Prints figures; asserts nothing about time.
   SCOPEBOX_SERVER=build/scopebox-server python3 bench_recovery.py [rounds]"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "support"))
from scopebox_server import ScopeboxServer  # noqa: E402

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
CASES = {
    "soft timeout (interrupt)": ("while True: pass", 504),
    "interrupt swallowed (next line)": ("while True:\n    try:\n        while True: pass\n    except BaseException: pass", 504),
    "hard kill (C loop)": ("sum(range(10**12))", 504),
    # No Python-reachable call ends the worker any more: the run's error,
    # then the worker's whole state put back.
    "interpreter fault (reset)": ("import _pyodide_core\n_pyodide_core.trigger_fatal_error()", 200),
}


def main():
    with ScopeboxServer("--workers", "1", "--timeout-grace-ms", "1000") as s:
        s.wait_healthy(1)
        print(f"{'case':32} {'answer s':>9} {'recovery s':>11}  (median of {ROUNDS})")
        for name, (code, want) in CASES.items():
            answers, recoveries = [], []
            for _ in range(ROUNDS):
                t0 = time.monotonic()
                status, _, body = s.run({"code": code, "timeout_ms": 1000}, timeout=120)
                t1 = time.monotonic()
                assert status == want, (status, body)
                while True:
                    status, _, body = s.run({"code": "1+1", "timeout_ms": 1000}, timeout=120)
                    if status == 200:
                        break
                    time.sleep(0.01)
                answers.append(t1 - t0)
                recoveries.append(time.monotonic() - t1)
            print(f"{name:32} {statistics.median(answers):9.3f} {statistics.median(recoveries):11.3f}")


if __name__ == "__main__":
    main()
