"""GET /metrics: Prometheus text that moves with what the server does."""
import re


def scrape(server):
    status, headers, text = server.request("GET", "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def test_metrics_count_runs_and_outcomes(server):
    before = scrape(server)
    server.run({"code": "1 + 1", "mode": "eval"})
    server.run({"code": "1 / 0", "mode": "eval"})
    server.run({"code": "1", "scope": {"class": 1}})
    server.run(b"{nope", headers={"Content-Type": "application/json"})
    after = scrape(server)

    def delta(name):
        return after.get(name, 0) - before.get(name, 0)

    assert delta('scopebox_runs_total{outcome="ok"}') >= 1
    assert delta('scopebox_runs_total{outcome="error"}') >= 1
    assert delta('scopebox_runs_total{outcome="rejected"}') >= 1
    assert delta('scopebox_http_requests_total{status="400"}') >= 2
    assert delta("scopebox_run_seconds_count") >= 3
    assert after['scopebox_run_seconds_bucket{le="+Inf"}'] == after["scopebox_run_seconds_count"]
    assert after['scopebox_workers{state="slots"}'] == 2


def test_metrics_report_worker_memory(server):
    samples = scrape(server)
    rss = {k: v for k, v in samples.items() if k.startswith("scopebox_worker_rss_bytes")}
    pids = {int(re.search(r'pid="(\d+)"', k).group(1)) for k in rss}
    assert set(server.worker_pids()) <= pids | set()
    assert all(v > 10 * 1024 * 1024 for v in rss.values())
    assert samples["scopebox_workers_started_total"] >= 2
