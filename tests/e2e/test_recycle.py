"""Pool workers are replaced after N runs (and past an RSS ceiling), in the
background, and no request notices."""
import time

from scopebox_server import ScopeboxServer


def test_worker_is_recycled_after_n_runs():
    with ScopeboxServer("--workers", "1", "--recycle-after-runs", "3") as s:
        s.wait_healthy(1)
        first = s.worker_pids()
        for i in range(3):
            status, _, body = s.run({"code": f"{i} * 2", "mode": "eval"})
            assert (status, body["result"]) == (200, i * 2)
        # The fourth run waits for the replacement instead of failing.
        status, _, body = s.run({"code": "'after'", "mode": "eval"})
        assert (status, body["result"]) == (200, "after")
        deadline = time.monotonic() + 30
        while s.worker_pids() == first and time.monotonic() < deadline:
            time.sleep(0.1)
        assert s.worker_pids() != first
        _, _, metrics = s.request("GET", "/metrics")
        assert 'scopebox_workers_exited_total{reason="recycled"} 1' in metrics


def test_worker_is_recycled_past_rss_ceiling():
    # Any booted worker is above 16 MB: it is replaced after its first run.
    with ScopeboxServer("--workers", "1", "--recycle-rss-mb", "16") as s:
        s.wait_healthy(1)
        first = s.worker_pids()
        status, _, body = s.run({"code": "1", "mode": "eval"})
        assert status == 200
        deadline = time.monotonic() + 30
        while s.worker_pids() == first and time.monotonic() < deadline:
            time.sleep(0.1)
        assert s.worker_pids() != first
        assert any("recycled at" in line for line in s.log_lines)
