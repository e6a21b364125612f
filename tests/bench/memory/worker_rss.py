"""Where an idle worker's resident memory is (issue 16's idle RSS target):
the figure the HTTP bench prints (/proc/<pid>/statm resident pages, right
after the pool is healthy, largest worker) and beside it the worker's
mappings sorted into kinds by their shape in /proc/<pid>/smaps; then the
same once the workers' CPU stood still (proc_cpu.wait_still: the boot's tier-up done). The kinds
are read off shapes, not labels (no mapping names its owner), so they are
approximate. Prints a table; asserts nothing.

    SCOPEBOX_SERVER=build/scopebox-server python3 tests/bench/memory/worker_rss.py [--workers N]

Kinds:
  node binary and libraries  file-backed pages (shared by all workers, but
                             counted in every worker's RSS)
  wasm heap                  Python's heap: the read-write start of V8's
                             wasm memory reservation (an anonymous mapping
                             followed by its >= 8 GiB PROT_NONE rest, the
                             largest such); the zero pages of its image are
                             not resident
  V8 heap pages              256 KiB anonymous mappings (both JS heaps:
                             the watchdog thread's and the interpreter's)
  executable code            anonymous mappings with x (Liftoff/TurboFan
                             code, V8's own code)
  malloc arenas              64 MiB-aligned anonymous mappings (glibc's
                             per-thread arenas: compiler zones, V8 and node
                             internals; and the pristine heap copy, as the
                             boot's big frees raise glibc's mmap threshold)
  other anonymous            everything else (malloc's big blocks: the
                             pristine heap copy, V8's copy of the wasm
                             module's bytes (17 MB instrumented), the stdlib
                             zip; V8 large objects; stacks)
"""
import argparse
import collections
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "support"))
from proc_cpu import wait_still  # noqa: E402
from scopebox_server import ScopeboxServer  # noqa: E402

ARENA_ALIGN = 64 << 20
V8_PAGE = 256 << 10


def mappings(pid):
    out, cur = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$", line)
            if m:
                start, end = int(m.group(1), 16), int(m.group(2), 16)
                cur = {"start": start, "size": end - start, "perm": m.group(3), "name": m.group(4), "rss": 0}
                out.append(cur)
            elif line.startswith("Rss:") and cur is not None:
                cur["rss"] = int(line.split()[1]) << 10
    return out


WASM_RESERVATION = 8 << 30


def wasm_heap(maps):
    found = [m for m, rest in zip(maps, maps[1:])
             if not m["name"].startswith("/") and m["perm"].startswith("rw") and rest["perm"].startswith("---")
             and rest["start"] == m["start"] + m["size"] and m["size"] + rest["size"] >= WASM_RESERVATION]
    # The largest: a small wasm memory (a helper module's) has the same shape.
    return max(found, key=lambda m: m["size"], default=None)


def kinds(maps):
    heap = wasm_heap(maps)
    total = collections.Counter()
    for m in maps:
        if m["name"].startswith("/"):
            kind = "node binary and libraries"
        elif m is heap:
            kind = "wasm heap"
        elif "x" in m["perm"]:
            kind = "executable code"
        elif m["size"] == V8_PAGE:
            kind = "V8 heap pages"
        elif m["start"] % ARENA_ALIGN == 0 and m["perm"].startswith("rw"):
            kind = "malloc arenas"
        else:
            kind = "other anonymous"
        total[kind] += m["rss"]
    return total


# Right after ready V8 is still tiering up (tens of MB of compile zones in
# "other anonymous"): the settled figure is read once no worker used CPU
# for QUIET_S.
QUIET_S = 0.5


def statm_mb(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with ScopeboxServer("--workers", str(args.workers)) as server:
        server.wait_healthy(args.workers)
        pids = server.worker_pids()
        per = {pid: (statm_mb(pid), kinds(mappings(pid))) for pid in pids}
        waited = wait_still(pids, QUIET_S)
        settled = {pid: (statm_mb(pid), kinds(mappings(pid))) for pid in pids}
    order = ["node binary and libraries", "wasm heap", "V8 heap pages", "executable code", "malloc arenas",
             "other anonymous"]
    for title, at in (("right after the pool is healthy (as tests/bench/http prints it)", per),
                      (f"settled (no worker used CPU for {QUIET_S} s; {waited:.1f} s after healthy)", settled)):
        print(f"\nIdle worker resident memory, MB, {title}: statm, then by kind")
        print(f"{'':<28}" + "".join(f"{'pid ' + str(p):>12}" for p in pids))
        print(f"{'RSS (statm)':<28}" + "".join(f"{at[p][0]:>12.1f}" for p in pids))
        for kind in order:
            print(f"{kind:<28}" + "".join(f"{at[p][1][kind] / 2**20:>12.1f}" for p in pids))


if __name__ == "__main__":
    main()
