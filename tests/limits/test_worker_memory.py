"""A worker's resident memory stays put while it serves stateless runs: what
a run makes is reset (isolation.mjs), and the JS heaps around the
interpreter may not grow with the runs either. The interpreter thread's
young generation (worker.mjs, INTERP_LIMITS) is what grew: with a 64 MB
limit, 300 runs of a 100 KB scope took a worker from 183 to 208 MB
resident, for good (with 4 MB: 164 to 165). Through a real server with the sandbox on; the worker's
RSS is read from /proc as the benchmark reads it (tests/bench/http)."""
import os

from scopebox_server import ScopeboxServer

RUNS = 300
# Allocator noise and the optimising compiler's code for the run's path
# stay well inside this; the young generation's growth did not (~25 MB).
GROWTH_CEILING_MB = 12


def rss_mb(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_ok(server, body):
    status, _, answer = server.run(body)
    assert status == 200 and answer["ok"], answer
    return answer


def test_big_scopes_do_not_grow_an_idle_workers_memory():
    body = {"code": "len(blob)", "mode": "eval", "scope": {"blob": "x" * 100_000}}
    with ScopeboxServer("--workers", "1") as server:
        server.wait_healthy(1)
        # The run's path compiled and tiered up first: that code is resident
        # for good and is not what this test is about.
        for _ in range(30):
            run_ok(server, body)
        [pid] = server.worker_pids()
        before = rss_mb(pid)
        for _ in range(RUNS):
            assert run_ok(server, body)["result"] == 100_000
        assert server.worker_pids() == [pid], "the worker was replaced"
        grown = rss_mb(pid) - before
        assert grown < GROWTH_CEILING_MB, f"RSS grew {grown:.1f} MB over {RUNS} runs (from {before:.1f} MB)"
