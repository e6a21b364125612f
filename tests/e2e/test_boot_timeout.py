"""A worker that sends no ready within its time is a failed start, and the
next worker of its slot gets twice the time, up to 8 times
--boot-timeout-ms: on a machine loaded enough that a boot takes longer
than the flag, every worker used to be killed at the same point of its
boot, over and over, and queued runs waited out their queue timeout."""
import os
import re
import signal
import subprocess
import threading

from waiting import wait_for

BUDGET = re.compile(r"worker \d+ sent no ready within (\d+) ms; killing it")


def test_each_failed_start_in_a_row_doubles_the_next_boots_time():
    # No worker boots in 200 ms (node and the interpreter's snapshot alone
    # take longer, ~1 s on a quiet machine), so the first three starts fail
    # whatever the machine's speed; what each was given is in the log.
    proc = subprocess.Popen(
        [os.environ["SCOPEBOX_SERVER"], "--port", "0", "--workers", "1", "--boot-timeout-ms", "50"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        errors="replace")
    lines = []
    threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()

    def budgets():
        return [int(m.group(1)) for m in map(BUDGET.search, list(lines)) if m]

    try:
        wait_for(lambda: len(budgets()) >= 5, "five failed starts", timeout=120)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    seen = budgets()
    assert seen[:3] == [50, 100, 200], "".join(lines)
    assert max(seen) <= 400, seen  # never past 8x the flag
