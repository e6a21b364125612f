"""The answer to a run, within one byte budget.

Every string the worker emits is charged to a single Budget (codec.py):
the error (message, sources, traceback text), stdout and stderr, the
ordered `output` (the same text again, interleaved: bounded by the output
cap, so at most doubling what the two streams take), the collected files,
the result, names in `changes`, the dynamic snapshots, the scope's names and
values and the type names in tags. Fields are filled in that order
(`changes` taking at most an eighth of the budget); what no longer fits
is cut with a marker, names that do not fit are left out and counted
(`truncated.names`), and `truncated.answer` says the budget cut something.
The JSON text of an answer is thus at most ANSWER_BYTES (well under the
protocol's 64 MiB frame limit), whatever the run left behind.
"""

from . import jsontext, snapshots
from .capture import CHUNK_COST
from .codec import Budget, encode, utf8_safe, _str_is_utf8
from .namespace import changes, report

ANSWER_BYTES = 8 * 1024 * 1024
# After a MemoryError while answering: an answer that needs little memory.
SMALL_ANSWER_BYTES = 256 * 1024


def json_bytes(value):
    text = jsontext.encode(value)
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _names(names, budget):
    kept = []
    for k in names:
        if budget.spent:
            budget.names_omitted += 1
        elif budget.name(k):
            kept.append(k)
    return kept


def _error(error, budget):
    """The error (bounded by errors.py) whole if it fits, else its core."""
    if error is None:
        return None
    if budget.take(json_bytes(error)):
        return error
    core = {k: error.get(k) for k in ("type", "message", "line", "column", "end_line", "end_column", "source")}
    core["traceback"] = error.get("traceback", [])[-5:]
    core["message"], _ = budget.text(core["message"] or "")
    core["traceback"] = [f for f in core["traceback"] if budget.take(json_bytes(f))]
    budget.force(json_bytes({k: v for k, v in core.items() if k != "message"}))
    return core


def _output(capture, budget):
    text = capture.getvalue()
    if not _str_is_utf8(text):
        text = utf8_safe(text)
    text, cut = budget.text(text)
    return text, capture.truncated or cut


def _ordered(ordered, budget):
    """`output` as JSON chunks; past the budget the rest is dropped (a
    prefix, as the cap cuts it)."""
    chunks, cut = [], ordered.truncated
    for stream, text in ordered.chunks():
        if not _str_is_utf8(text):
            text = utf8_safe(text)
        if not budget.take(CHUNK_COST):
            cut = True
            break
        text, text_cut = budget.text(text)
        if text:
            chunks.append({"stream": stream, "text": text})
        if text_cut:
            cut = True
            break
    return chunks, cut


def _files(collected, budget):
    """The collected files that fit the budget whole; the others listed
    with `omitted` (their path and size only), or left out and counted once
    even that does not fit."""
    entries, left_out = collected
    kept = []
    for entry in entries:
        if budget.take(json_bytes(entry)):
            kept.append(entry)
            continue
        entry = {"path": entry["path"], "size": entry["size"], "omitted": True}
        if budget.take(json_bytes(entry)):
            kept.append(entry)
        else:
            left_out += 1
    return kept, left_out


def build(*, result, returned, error, out, err, ordered=None, collected=None, g, selection, before, final,
          taken=([], 0), extra=None, nbytes=ANSWER_BYTES):
    """The answer's fields. `extra`: small fields added as they are (e.g. a
    count), charged first."""
    budget = Budget(nbytes)
    budget.force(400)  # the fixed members and punctuation
    if extra:
        budget.force(json_bytes(extra))
    error = _error(error, budget)
    stdout, stdout_cut = _output(out, budget)
    stderr, stderr_cut = _output(err, budget)
    output, output_cut = _ordered(ordered, budget) if ordered is not None else ([], False)
    collected_out, files_left_out = _files(collected or ([], 0), budget)
    result_out = encode(result, budget)
    delta = changes(before, g)
    with budget.share(nbytes // 8):  # names only: the scope's values get the rest
        delta = {k: _names(v, budget) for k, v in delta.items()}
    dynamic = {"final": snapshots.encode_frames(final, budget),
               "returned": snapshots.encode_frames(returned, budget) if returned is not None else None}
    dynamic["snapshots"], dynamic["snapshots_omitted"] = snapshots.encode_taken(*taken, budget)
    scope_out, definitions = report(g, selection, budget)
    return {
        "ok": error is None,
        "result": result_out,
        "stdout": stdout,
        "stderr": stderr,
        "output": output,
        "files": collected_out,
        "truncated": {"stdout": stdout_cut, "stderr": stderr_cut, "output": output_cut, "answer": budget.cut,
                      "names": budget.names_omitted, "files": files_left_out},
        "error": error,
        "scope": scope_out,
        "definitions": definitions,
        "changes": delta,
        "dynamic": dynamic,
        **(extra or {}),
    }


def minimal(error):
    """An answer that needs next to no memory: the error, nothing else."""
    if error is not None:
        error = {k: error.get(k) for k in ("type", "message", "line", "source")}
        error["message"] = (error["message"] or "")[:4096]
        error["traceback"] = []
    return {
        "ok": error is None, "result": None, "stdout": "", "stderr": "", "output": [], "files": [],
        "truncated": {"stdout": True, "stderr": True, "output": True, "answer": True, "names": 0, "files": 0},
        "error": error, "scope": {}, "definitions": {},
        "changes": {"added": [], "changed": [], "removed": []},
        "dynamic": {"final": [], "returned": None, "snapshots": [], "snapshots_omitted": 0},
    }
