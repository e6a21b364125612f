"""The HTTP client: one method per route of server/openapi.yaml, standard
library only (urllib), values decoded to Python types (values.py)."""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, NoReturn, Optional, Sequence, Union

from .values import decode, encode_variables

__all__ = ["Client", "Session", "RunResult", "SessionInfo", "SessionSummary", "SessionList", "SessionExport", "Frame", "TracebackFrame",
           "ScopeboxError", "SnippetError", "ApiError", "RunStream", "OutputEvent", "ResultEvent",
           "RunEvent"]

DEFAULT_URL = "http://127.0.0.1:8080"


class ScopeboxError(Exception):
    """Base of the errors this client raises."""


class ApiError(ScopeboxError):
    """The server refused or failed the request (HTTP 4xx/5xx): `code` is the
    API's stable error code (invalid_value, timeout, queue_full, ...)."""

    def __init__(self, status: int, code: str, message: str, body: Any = None,
                 retry_after: Optional[int] = None) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.status = status
        self.code = code
        self.message = message
        self.body = body
        self.retry_after = retry_after


@dataclass
class TracebackFrame:
    function: str
    line: Optional[int]
    source: Optional[str]
    omitted: Optional[int] = None


class SnippetError(ScopeboxError):
    """The snippet raised: the Python error as the server reports it.
    `result` is the whole RunResult."""

    def __init__(self, error: Mapping[str, Any], result: Optional["RunResult"] = None) -> None:
        self.type: str = error.get("type", "Exception")
        self.message: str = error.get("message", "")
        self.line: Optional[int] = error.get("line")
        self.column: Optional[int] = error.get("column")
        self.source: Optional[str] = error.get("source")
        self.traceback: List[TracebackFrame] = [
            TracebackFrame(f.get("function", "?"), f.get("line"), f.get("source"), f.get("omitted"))
            for f in error.get("traceback", [])]
        self.result = result
        super().__init__(f"{self.type}: {self.message}" if self.message else self.type)

    def format(self) -> str:
        """Like Python prints it: the snippet's frames, then "Type: message"."""
        lines = []
        if self.traceback:
            lines.append("Traceback (most recent call last):")
        for f in self.traceback:
            if f.omitted:
                lines.append(f"  [... {f.omitted} frames omitted]")
            where = f"line {f.line}, " if f.line is not None else ""
            lines.append(f"  {where}in {f.function}")
            if f.source:
                lines.append("    " + f.source.strip())
        if not self.traceback and self.line is not None:
            lines.append(f"  line {self.line}")
            if self.source:
                lines.append("    " + self.source.strip())
        lines.append(str(self))
        return "\n".join(lines)


@dataclass
class Frame:
    """One frame of a dynamic-scope snapshot, innermost first."""
    function: str
    file: Optional[str]
    line: Optional[int]
    bindings: Dict[str, Any]


def _frames(snapshot: Optional[Sequence[Mapping[str, Any]]]) -> Optional[List[Frame]]:
    if snapshot is None:
        return None
    return [Frame(f["function"], f.get("file"), f.get("line"), decode(f.get("bindings", {})))
            for f in snapshot]


@dataclass
class RunResult:
    """A run's answer (RunResult in openapi.yaml), values decoded."""
    ok: bool
    result: Any
    stdout: str
    stderr: str
    truncated: Dict[str, bool]
    error: Optional[SnippetError]
    scope: Dict[str, Any]
    definitions: Dict[str, str]
    changes: Dict[str, List[str]]
    dynamic_final: List[Frame]
    dynamic_returned: Optional[List[Frame]]
    timing: Dict[str, float]
    raw: Dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> "RunResult":
        dynamic = body.get("dynamic") or {}
        r = cls(ok=bool(body["ok"]), result=decode(body.get("result")),
                stdout=body.get("stdout", ""), stderr=body.get("stderr", ""),
                truncated=dict(body.get("truncated") or {}), error=None,
                scope=decode(body.get("scope") or {}), definitions=dict(body.get("definitions") or {}),
                changes=dict(body.get("changes") or {}),
                dynamic_final=_frames(dynamic.get("final")) or [],
                dynamic_returned=_frames(dynamic.get("returned")),
                timing=dict(body.get("timing") or {}), raw=dict(body))
        if body.get("error") is not None:
            r.error = SnippetError(body["error"], r)
        return r

    def raise_for_error(self) -> "RunResult":
        """Raises the SnippetError if the snippet raised; returns self otherwise."""
        if self.error is not None:
            raise self.error
        return self


@dataclass
class SessionInfo:
    """A session as the server describes it (Session in openapi.yaml)."""
    id: str
    scope: Dict[str, Any]
    definitions: Dict[str, str]
    idle_ttl_ms: int
    runs: int
    raw: Dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> "SessionInfo":
        return cls(id=body["id"], scope=decode(body.get("scope") or {}),
                   definitions=dict(body.get("definitions") or {}),
                   idle_ttl_ms=body.get("idle_ttl_ms", 0), runs=body.get("runs", 0), raw=dict(body))


@dataclass(frozen=True)
class OutputEvent:
    """What the snippet wrote while it runs: a `stdout` or `stderr` event of
    the stream (EventStream in openapi.yaml), in the order written."""
    stream: str
    text: str


@dataclass(frozen=True)
class ResultEvent:
    """The stream's last event: the run's answer, the RunResult that run()
    would have returned."""
    result: RunResult


RunEvent = Union[OutputEvent, ResultEvent]

_STATUS_COMMENT = re.compile(r"status (\d+)")


class RunStream:
    """A run answered as Server-Sent Events: iterate it for OutputEvents as
    they come, then one ResultEvent. Like run(), a run that is not answered
    200 (timeout, cancelled, ...) raises ApiError, here from the iteration,
    and a snippet's error raises SnippetError when `raise_errors`. `run_id`
    is the run's (for Client.cancel); `result` is set once the last event
    is in. Closing the stream early (close(), or leaving a `with`) closes the
    connection, which cancels the run on the server."""

    def __init__(self, client: "Client", resp: Any, status: int, headers: Any,
                 raise_errors: Optional[bool]) -> None:
        self.client = client
        self.run_id: Optional[str] = headers.get("Scopebox-Run-Id") if headers else None
        self.result: Optional[RunResult] = None
        self._resp = resp
        self._raise = raise_errors
        self._events = self._read(resp, status, headers)

    def __iter__(self) -> "RunStream":
        return self

    def __next__(self) -> RunEvent:
        return next(self._events)

    def __enter__(self) -> "RunStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._resp is not None:
            self._resp.close()
            self._resp = None

    def _finish(self, status: int, headers: Any, answer: Any) -> ResultEvent:
        self.close()
        if status >= 400:
            self.client._raise_api_error(status, headers, answer)
        self.result = self.client._result(answer, self._raise)
        return ResultEvent(self.result)

    def _read(self, resp: Any, status: int, headers: Any) -> Iterator[RunEvent]:
        ctype = headers.get("Content-Type", "") if headers else ""
        if not ctype.startswith("text/event-stream"):
            # Refused before the run started (a bad body, queue_full, ...),
            # or a server that does not stream: its plain answer.
            yield self._finish(status, headers, self.client._decode(headers, resp.read()))
            return
        event, data, last_status = "message", [], None
        while self._resp is not None:
            line = resp.readline()
            if not line:
                break
            text = line.decode("utf-8").rstrip("\r\n")
            if text:
                if text.startswith(":"):
                    m = _STATUS_COMMENT.search(text)
                    if m:
                        last_status = int(m.group(1))
                elif text.startswith("event:"):
                    event = text[6:].strip()
                elif text.startswith("data:"):
                    data.append(text[6:] if text.startswith("data: ") else text[5:])
                continue
            if not data:
                continue
            payload = json.loads("\n".join(data))
            if event in ("result", "error"):
                code = last_status or (200 if event == "result" else 500)
                yield self._finish(code, headers, payload)
                return
            if event in ("stdout", "stderr"):
                yield OutputEvent(event, payload.get("text", ""))
            event, data, last_status = "message", [], None
        self.close()
        raise ScopeboxError("the event stream ended without its result")


@dataclass
class SessionSummary:
    """A session as GET /v1/sessions lists it (SessionSummary in
    openapi.yaml; SessionFork adds `forked_from`, SessionExport `image`)."""
    id: str
    created: str
    last_used: str
    runs: int
    image_bytes: int
    idle_ttl_ms: int
    raw: Dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> "SessionSummary":
        return cls(id=body["id"], created=body.get("created", ""), last_used=body.get("last_used", ""),
                   runs=body.get("runs", 0), image_bytes=body.get("image_bytes", 0),
                   idle_ttl_ms=body.get("idle_ttl_ms", 0), raw=dict(body))


@dataclass
class SessionList:
    """A page of GET /v1/sessions: pass `next` as `after` for the next one
    (None on the last page)."""
    sessions: List[SessionSummary]
    next: Optional[str]


@dataclass
class SessionExport:
    """GET /v1/sessions/{id}/export: the signed image (base64), which
    Client.session(image=...) turns back into a session."""
    summary: SessionSummary
    image: str


Return = Union[str, Sequence[str]]


def _run_body(code: str, mode: Optional[str], scope: Optional[Mapping[str, Any]],
              dynamic: Optional[Mapping[str, Any]], return_: Optional[Return],
              timeout_ms: Optional[int], stdin: Optional[str],
              files: Optional[Sequence[Mapping[str, Any]]]) -> Dict[str, Any]:
    body: Dict[str, Any] = {"code": code}
    if mode is not None:
        body["mode"] = mode
    if scope:
        body["scope"] = encode_variables(scope, "scope")
    if dynamic:
        body["dynamic"] = encode_variables(dynamic, "dynamic")
    if return_ is not None:
        body["return"] = return_ if isinstance(return_, str) else list(return_)
    if timeout_ms is not None:
        body["timeout_ms"] = int(timeout_ms)
    # Passed through for servers that take them (the run-lifecycle API);
    # one that does not answers unknown_field.
    if stdin is not None:
        body["stdin"] = stdin
    if files is not None:
        body["files"] = [dict(f) for f in files]
    return body


class Client:
    """A scopebox server at `url`. `api_key` is sent as a bearer token.
    `raise_errors` is the default of every run's `raise_errors`: whether a
    snippet's exception is raised (SnippetError) or returned in the result.
    API errors (bad request, timeout, queue full, ...) always raise ApiError."""

    def __init__(self, url: str = DEFAULT_URL, api_key: Optional[str] = None, *,
                 timeout: float = 120.0, raise_errors: bool = False) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.raise_errors = raise_errors

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    # ---- transport ---------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One HTTP exchange; the decoded JSON answer (or text for /metrics).
        Raises ApiError on a 4xx/5xx answer."""
        status, headers, answer = self._exchange(method, path, body)
        if status < 400:
            return answer
        self._raise_api_error(status, headers, answer)

    @staticmethod
    def _raise_api_error(status: int, headers: Any, answer: Any) -> NoReturn:
        err = answer.get("error") if isinstance(answer, dict) else None
        retry = headers.get("Retry-After") if headers else None
        if isinstance(err, dict) and "code" in err:
            raise ApiError(status, err["code"], err.get("message", ""), answer,
                           int(retry) if retry and retry.isdigit() else None)
        raise ApiError(status, "", f"HTTP {status}: {str(answer)[:200]}", answer)

    def _exchange(self, method: str, path: str, body: Any) -> "tuple[int, Any, Any]":
        """(status, headers, decoded answer), whatever the status."""
        status, headers, resp = self._open(method, path, body, "application/json")
        with resp:
            return status, headers, self._decode(headers, resp.read())

    def _open(self, method: str, path: str, body: Any, accept: str) -> "tuple[int, Any, Any]":
        """(status, headers, the response to read), whatever the status."""
        data = None
        headers = {"Accept": accept}
        if body is not None:
            data = json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            resp = urllib.request.urlopen(req, timeout=self.timeout)
            return resp.status, resp.headers, resp
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e
        except urllib.error.URLError as e:
            raise ScopeboxError(f"cannot reach {self.url}: {e.reason}") from None

    def _stream(self, path: str, body: Dict[str, Any], raise_errors: Optional[bool]) -> RunStream:
        status, headers, resp = self._open("POST", path, body, "text/event-stream")
        return RunStream(self, resp, status, headers, raise_errors)

    @staticmethod
    def _decode(headers: Any, raw: bytes) -> Any:
        ctype = headers.get("Content-Type", "") if headers else ""
        if "json" in ctype:
            try:
                return json.loads(raw)
            except ValueError:
                pass
        return raw.decode("utf-8", "replace")

    # ---- routes ------------------------------------------------------------

    def run(self, code: str, *, scope: Optional[Mapping[str, Any]] = None,
            dynamic: Optional[Mapping[str, Any]] = None, mode: Optional[str] = None,
            timeout_ms: Optional[int] = None, return_: Optional[Return] = None,
            stdin: Optional[str] = None, files: Optional[Sequence[Mapping[str, Any]]] = None,
            session: Optional[str] = None, raise_errors: Optional[bool] = None,
            run_id: Optional[str] = None) -> RunResult:
        """POST /v1/run. `scope` and `dynamic` map names to Python values;
        `return_` is the API's `return` ("data", "all" or a list of names);
        `run_id` names the run, so that another thread can `cancel` it."""
        body = _run_body(code, mode, scope, dynamic, return_, timeout_ms, stdin, files)
        if session is not None:
            body["session"] = session
        if run_id is not None:
            body["run_id"] = run_id
        return self._result(self.request("POST", "/v1/run", body), raise_errors)

    def stream(self, code: str, *, scope: Optional[Mapping[str, Any]] = None,
               dynamic: Optional[Mapping[str, Any]] = None, mode: Optional[str] = None,
               timeout_ms: Optional[int] = None, return_: Optional[Return] = None,
               stdin: Optional[str] = None, files: Optional[Sequence[Mapping[str, Any]]] = None,
               session: Optional[str] = None, raise_errors: Optional[bool] = None,
               run_id: Optional[str] = None) -> RunStream:
        """run(), answered as events (Accept: text/event-stream): iterate the
        RunStream for the output as the snippet writes it, then the result.

            for ev in client.stream("print(1)"):
                if isinstance(ev, OutputEvent): print(ev.text, end="")
                else: answer = ev.result
        """
        body = _run_body(code, mode, scope, dynamic, return_, timeout_ms, stdin, files)
        if session is not None:
            body["session"] = session
        if run_id is not None:
            body["run_id"] = run_id
        return self._stream("/v1/run", body, raise_errors)

    def eval(self, expression: str, **kw: Any) -> Any:
        """The value of one expression (mode eval); raises on a snippet error."""
        kw["raise_errors"] = True
        return self.run(expression, mode="eval", **kw).result

    def _result(self, answer: Mapping[str, Any], raise_errors: Optional[bool]) -> RunResult:
        result = RunResult.from_json(answer)
        if (self.raise_errors if raise_errors is None else raise_errors):
            result.raise_for_error()
        return result

    def session(self, scope: Optional[Mapping[str, Any]] = None, *,
                image: Union[str, SessionExport, None] = None) -> "Session":
        """POST /v1/sessions: a new session, empty, with `scope`, or from an
        exported `image` (Session.export()); use it as a context manager to
        end it on the way out."""
        body: Dict[str, Any] = {"scope": encode_variables(scope, "scope")} if scope else {}
        if image is not None:
            body["image"] = image.image if isinstance(image, SessionExport) else image
        return Session(self, SessionInfo.from_json(self.request("POST", "/v1/sessions", body)))

    def attach(self, session_id: str) -> "Session":
        """A Session object for an existing session id (no request made)."""
        return Session(self, None, session_id)

    def cancel(self, run_id: str) -> Dict[str, Any]:
        """POST /v1/runs/{id}/cancel: stops the run named `run_id` (queued or
        running); its own request then raises ApiError `cancelled` (499).
        Raises ApiError `run_not_found` when no such run is in progress."""
        return self.request("POST", "/v1/runs/" + urllib.parse.quote(run_id, safe="") + "/cancel")

    def health(self) -> Dict[str, Any]:
        """GET /healthz (a 503 while booting raises ApiError)."""
        return self.request("GET", "/healthz")

    def metrics(self) -> str:
        """GET /metrics, Prometheus text."""
        return self.request("GET", "/metrics")

    def openapi(self) -> Dict[str, Any]:
        """GET /v1/openapi.json: the server's contract."""
        return self.request("GET", "/v1/openapi.json")

    def list_sessions(self, *, limit: Optional[int] = None, after: Optional[str] = None) -> SessionList:
        """GET /v1/sessions: one page of this caller's sessions, in id order."""
        query = {k: v for k, v in (("limit", limit), ("after", after)) if v is not None}
        path = "/v1/sessions" + ("?" + urllib.parse.urlencode(query) if query else "")
        answer = self.request("GET", path)
        return SessionList([SessionSummary.from_json(one) for one in answer["sessions"]], answer.get("next"))

    def iter_sessions(self, *, page_size: Optional[int] = None) -> Iterator[SessionSummary]:
        """Every session of this caller, a page at a time."""
        after: Optional[str] = None
        while True:
            page = self.list_sessions(limit=page_size, after=after)
            yield from page.sessions
            if page.next is None:
                return
            after = page.next


class Session:
    """A session: a namespace kept between runs. A context manager that ends
    the session on exit."""

    def __init__(self, client: Client, info: Optional[SessionInfo], session_id: Optional[str] = None) -> None:
        self.client = client
        self.info = info
        self.id: str = info.id if info is not None else str(session_id)
        self.summary: Optional[SessionSummary] = None  # set by fork()
        self.ended = False

    def __repr__(self) -> str:
        return f"Session({self.id!r})"

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self.ended:
            try:
                self.end()
            except ApiError as e:
                if e.code != "session_not_found":  # expired already: nothing to end
                    raise

    @property
    def _path(self) -> str:
        return "/v1/sessions/" + urllib.parse.quote(self.id, safe="")

    def run(self, code: str, *, scope: Optional[Mapping[str, Any]] = None,
            dynamic: Optional[Mapping[str, Any]] = None, mode: Optional[str] = None,
            timeout_ms: Optional[int] = None, return_: Optional[Return] = None,
            stdin: Optional[str] = None, files: Optional[Sequence[Mapping[str, Any]]] = None,
            raise_errors: Optional[bool] = None) -> RunResult:
        """POST /v1/sessions/{id}/run."""
        body = _run_body(code, mode, scope, dynamic, return_, timeout_ms, stdin, files)
        return self.client._result(self.client.request("POST", self._path + "/run", body), raise_errors)

    def stream(self, code: str, *, scope: Optional[Mapping[str, Any]] = None,
               dynamic: Optional[Mapping[str, Any]] = None, mode: Optional[str] = None,
               timeout_ms: Optional[int] = None, return_: Optional[Return] = None,
               stdin: Optional[str] = None, files: Optional[Sequence[Mapping[str, Any]]] = None,
               raise_errors: Optional[bool] = None) -> RunStream:
        """run() in this session, answered as events (see Client.stream)."""
        body = _run_body(code, mode, scope, dynamic, return_, timeout_ms, stdin, files)
        return self.client._stream(self._path + "/run", body, raise_errors)

    def eval(self, expression: str, **kw: Any) -> Any:
        kw["raise_errors"] = True
        return self.run(expression, mode="eval", **kw).result

    def get(self) -> SessionInfo:
        """GET /v1/sessions/{id}: its scope now."""
        self.info = SessionInfo.from_json(self.client.request("GET", self._path))
        return self.info

    @property
    def scope(self) -> Dict[str, Any]:
        return self.get().scope

    def end(self) -> Dict[str, Any]:
        """DELETE /v1/sessions/{id}; the server's answer ({"ok": true, "id": ...})."""
        answer = self.client.request("DELETE", self._path)
        self.ended = True
        return answer

    def fork(self) -> "Session":
        """POST /v1/sessions/{id}/fork: a new session with this one's state
        now (this one is untouched). Its `info` is None until get()."""
        answer = self.client.request("POST", self._path + "/fork")
        forked = Session(self.client, None, answer["id"])
        forked.summary = SessionSummary.from_json(answer)
        return forked

    def export(self) -> SessionExport:
        """GET /v1/sessions/{id}/export: its signed image, for
        Client.session(image=...) on any server sharing the session key."""
        answer = self.client.request("GET", self._path + "/export")
        return SessionExport(SessionSummary.from_json(answer), answer["image"])

