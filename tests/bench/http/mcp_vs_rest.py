"""Prints the sequential latency (p50, p99, one keep-alive connection) of one
trivial eval through POST /v1/run and through POST /mcp (tools/call
run_python) on a running server: what the MCP envelope costs. Not under
ctest; figures only.

usage: python3 tests/bench/http/mcp_vs_rest.py [URL] [N]   (default http://127.0.0.1:8080, 500)
"""
import http.client
import json
import statistics
import sys
import time
import urllib.parse


def measure(conn, path, body, n):
    data = json.dumps(body)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        conn.request("POST", path, data, {"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        times.append((time.perf_counter() - start) * 1000)
        assert r.status == 200, r.status
    times.sort()
    return statistics.median(times), times[max(0, int(n * 0.99) - 1)]


def main(url="http://127.0.0.1:8080", n="500"):
    u = urllib.parse.urlsplit(url)
    n = int(n)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80)
    args = {"code": "x*2", "mode": "eval", "scope": {"x": 21}}
    rpc = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "run_python", "arguments": args}}
    for _ in range(2):  # the first round warms the pool
        rest = measure(conn, "/v1/run", args, n)
        mcp = measure(conn, "/mcp", rpc, n)
    print(f"/v1/run            p50 {rest[0]:.2f} ms  p99 {rest[1]:.2f} ms  ({n} requests)")
    print(f"/mcp run_python    p50 {mcp[0]:.2f} ms  p99 {mcp[1]:.2f} ms  ({n} requests)")


if __name__ == "__main__":
    main(*sys.argv[1:])
