"""Runs one request: compile, execute in a fresh (or the session's) namespace
under the request's root dynamic bindings, and describe what happened."""
import _signal
import ast
import json
import re
import signal
import sys

# Bound once: a snippet that patches json.loads must not break its own
# request (the answer's encoder, jsontext.encode, is bound likewise).
_json_loads = json.loads

import dynscope

try:
    from pyodide.ffi import to_js as _to_js
except ImportError:  # native CPython (tests of single modules)
    _to_js = None

from . import aio, answer, errors, files, jsontext, limit, raised, snapshots, stdin
from .capture import Capture, Output
from .namespace import BadRequest, check_return, decode_variables, fingerprint, new_globals, report

SNIPPET = errors.SNIPPET
OUTPUT_CAP = 1 << 20
# Top-level await (as in IPython): such code compiles to a coroutine, which
# runs on the run's event loop (aio.py).
_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_CO_COROUTINE = 0x80

# The watchdog's interrupt (SIGINT) raises KeyboardInterrupt in the run's
# code, and in code of the run that JS calls after the runner returned (its
# promise callbacks, PROTOCOL.md "Runs and asyncio"), but not while the
# runner writes the answer (the host knows the run timed out all the same)
# nor between runs. The snippet may install its own handler: this one is
# put back every run.
_CODE, _ANSWER, _AFTER = "code", "answer", "after"
_phase = _AFTER
# From the host: () -> 0 (no run in flight), 1 (a run is), 2 (it is past its
# time limit). None: no watchdog (no run after the runner returned).
_watchdog = None
# From the host: (stream, text) -> None, the live output of a streamed run
# (a request with `stream`); the worker sends it in `output` frames.
_emit = None
# The run in flight was cancelled before it started (its request's `cancelled`).
_cancelled = False


def _on_interrupt(signum, frame):
    state = _watchdog() if _watchdog is not None else 0
    if _phase == _CODE or (_phase == _AFTER and state):
        if state == 2:
            limit.escalate()
        raise KeyboardInterrupt


def install(watchdog=None, emit=None):
    """Once, at start-up (before the pristine state is captured).
    `watchdog`: the worker's callable saying whether a run is in flight and
    past its limit (see _watchdog); `emit`: where a streamed run's output
    goes as it is written (see _emit)."""
    global _watchdog, _emit
    _watchdog = watchdog
    _emit = emit
    import builtins
    builtins.input = stdin.input
    signal.signal(signal.SIGINT, _on_interrupt)
    aio.install()


def warm():
    """Once at start-up, after install and before the pristine capture: the
    first call from Python into a JS callable makes Pyodide set up its call
    path lazily (a wasm table entry, and state in the heap naming it). Made
    here, every worker's pristine state has it; made during a session's
    run, the session's image would name an entry that a worker resuming it
    lacks ("table index is out of bounds")."""
    if _emit is not None:
        _emit("stdout", "")  # no run streams now: it goes nowhere
    if _watchdog is not None:
        _watchdog()


# A session's worker is dedicated to it (the host never sends it stateless
# runs), so its namespace simply lives here between runs.
_session_globals = None


def _compile(code, mode):
    """(body, last) code objects. In exec mode a final expression statement
    is evaluated on its own so that its value is the result, as in a
    notebook cell."""
    if mode == "eval":
        return None, compile(code, SNIPPET, "eval", flags=_FLAGS, dont_inherit=True)
    tree = compile(code, SNIPPET, "exec", flags=ast.PyCF_ONLY_AST | _FLAGS, dont_inherit=True)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = compile(ast.Expression(tree.body.pop().value), SNIPPET, "eval", flags=_FLAGS,
                       dont_inherit=True)
    return compile(tree, SNIPPET, "exec", flags=_FLAGS, dont_inherit=True), last


def _execute(code, g):
    """Runs a compiled piece of the snippet; its value (None for a body)."""
    value = eval(code, g)
    if code.co_flags & _CO_COROUTINE:  # it awaits at top level
        value = aio.run_coroutine(value)
    return value


def _exit_code(exc):
    """The status a process would have exited with (SystemExit, os._exit)."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1


# Freed when a run ran out of memory, so that its answer can still be made;
# a stateless run gets it back with the pristine state, a session's next run
# allocates it again.
_reserve = bytearray(1 << 20)


def _snippet(fn, *args):
    """(fn(*args), None), or (None, the exception it raised): the one place
    the snippet's code runs interruptible. Describing what it raised runs
    after, in the answer phase: an interrupt landing there (a traceback of
    a thousand frames takes longer than the watchdog's 50 ms) would escape
    the runner and lose the whole answer."""
    global _phase
    _phase = _CODE
    try:
        try:
            return fn(*args), None
        finally:
            _phase = _ANSWER
    except BaseException as e:  # the snippet's exceptions are data
        _phase = _ANSWER
        return None, e


def _body(code, mode, g):
    # Stopped before it started (a cancel that came before the run's frame
    # was read, PROTOCOL.md `cancel`; the worker says so in the request):
    # not one line of it runs. The interrupt itself may have landed in the
    # runner, which ignores it. (Not asked of the watchdog callable: a JS
    # call here at every run left state in the heap that session images do
    # not carry.)
    if _cancelled:
        limit.escalate()
        raise KeyboardInterrupt
    body, last = _compile(code, mode)
    if body is not None:
        _execute(body, g)
    return _execute(last, g) if last is not None else None


def _described(exc):
    error = _describe(exc)
    error["dynamic"] = raised.dynamic_of(exc, _relabel)
    return error


def _relabel(frames):
    """A snapshot (e.g. one taken where an exception was raised) as the
    answer shows it: the runner's frame as `<request>`, bindings encoded."""
    return snapshots.encode_frames(snapshots.relabel(list(frames)), answer.Budget(answer.SMALL_ANSWER_BYTES))


def _describe(exc):
    error = _describe_bounded(exc)
    if isinstance(exc, SystemExit):
        error["exit_code"] = _exit_code(exc)
    return error


def _describe_bounded(exc):
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
    global _reserve, _cancelled
    _cancelled = req.get("cancelled") is True
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

    # Before the namespace is touched: a refused request changes nothing.
    files.put(req.get("files"))
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
    # Both streams feed one ordered record (the answer's `output`), under
    # the same cap as each of them; a streamed run's writes also go out live.
    ordered = Output(cap)
    live = _emit if req.get("stream") else None
    out, err = Capture(cap, "stdout", ordered, live), Capture(cap, "stderr", ordered, live)
    result, error, final, cancelled = None, None, [], 0
    saved = sys.stdout, sys.stderr, sys.stdin
    sys.stdout, sys.stderr, sys.stdin = out, err, stdin.Stdin(req.get("stdin", ""))
    limit.relax()
    # _signal's own: signal.signal wraps it to convert the handlers it
    # returns into enums, which for a function raises and catches a
    # ValueError (~25 us in wasm, every run).
    _signal.signal(_signal.SIGINT, _on_interrupt)
    try:
        with dynscope.bind(**dynamic):
            raised.arm()
            result, caught = _snippet(_body, code, mode, g)
            if caught is not None:
                error = _described(caught)
            del caught
            # The run ends when its code is done: what it left pending ends too.
            n, caught = _snippet(aio.finish)
            cancelled = n or 0
            if caught is not None and error is None:
                error = _described(caught)
            del caught
            final = snapshots.final()
    finally:
        limit.relax()
        sys.stdout, sys.stderr, sys.stdin = saved
        raised.release()
    collected = _collect(req.get("collect"))
    fields = dict(result=result, returned=snapshots.returned(result), taken=snapshots.taken(),
                  error=error, out=out, err=err, ordered=ordered, collected=collected, g=g,
                  selection=selection, before=before, final=final, extra={"tasks_cancelled": cancelled})
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


def _collect(patterns):
    """The files `collect` asked for; a failure to read them is ours, not
    the run's: logged, and the answer says nothing was collected."""
    try:
        return files.collect(patterns)
    except MemoryError:
        return [], 0
    except Exception as e:
        _log(f"collecting files failed: {e!r}")
        return [], 0


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
    """One request as JSON text, its answer as JSON text (the playground's
    engine and the docs generator call this)."""
    req = _json_loads(payload)
    reply = _serve(req)
    text = _text(reply)
    # The budget keeps answers within ANSWER_BYTES; should it ever be wrong,
    # the worker still answers (an error with no scope) rather than die on a
    # frame the host would refuse.
    if text is None or (len(text) > answer.ANSWER_BYTES // 4
                        and len(text.encode("utf-8", "surrogatepass")) > answer.ANSWER_BYTES):
        text = _minimal_text(reply, req)
    _phase_after()
    return text


def run_frame(frame):
    """One request frame's payload as the worker reads it, a JS byte buffer
    (a JsProxy), and its answer as the UTF-8 bytes of the answer frame, a
    JS Uint8Array (copied out by to_js: no PyProxy to make and destroy).
    Bytes cross instead of strings: Pyodide converts a JS string to a str
    one character at a time (and every character is a marked heap write),
    which was most of a 100 KB request's time; `to_bytes` is one copy, made
    (and its pages marked) by the glue. The worker checked that the payload
    is UTF-8 (frames.mjs)."""
    req = _json_loads(frame.to_bytes().decode("utf-8"))
    reply = _serve(req)
    try:
        text = _text(reply)
        data = None if text is None else _utf8(text)
    except MemoryError:
        data = None
    if data is None or len(data) > answer.ANSWER_BYTES:  # as in run_json
        data = _utf8(_minimal_text(reply, req))
    _phase_after()
    return _to_js(data)


def forget_session():
    """Once at start-up, after the worker's warm-up runs (interp.mjs) and
    before the pristine capture: no session namespace is part of it."""
    global _session_globals
    _session_globals = None


def warm_frame(frame):
    """Once at start-up (see warm): the first JS byte buffer handed to
    Python makes Pyodide create its proxy type (cached in the heap), here
    rather than in every run; and the first to_js of bytes its converter."""
    _to_js(frame.to_bytes())


def _serve(req):
    global _phase
    _phase = _ANSWER
    try:
        if req["type"] == "inspect":
            reply = inspect(req)
        else:
            reply = run(req)
        reply["type"] = "result"
    except BadRequest as e:
        reply = {"type": "rejected", "error": {"code": e.code, "message": e.message}}
    reply["id"] = req["id"]
    return reply


def _text(reply):
    try:
        return jsontext.dumps(reply)
    except MemoryError:
        return None


def _minimal_text(reply, req):
    return jsontext.encode({**answer.minimal(reply.get("error")), "type": reply["type"], "id": req["id"]})


# A str may hold lone surrogates, UTF-8 cannot. The answer's strings are
# made UTF-8-safe where they are encoded (codec.py); should one slip through,
# it goes out as U+FFFD, as the worker wrote them when answers crossed as JS
# strings.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _utf8(text):
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text).encode("utf-8")


def _phase_after():
    global _phase
    _phase = _AFTER
