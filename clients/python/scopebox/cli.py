"""The `scopebox` command line, on the Python client.

    scopebox run FILE.py | - | -c CODE [--scope name=json]... [--dynamic name=json]...
                 [--eval] [--timeout 2s] [--session ID] [--json]
    scopebox session start [--scope name=json]... [--image FILE|-]   (prints the id)
    scopebox session run ID FILE.py | - | -c CODE [run options]
    scopebox session show ID
    scopebox session fork ID                                (prints the copy's id)
    scopebox session list
    scopebox session export ID > image.json                 (for start --image)
    scopebox session end ID

The server is --url, else $SCOPEBOX_URL, else http://127.0.0.1:8080; an API
key is --api-key or $SCOPEBOX_API_KEY. A run prints the snippet's stdout (to
stdout) and stderr (to stderr) as the snippet writes them (the run is
streamed), then its result unless it is None, or its error with the
traceback (to stderr); interrupting the command cancels the run. Exit status: 0 ran, 1 the snippet
raised, 2 bad usage, 3 the server refused or failed the request (the API
error is printed), 4 the server cannot be reached, 130 interrupted.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any, Dict, List, Optional, Sequence, TextIO

from .client import DEFAULT_URL, ApiError, Client, OutputEvent, RunResult, RunStream, ScopeboxError
from .values import decode

EXIT_OK, EXIT_RAISED, EXIT_USAGE, EXIT_API, EXIT_UNREACHABLE = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130  # as a shell reports SIGINT


class UsageError(Exception):
    pass


def parse_binding(text: str, flag: str) -> "tuple[str, Any]":
    """name=json -> (name, Python value); tagged values ({"$type": ...}) are
    taken as the API means them."""
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise UsageError(f"{flag} takes name=json, got {text!r}")
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise UsageError(f"{flag} {name}: not JSON ({e}); quote strings: {name}='\"text\"'") from None
    return name, decode(value)


def parse_timeout(text: str) -> int:
    """500ms, 2s, 1.5 (seconds) -> milliseconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*", text)
    if not m:
        raise UsageError(f"--timeout takes a duration like 500ms or 2s, got {text!r}")
    value, unit = float(m.group(1)), m.group(2) or "s"
    ms = int(round(value if unit == "ms" else value * 1000))
    if ms < 1:
        raise UsageError("--timeout must be at least 1ms")
    return ms


def read_code(args: argparse.Namespace) -> str:
    if args.code is not None:
        if args.file is not None:
            raise UsageError("give a FILE or -c CODE, not both")
        return args.code
    if args.file is None:
        raise UsageError("give a FILE, - (stdin) or -c CODE")
    if args.file == "-":
        return sys.stdin.read()
    try:
        with open(args.file, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise UsageError(f"cannot read {args.file}: {e.strerror}") from None


def read_image(path: Optional[str]) -> Optional[str]:
    """--image: what `session export` printed (its JSON), or bare base64."""
    if path is None:
        return None
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    text = text.strip()
    if text.startswith("{"):
        try:
            image = json.loads(text).get("image")
        except ValueError as e:
            raise UsageError(f"--image {path}: not JSON ({e})") from None
        if not isinstance(image, str):
            raise UsageError(f"--image {path}: no \"image\" in it (the output of `session export`)")
        return image
    return text


def bindings(items: Optional[Sequence[str]], flag: str) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for item in items or []:
        name, value = parse_binding(item, flag)
        out[name] = value
    return out


def print_stream(stream: RunStream, out: TextIO, err: TextIO) -> int:
    """Output as it comes, then what print_run prints after it."""
    shown = {"stdout": 0, "stderr": 0}
    with stream:
        for event in stream:
            if isinstance(event, OutputEvent):
                f = out if event.stream == "stdout" else err
                f.write(event.text)
                f.flush()
                shown[event.stream] += len(event.text)
            else:
                return print_run(event.result, out, err, shown)
    raise ScopeboxError("the event stream ended without its result")


def print_run(result: RunResult, out: TextIO, err: TextIO,
              shown: Optional[Dict[str, int]] = None) -> int:
    """`shown`: how much of each stream was printed already, as it came (the
    server may drop output events for a client that reads slowly; the
    answer has all of it)."""
    shown = shown or {}
    out.write(result.stdout[shown.get("stdout", 0):])
    if result.truncated.get("stdout"):
        out.write("\n[stdout truncated by the server]\n")
    out.flush()
    err.write(result.stderr[shown.get("stderr", 0):])
    if result.truncated.get("stderr"):
        err.write("\n[stderr truncated by the server]\n")
    if result.error is not None:
        if result.stderr and not result.stderr.endswith("\n"):
            err.write("\n")
        err.write(result.error.format() + "\n")
        err.flush()
        return EXIT_RAISED
    err.flush()
    if result.result is not None:
        if result.stdout and not result.stdout.endswith("\n"):
            out.write("\n")
        out.write(repr(result.result) + "\n")
    return EXIT_OK


def print_json(body: Any, out: TextIO) -> None:
    out.write(json.dumps(body, ensure_ascii=False) + "\n")


def add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", metavar="FILE", help="Python file to run, or - for stdin")
    p.add_argument("-c", dest="code", metavar="CODE", help="the code to run")
    p.add_argument("--scope", action="append", metavar="NAME=JSON",
                   help="a module-level variable (repeatable); tagged values allowed")
    p.add_argument("--dynamic", action="append", metavar="NAME=JSON",
                   help="a root dynamic binding (repeatable)")
    p.add_argument("--eval", action="store_true", help="evaluate one expression (mode eval)")
    p.add_argument("--timeout", metavar="DURATION", help="time limit, e.g. 500ms or 2s")
    p.add_argument("--return", dest="return_", metavar="NAMES",
                   help="which names come back: data (default), all, or a comma-separated list")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=None,
                        help=f"the server (default $SCOPEBOX_URL or {DEFAULT_URL})")
    common.add_argument("--api-key", default=None, help="API key (default $SCOPEBOX_API_KEY)")
    common.add_argument("--json", action="store_true", help="print the server's raw JSON answer")

    # The common options go on the leaves only: argparse would let a
    # subcommand's defaults overwrite what was given before it.
    p = argparse.ArgumentParser(prog="scopebox", description="Run Python snippets on a scopebox server.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    run = sub.add_parser("run", parents=[common], help="run a snippet")
    add_run_options(run)
    run.add_argument("--session", metavar="ID", help="run in this session")

    session = sub.add_parser("session", help="start, use and end sessions")
    ssub = session.add_subparsers(dest="action", metavar="ACTION")
    ssub.required = True
    start = ssub.add_parser("start", parents=[common], help="start a session; prints its id")
    start.add_argument("--scope", action="append", metavar="NAME=JSON")
    start.add_argument("--image", metavar="FILE",
                       help="start from what `session export` printed (a file, or - for stdin)")
    srun = ssub.add_parser("run", parents=[common], help="run a snippet in a session")
    srun.add_argument("id", metavar="ID")
    add_run_options(srun)
    show = ssub.add_parser("show", parents=[common], help="print a session's scope")
    show.add_argument("id", metavar="ID")
    end = ssub.add_parser("end", parents=[common], help="end a session")
    end.add_argument("id", metavar="ID")
    fork = ssub.add_parser("fork", parents=[common], help="copy a session; prints the copy's id")
    fork.add_argument("id", metavar="ID")
    ssub.add_parser("list", parents=[common], help="list your sessions")
    export = ssub.add_parser("export", parents=[common], help="print a session's signed image (JSON)")
    export.add_argument("id", metavar="ID")
    return p


def run_options(args: argparse.Namespace) -> Dict[str, Any]:
    opts: Dict[str, Any] = {"scope": bindings(args.scope, "--scope"),
                            "dynamic": bindings(args.dynamic, "--dynamic")}
    if args.eval:
        opts["mode"] = "eval"
    if args.timeout is not None:
        opts["timeout_ms"] = parse_timeout(args.timeout)
    if args.return_ is not None:
        opts["return_"] = args.return_ if args.return_ in ("data", "all") else \
            [n for n in args.return_.split(",") if n]
    return opts


def dispatch(args: argparse.Namespace, client: Client, out: TextIO, err: TextIO) -> int:
    if args.command == "run" or args.action == "run":
        code, opts = read_code(args), run_options(args)
        if not args.json:
            if args.command == "run":
                return print_stream(client.stream(code, session=args.session, **opts), out, err)
            return print_stream(client.attach(args.id).stream(code, **opts), out, err)
        if args.command == "run":
            result = client.run(code, session=args.session, **opts)
        else:
            result = client.attach(args.id).run(code, **opts)
        print_json(result.raw, out)
        return EXIT_RAISED if result.error is not None else EXIT_OK
    if args.action == "start":
        s = client.session(scope=bindings(args.scope, "--scope"), image=read_image(args.image))
        if args.json:
            print_json(s.info.raw if s.info else {"id": s.id}, out)
        else:
            out.write(s.id + "\n")
        return EXIT_OK
    if args.action == "show":
        info = client.attach(args.id).get()
        if args.json:
            print_json(info.raw, out)
        else:
            for name, value in info.scope.items():
                out.write(f"{name} = {value!r}\n")
            for name, kind in info.definitions.items():
                out.write(f"{name}: {kind}\n")
        return EXIT_OK
    if args.action == "fork":
        f = client.attach(args.id).fork()
        if args.json:
            print_json(f.summary.raw if f.summary else {"id": f.id}, out)
        else:
            out.write(f.id + "\n")
        return EXIT_OK
    if args.action == "list":
        sessions = list(client.iter_sessions())
        if args.json:
            print_json([x.raw for x in sessions], out)
        for x in sessions if not args.json else ():
            out.write(f"{x.id}  runs {x.runs}  last used {x.last_used}\n")
        return EXIT_OK
    if args.action == "export":
        exported = client.attach(args.id).export()
        print_json(exported.summary.raw, out)  # the whole answer: the image and what it is of
        return EXIT_OK
    if args.action == "end":
        answer = client.attach(args.id).end()
        if args.json:
            print_json(answer, out)
        return EXIT_OK
    raise UsageError("unknown command")


def main(argv: Optional[List[str]] = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse has printed why
        return EXIT_USAGE if e.code else EXIT_OK
    url = args.url or os.environ.get("SCOPEBOX_URL") or DEFAULT_URL
    client = Client(url, api_key=args.api_key or os.environ.get("SCOPEBOX_API_KEY") or None)
    try:
        return dispatch(args, client, out, err)
    except UsageError as e:
        err.write(f"scopebox: {e}\n")
        return EXIT_USAGE
    except (TypeError, ValueError) as e:  # a value with no request encoding
        err.write(f"scopebox: {e}\n")
        return EXIT_USAGE
    except ApiError as e:
        if args.json and e.body is not None:
            print_json(e.body, out)
        err.write(f"scopebox: {e.status} {e}\n")
        return EXIT_API
    except ScopeboxError as e:
        err.write(f"scopebox: {e}\n")
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:  # the stream is closed on the way out: the run is cancelled
        err.write("scopebox: interrupted\n")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
