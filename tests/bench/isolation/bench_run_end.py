"""What a run's leftovers cost the next request (issue 12 §1, §5), through a
real server with two workers. Prints figures; asserts nothing about time.
   SCOPEBOX_SERVER=build/scopebox-server python3 bench_run_end.py [seconds]

- a victim's `1+1` right after the issue's spinning-task snippet was sent
  once per worker (it used to get 504 after its whole limit);
- a victim's latency while another client floods the server with calls that
  used to end the worker (each was a ~1 s respawn)."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "support"))
from scopebox_server import ScopeboxServer  # noqa: E402

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 8
WORKERS = 2
SPINNER = ("import asyncio\nasync def s():\n    while True:\n        try:\n            while True: pass\n"
           "        except BaseException: pass\nasyncio.ensure_future(s())\n'sent'")
FLOODS = {
    "trigger_fatal_error": "import _pyodide_core as c\nc.trigger_fatal_error()",
    "os._exit": "import os\nos._exit(1)",
    "os.abort": "import os\nos.abort()",
}


def timed(s, body):
    t0 = time.perf_counter()
    status, _, _ = s.run(body, timeout=120)
    return status, (time.perf_counter() - t0) * 1000


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def main():
    victim = {"code": "1+1", "mode": "eval", "timeout_ms": 3000}
    with ScopeboxServer("--workers", str(WORKERS)) as s:
        s.wait_healthy(WORKERS)
        for _ in range(20):
            s.run(victim)
        base = [timed(s, victim)[1] for _ in range(100)]
        print(f"victim alone: p50 {pct(base, .5):.1f} ms, p99 {pct(base, .99):.1f} ms")
        for _ in range(WORKERS):
            s.run({"code": SPINNER, "timeout_ms": 1000})
        after = [timed(s, victim) for _ in range(2 * WORKERS)]
        print("victim after the spinning-task snippet on every worker: "
              + ", ".join(f"{st} in {ms:.1f} ms" for st, ms in after))
        for name, code in FLOODS.items():
            stop, sent = threading.Event(), []

            def flood():
                while not stop.is_set():
                    sent.append(s.run({"code": code}, timeout=120)[0])

            t = threading.Thread(target=flood)
            t.start()
            lat, statuses, end = [], set(), time.monotonic() + SECONDS
            while time.monotonic() < end:
                st, ms = timed(s, victim)
                lat.append(ms)
                statuses.add(st)
            stop.set()
            t.join()
            print(f"victim during a {name} flood ({len(sent)} runs, answers {sorted(set(sent))}): "
                  f"{len(lat)} runs {sorted(statuses)}, p50 {pct(lat, .5):.1f} ms, p99 {pct(lat, .99):.1f} ms")


if __name__ == "__main__":
    main()
