"""Runs one request: compile, execute in a fresh (or the session's) namespace
under the request's root dynamic bindings, and describe what happened."""
import ast
import json
import sys

# Bound once: a snippet that patches json.dumps must not break its own answer.
_json_loads = json.loads
_json_dumps = json.dumps

import dynscope

from . import answer, errors, raised, snapshots
from .capture import Capture
from .namespace import BadRequest, check_return, decode_variables, fingerprint, new_globals, report

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


# Freed when a run ran out of memory, so that its answer can still be made;
# a stateless run gets it back with the pristine state, a session's next run
# allocates it again.
_reserve = bytearray(1 << 20)


def _relabel(frames):
    """A snapshot (e.g. one taken where an exception was raised) as the
    answer shows it: the runner's frame as `<request>`, bindings encoded."""
    return snapshots.encode_frames(snapshots.relabel(list(frames)), answer.Budget(answer.SMALL_ANSWER_BYTES))


def _describe(exc):
    global _reserve
    try:
        return errors.describe(exc)
    except MemoryError:
        _reserve = None  # the snippet's own MemoryError, most likely
    except Exception as e:  # the exception's own code (a group's `exceptions`) failed
        _log(f"describing {errors.type_name(exc)} failed: {e!r}")
    try:
        return errors.describe(exc)
    except BaseException:
        return {"type": errors.type_name(exc), "message": "", "line": None, "source": None, "traceback": []}


def _log(text):
    try:
        print(f"scopebox_worker: {text}", file=sys.__stderr__, flush=True)
    except Exception:
        pass


def _namespace(req):
    global _session_globals
    if req.get("persist"):
        if _session_globals is None:
            _session_globals = new_globals()
        return _session_globals
    return new_globals()


def run(req):
    global _reserve
    if _reserve is None:  # a session's earlier run used it
        try:
            _reserve = bytearray(1 << 20)
        except MemoryError:
            pass
    code, mode = req["code"], req.get("mode", "exec")
    if code.startswith("\ufeff"):  # a BOM, as CPython accepts at the start of a file
        code = code[1:]
    cap = req.get("output_cap", OUTPUT_CAP)
    scope = decode_variables("scope", req.get("scope"))
    dynamic = decode_variables("dynamic", req.get("dynamic"))
    selection = check_return(req.get("return", "data"))

    g = _namespace(req)
    # A session's changes count from its namespace before this request's
    # scope overwrote it; a fresh namespace starts as the scope.
    if req.get("persist"):
        before = fingerprint(g)
        g.update(scope)
    else:
        g.update(scope)
        before = fingerprint(g)
    errors.remember(code)
    snapshots.start_run()
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
                result = None
                error = _describe(e)
                error["dynamic"] = raised.dynamic_of(e, _relabel)
                del e
            final = snapshots.final()
    finally:
        sys.stdout, sys.stderr = saved
        raised.release()
    fields = dict(result=result, returned=snapshots.returned(result), error=error, out=out, err=err, g=g,
                  selection=selection, before=before, final=final)
    try:
        return answer.build(**fields)
    except MemoryError:
        pass
    except Exception as e:  # a bug of ours: still an answer, and a line in the log
        _log(f"building the answer failed: {e!r}")
        return answer.minimal(error)
    # What the run left fills the heap: answer with less, in less memory.
    _reserve = None
    try:
        return answer.build(**fields, nbytes=answer.SMALL_ANSWER_BYTES)
    except MemoryError:
        return answer.minimal(error)


def inspect(req):
    """The persistent namespace; a session's first message also seeds it."""
    global _session_globals
    scope = decode_variables("scope", req.get("scope"))
    if _session_globals is None:
        _session_globals = new_globals()
    _session_globals.update(scope)
    budget = answer.Budget(answer.ANSWER_BYTES)
    scope_out, definitions = report(_session_globals, "data", budget)
    return {"scope": scope_out, "definitions": definitions}


def run_json(payload):
    req = _json_loads(payload)
    try:
        if req["type"] == "inspect":
            reply = inspect(req)
        else:
            reply = run(req)
        reply["type"] = "result"
    except BadRequest as e:
        reply = {"type": "rejected", "error": {"code": e.code, "message": e.message}}
    reply["id"] = req["id"]
    try:
        text = _json_dumps(reply, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except MemoryError:
        text = None
    # The budget keeps answers within ANSWER_BYTES; should it ever be wrong,
    # the worker still answers (an error with no scope) rather than die on a
    # frame the host would refuse.
    if text is None or (len(text) > answer.ANSWER_BYTES // 4
                        and len(text.encode("utf-8", "surrogatepass")) > answer.ANSWER_BYTES):
        text = _json_dumps({**answer.minimal(reply.get("error")), "type": reply["type"], "id": req["id"]},
                           ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text
