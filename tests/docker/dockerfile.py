"""Reads the repository's Dockerfile the way the tests here need it: its
stages and instructions, and the plan for carrying out the image's steps
natively (no Docker engine here): which scripts run, with which arguments,
and how the image's paths map to a directory on the host.

The rule this enforces (see test_dockerfile.py): a RUN line is `bash
SCRIPT ARGS...` steps joined by `&&`, plus `rm -rf` clean-up; the scripts live
under docker/; test_image.py runs every one of them except docker/build.sh,
which tests/run.sh (what CI runs) has already run for the same build tree.
"""
import json
import os
import re
import shlex
from dataclasses import dataclass, field

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOCKERFILE = os.path.join(REPO, "Dockerfile")

# Scripts the native plan does not run, and why; each must be one CI runs
# anyway (test_dockerfile.py checks that against .ci/run).
ALREADY_RUN_BY_CI = {"docker/build.sh": "tests/run.sh built this tree with it"}


@dataclass
class Instruction:
    op: str        # upper case: FROM, RUN, COPY, ...
    flags: dict    # --from=build, --chmod=0755, ...
    args: str      # the rest, continuation lines joined
    line: int

    def exec_form(self):
        """The JSON array form's list, or None for the shell form."""
        text = self.args.strip()
        if text.startswith("["):
            value = json.loads(text)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return value
        return None


@dataclass
class Stage:
    base: str
    name: str
    instructions: list = field(default_factory=list)

    def all(self, op):
        return [i for i in self.instructions if i.op == op]

    def last(self, op):
        found = self.all(op)
        return found[-1] if found else None


def parse(path=DOCKERFILE):
    """Stages in order, each with its instructions (comments, blank lines and
    parser directives dropped; backslash continuations joined)."""
    with open(path) as f:
        lines = f.read().split("\n")
    logical, buf, start = [], "", None
    for no, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if start is None:
            start = no
        if raw.rstrip().endswith("\\"):
            buf += raw.rstrip()[:-1] + " "
            continue
        logical.append((start, buf + raw))
        buf, start = "", None
    if buf.strip():
        raise ValueError("Dockerfile ends inside a continued line")

    stages = []
    for no, text in logical:
        m = re.match(r"\s*([A-Za-z]+)\s*(.*)$", text)
        op, rest = m.group(1).upper(), m.group(2)
        flags = {}
        while True:
            fm = re.match(r"--([a-z-]+)(?:=(\S+))?\s+(.*)$", rest)
            if not fm or op in ("RUN",) and fm.group(1) not in ("mount", "network", "security"):
                break
            flags[fm.group(1)] = fm.group(2) if fm.group(2) is not None else True
            rest = fm.group(3)
        if op in ("HEALTHCHECK",):
            flags = {}
            rest = m.group(2)
        ins = Instruction(op, flags, rest.strip(), no)
        if op == "FROM":
            fm = re.match(r"(\S+)(?:\s+AS\s+(\S+))?\s*$", ins.args, re.I)
            if not fm:
                raise ValueError(f"line {no}: cannot read FROM {ins.args!r}")
            stages.append(Stage(fm.group(1), fm.group(2) or str(len(stages))))
        elif not stages:
            if op != "ARG":
                raise ValueError(f"line {no}: {op} before the first FROM")
        else:
            stages[-1].instructions.append(ins)
    return stages


def copy_paths(ins):
    """(sources, destination) of a COPY, JSON or shell form."""
    parts = ins.exec_form() or shlex.split(ins.args)
    return parts[:-1], parts[-1]


def healthcheck_command(ins):
    """The CMD of a HEALTHCHECK as argv, and its --options."""
    m = re.match(r"((?:--[a-z-]+=\S+\s+)*)CMD\s+(.*)$", ins.args, re.S)
    if not m:
        return None, {}
    opts = dict(re.findall(r"--([a-z-]+)=(\S+)", m.group(1)))
    cmd = m.group(2).strip()
    argv = json.loads(cmd) if cmd.startswith("[") else ["/bin/sh", "-c", cmd]
    return argv, opts


def run_steps(ins):
    """A RUN line as its `&&`-joined commands, each an argv list."""
    if ins.exec_form() is not None:
        return [ins.exec_form()]
    return [shlex.split(part) for part in re.split(r"\s*&&\s*", ins.args.strip()) if part]


@dataclass
class Step:
    stage: str
    kind: str       # "copy", "script", "skip", "cleanup"
    argv: list      # the command as the image runs it
    script: str = None  # repo-relative path of the script it runs
    reason: str = None
    line: int = 0


class Plan:
    """The image's steps, to be carried out natively under a fake root."""

    def __init__(self, stages):
        self.stages = stages
        self.final = stages[-1]
        self.steps = []
        self.errors = []
        # Image path -> repo path, from the stages' COPYs of context files
        # (and per stage name).
        self.copied = {}
        self.copied_in = {}
        self._plan()

    def _stage_workdir(self, stage):
        w = stage.last("WORKDIR")
        return w.args if w else "/"

    def _plan(self):
        for stage in self.stages:
            workdir = "/"
            context_at = None  # where COPY . <dir> put the build context
            for ins in stage.instructions:
                if ins.op == "WORKDIR":
                    workdir = ins.args
                elif ins.op == "COPY":
                    srcs, dest = copy_paths(ins)
                    if "from" in ins.flags:
                        self.steps.append(Step(stage.name, "copy", ["COPY", f"--from={ins.flags['from']}", *srcs, dest],
                                               line=ins.line))
                        continue
                    for src in srcs:
                        if src in (".", "./"):
                            context_at = os.path.normpath(os.path.join(workdir, dest))
                            continue
                        target = os.path.join(workdir, dest)
                        if dest.endswith("/"):
                            target = os.path.join(target, os.path.basename(src.rstrip("/")))
                        self.copied[os.path.normpath(target)] = os.path.normpath(src)
                        self.copied_in.setdefault(stage.name, {})[os.path.normpath(target)] = os.path.normpath(src)
                    self.steps.append(Step(stage.name, "copy", ["COPY", *srcs, dest], line=ins.line))
                elif ins.op == "RUN":
                    for argv in run_steps(ins):
                        self.steps.append(self._classify(stage, argv, workdir, context_at, ins.line))

    def script_of(self, path, workdir="/", context_at=None):
        """The repo-relative script an image path names, or None."""
        full = os.path.normpath(os.path.join(workdir, path))
        if full in self.copied:
            return self.copied[full]
        if context_at and (full + "/").startswith(context_at.rstrip("/") + "/"):
            return os.path.relpath(full, context_at)
        return None

    def _classify(self, stage, argv, workdir, context_at, line):
        if argv[:2] == ["rm", "-rf"]:
            return Step(stage.name, "cleanup", argv, line=line)
        if len(argv) >= 2 and argv[0] == "bash":
            script = self.script_of(argv[1], workdir, context_at)
            if script is None:
                self.errors.append(f"line {line}: {argv[1]} is not a file the Dockerfile copied in")
                return Step(stage.name, "skip", argv, reason="unknown script", line=line)
            if script in ALREADY_RUN_BY_CI:
                return Step(stage.name, "skip", argv, script=script, reason=ALREADY_RUN_BY_CI[script], line=line)
            return Step(stage.name, "script", argv, script=script, line=line)
        self.errors.append(f"line {line}: RUN may only call `bash docker/SCRIPT` or `rm -rf`: {shlex.join(argv)}")
        return Step(stage.name, "skip", argv, reason="not allowed", line=line)

    # --- the final stage's run-time settings -------------------------------

    def env(self):
        """The final stage's ENV, in order."""
        out = {}
        for ins in self.final.all("ENV"):
            for m in re.finditer(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', ins.args):
                out[m.group(1)] = m.group(2).strip('"')
        return out

    def entrypoint(self):
        ins = self.final.last("ENTRYPOINT")
        return ins.exec_form() if ins else None

    def cmd(self):
        ins = self.final.last("CMD")
        return (ins.exec_form() or []) if ins else []

    def healthcheck(self):
        ins = self.final.last("HEALTHCHECK")
        return healthcheck_command(ins) if ins else (None, {})

    def user(self):
        ins = self.final.last("USER")
        return ins.args if ins else "root"

    def exposed(self):
        return [p for ins in self.final.all("EXPOSE") for p in ins.args.split()]

    def stopsignal(self):
        ins = self.final.last("STOPSIGNAL")
        return ins.args if ins else "SIGTERM"

    def image_roots(self):
        """Absolute paths the image makes: mapped under the fake root."""
        roots = set()
        for stage in self.stages:
            for ins in stage.all("COPY"):
                srcs, dest = copy_paths(ins)
                if "from" in ins.flags:
                    roots.update(s for s in srcs if s.startswith("/"))
                if dest.startswith("/") and stage is self.final:
                    roots.add(dest.rstrip("/") if dest != "/" else dest)
        return sorted(roots, key=len, reverse=True)


def mapper(plan, root):
    """A function taking an image path (or a string holding some) to where
    the native run keeps it: every path under a root the image makes moves
    under `root`; system paths (/usr/bin/tini) stay."""
    roots = plan.image_roots()

    def m(text):
        for r in roots:
            text = re.sub(r"(?<![\w/.-])" + re.escape(r) + r"(?=/|$|\s|:)", lambda _: root + r, text)
        return text
    return m
