"""Python client of scopebox (standard library only, Python >= 3.9).

    from scopebox import Client
    c = Client("http://127.0.0.1:8080")
    r = c.run("x * 2", mode="eval", scope={"x": (1, 2)})
    r.result                      # (1, 2, 1, 2): values come back as Python types
    with c.session(scope={"n": 1}) as s:
        s.run("n += 1")
        s.eval("n")               # 2
    for event in c.stream("print(1)"):   # output as it comes, then the answer
        ...                       # OutputEvent(stream, text) ..., ResultEvent(result)

The HTTP contract is server/openapi.yaml; `scopebox` on the command line is
scopebox.cli.
"""
from .client import (ApiError, Client, Frame, OutputEvent, ResultEvent, RunEvent, RunResult,
                     RunStream, ScopeboxError, Session, SessionExport, SessionInfo, SessionList,
                     SessionSummary, SnippetError, TracebackFrame)
from .values import Cut, Cycle, Opaque, decode, encode, is_truncated

__all__ = ["Client", "Session", "RunResult", "SessionInfo", "SessionSummary", "SessionList",
           "SessionExport", "Frame", "TracebackFrame",
           "ScopeboxError", "SnippetError", "ApiError", "RunStream", "OutputEvent", "ResultEvent",
           "RunEvent", "Opaque", "Cut", "Cycle", "decode",
           "encode", "is_truncated"]
__version__ = "0.1.0"
