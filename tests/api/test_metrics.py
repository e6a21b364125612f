"""GET /metrics: Prometheus text that moves with what the server does."""
import re
import threading

from waiting import wait_for


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


def test_metrics_say_where_an_unanswered_request_is(server):
    """A request that has not been answered shows as an HTTP request in
    progress and, once submitted, as a run in flight with the age of the
    oldest: on a hang, these tell a run the pool still holds (and for how
    long) from one it let go of and the HTTP side never answered."""
    idle = scrape(server)
    assert idle["scopebox_runs_in_flight"] == 0
    assert idle["scopebox_oldest_run_seconds"] == 0
    assert idle["scopebox_http_requests_in_progress"] == 0
    answer = {}
    body = {"code": "while True:\n    pass", "run_id": "held-by-metrics", "timeout_ms": 60000}
    client = threading.Thread(target=lambda: answer.update(r=server.run(body)))
    client.start()
    try:
        wait_for(lambda: scrape(server)["scopebox_runs_in_flight"] == 1, "the run in flight")
        held = scrape(server)
        assert held["scopebox_http_requests_in_progress"] == 1
        assert held["scopebox_oldest_run_seconds"] > 0
    finally:
        server.request("POST", "/v1/runs/held-by-metrics/cancel")
        client.join(60)
    assert answer["r"][0] == 499, answer
    after = scrape(server)
    assert after["scopebox_runs_in_flight"] == 0  # done before its answer went out
    assert after["scopebox_oldest_run_seconds"] == 0
    wait_for(lambda: scrape(server)["scopebox_http_requests_in_progress"] == 0,
             "the answered request completed")
