"""One figure of a benchmark, printed by the bench itself and also appended
as a JSON line to the file that SCOPEBOX_BENCH_FIGURES names (when set), so
that summary.py can print every target beside its figure at the end of
tests/bench/run.sh. A figure is a measurement, never a verdict."""
import json
import os


def record(key, value, unit, what):
    path = os.environ.get("SCOPEBOX_BENCH_FIGURES")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"key": key, "value": value, "unit": unit, "what": what}) + "\n")
