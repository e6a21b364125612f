"""Runs one request: compile, execute in a fresh (or the session's) namespace
under the request's root dynamic bindings, and describe what happened."""
import ast
import json
import linecache
import sys

# Bound once: a snippet that patches json.dumps must not break its own answer.
_json_loads = json.loads
_json_dumps = json.dumps

import dynscope

from . import errors, raised
from .capture import Capture
from .codec import encode
from .namespace import BadRequest, changes, decode_variables, fingerprint, new_globals, report

SNIPPET = errors.SNIPPET
OUTPUT_CAP = 1 << 20

# A session's worker is dedicated to it (the host never sends it stateless
# runs), so its namespace simply lives here between runs.
_session_globals = None


def _compile(code, mode):
    """(body, last) code objects. In exec mode a final expression statement
    is evaluated on its own so that its value is the result, as in a
    notebook cell."""
    if mode == "eval":
        return None, compile(code, SNIPPET, "eval", dont_inherit=True)
    tree = ast.parse(code, SNIPPET, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = compile(ast.Expression(tree.body.pop().value), SNIPPET, "eval", dont_inherit=True)
    return compile(tree, SNIPPET, "exec", dont_inherit=True), last


def _is_snapshot(value):
    return (type(value) is list and all(type(f) is dict and "bindings" in f and "function" in f
                                         for f in value))


def _relabel(snapshot):
    """Frames of the runtime itself are shown as the request's root."""
    out = []
    for frame in snapshot:
        frame = dict(frame)
        if frame.get("file") != SNIPPET:
            frame.update(function="<request>", file=None, line=None)
        frame["bindings"] = {k: encode(v) for k, v in frame["bindings"].items()}
        out.append(frame)
    return out


def _namespace(req):
    global _session_globals
    if req.get("persist"):
        if _session_globals is None:
            _session_globals = new_globals()
        return _session_globals
    return new_globals()


def run(req):
    code, mode = req["code"], req.get("mode", "exec")
    cap = req.get("output_cap", OUTPUT_CAP)
    scope = decode_variables("scope", req.get("scope"))
    dynamic = decode_variables("dynamic", req.get("dynamic"))
    selection = req.get("return", "data")

    g = _namespace(req)
    g.update(scope)
    before = fingerprint(g)
    linecache.cache[SNIPPET] = (len(code), None, code.splitlines(True), SNIPPET)
    out, err = Capture(cap), Capture(cap)
    result, error, final = None, None, []
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        with dynscope.bind(**dynamic):
            raised.arm()
            try:
                body, last = _compile(code, mode)
                if body is not None:
                    exec(body, g)
                if last is not None:
                    result = eval(last, g)
            except BaseException as e:  # the snippet's exceptions are data
                error = errors.describe(e)
                error["dynamic"] = raised.dynamic_of(e, _relabel)
                result = None
            final = dynscope.snapshot()
    finally:
        sys.stdout, sys.stderr = saved
        raised.release()
    scope_out, definitions = report(g, selection)
    return {
        "ok": error is None,
        "result": encode(result),
        "stdout": out.getvalue(),
        "stderr": err.getvalue(),
        "truncated": {"stdout": out.truncated, "stderr": err.truncated},
        "error": error,
        "scope": scope_out,
        "definitions": definitions,
        "changes": changes(before, g),
        "dynamic": {"final": _relabel(final),
                    "returned": _relabel(result) if _is_snapshot(result) else None},
    }


def inspect(req):
    """The persistent namespace; a session's first message also seeds it."""
    global _session_globals
    scope = decode_variables("scope", req.get("scope"))
    if _session_globals is None:
        _session_globals = new_globals()
    _session_globals.update(scope)
    scope_out, definitions = report(_session_globals, "data")
    return {"scope": scope_out, "definitions": definitions}


def run_json(payload):
    req = _json_loads(payload)
    try:
        if req["type"] == "inspect":
            answer = inspect(req)
        else:
            answer = run(req)
        answer["type"] = "result"
    except BadRequest as e:
        answer = {"type": "rejected", "error": {"code": e.code, "message": e.message}}
    answer["id"] = req["id"]
    return _json_dumps(answer, ensure_ascii=False, allow_nan=False)
