"""summary.py prints one row per target of issue 16 from a figures file:
the figure with met / NOT met, and "not measured" for a target no bench
wrote (a missing figure must never read as met)."""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import summary  # noqa: E402


def run_summary(tmp_path, figures):
    path = tmp_path / "figures.jsonl"
    path.write_text("".join(json.dumps(f) + "\n" for f in figures) + "not json\n")
    out = subprocess.run([sys.executable, os.path.join(HERE, "summary.py"), str(path)],
                         capture_output=True, text=True, check=True)
    return out.stdout


def row(out, what):
    lines = [line for line in out.splitlines() if line.startswith(what)]
    assert len(lines) == 1, (what, out)
    return lines[0]


def test_every_target_gets_a_row_with_its_verdict(tmp_path):
    figures = []
    for i, (key, what, op, target, unit, beside) in enumerate(summary.TARGETS):
        # Alternately on the good and the bad side of the target.
        good = i % 2 == 0
        value = target * (0.5 if (op == "<=") == good else 2)
        figures.append({"key": key, "value": value, "unit": unit, "what": what})
        if beside:
            figures.append({"key": beside, "value": 1.5, "unit": "ms", "what": "beside"})
    out = run_summary(tmp_path, figures)
    for i, (key, what, *_rest) in enumerate(summary.TARGETS):
        line = row(out, what)
        assert ("NOT met" not in line) == (i % 2 == 0), line
        assert " met" in line or "NOT met" in line, line


def test_a_target_without_a_figure_is_not_measured(tmp_path):
    key, what, op, target, unit, _ = summary.TARGETS[0]
    out = run_summary(tmp_path, [{"key": key, "value": target, "unit": unit,
                                  "what": what}])
    assert " met" in row(out, what)
    for _key, other, *_rest in summary.TARGETS[1:]:
        line = row(out, other)
        assert "not measured" in line and "met " not in line.replace("not measured", ""), line


def test_the_last_figure_of_a_key_wins(tmp_path):
    key, what, op, target, unit, _ = summary.TARGETS[0]
    out = run_summary(tmp_path, [{"key": key, "value": target * 10, "unit": unit, "what": what},
                                 {"key": key, "value": target / 10, "unit": unit, "what": what}])
    assert "NOT met" not in row(out, what)
