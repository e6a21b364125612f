"""Files in and out of a run: the request's `files`, written into the
writable directories before the snippet starts, and its `collect` globs,
read back after it ends.

The host (server/request.c) has checked types, sizes, paths and globs, so
a request that fails here is one only this side can judge (a session that
moved its cwd out of the writable directories, a full files cap): it is
refused as a BadRequest (the host answers 400), and the files and
directories it had created are removed again.
"""
import binascii
import glob
import os
import re
import stat

from .namespace import BadRequest

# isolation.mjs, WRITABLE_DIRS: the only directories a run may change (the
# rest of the file system is read-only), emptied by every stateless reset
# and carried in a session's image.
WRITABLE_DIRS = ("/tmp", "/home/pyodide")

# What `collect` returns at most; the rest is counted (truncated.files) or
# listed without content (`omitted`). Well inside the answer's budget.
COLLECT_FILES = 100
COLLECT_BYTES = 4 * 1024 * 1024


def _writable(full):
    return any(full.startswith(d + "/") for d in WRITABLE_DIRS)


def _resolve(path, what):
    """The absolute, normalised path, inside a writable directory; symbolic
    links on the way (a session may have made some) are followed first."""
    full = os.path.normpath(os.path.join(os.getcwd(), path))
    parent = os.path.realpath(os.path.dirname(full))
    full = os.path.join(parent, os.path.basename(full))
    if not _writable(full):
        raise BadRequest("invalid_path", f"{what}: '{path}' resolves to {full}, outside the writable "
                                         f"directories ({', '.join(WRITABLE_DIRS)})")
    return full


def _content(entry, what):
    if "text" in entry:
        return entry["text"].encode("utf-8", "surrogatepass")
    try:
        return binascii.a2b_base64(entry["base64"], strict_mode=True)
    except (binascii.Error, ValueError):
        raise BadRequest("invalid_value", f"{what}.base64 is not base64") from None


def put(files):
    """Writes the request's files (after checking all of them); on failure
    removes what it created, so a refused request changes nothing."""
    if not files:
        return
    plan = []
    for i, entry in enumerate(files):
        what = f"files[{i}]"
        plan.append((_resolve(entry["path"], what + ".path"), _content(entry, what), what))
    made = []
    try:
        for full, data, what in plan:
            _make_parents(os.path.dirname(full), made)
            existed = os.path.lexists(full)
            try:
                with open(full, "wb") as f:
                    f.write(data)
            except OSError as e:
                raise BadRequest(_code(e), f"{what}: cannot write {full}: {e.strerror}") from None
            if not existed:
                made.append(full)
    except BaseException:
        for path in reversed(made):
            try:
                os.rmdir(path) if os.path.isdir(path) else os.unlink(path)
            except OSError:
                pass
        raise


def _code(e):
    # ENOSPC: the worker's files cap (fsquota.mjs), errno 51 under Pyodide.
    return "files_too_large" if e.errno in (28, 51) else "invalid_path"


def _make_parents(d, made):
    missing = []
    while not os.path.isdir(d):
        missing.append(d)
        d = os.path.dirname(d)
    for p in reversed(missing):
        try:
            os.mkdir(p)
        except OSError as e:
            raise BadRequest(_code(e), f"cannot make directory {p}: {e.strerror}") from None
        made.append(p)


def _matcher(patterns):
    # The cwd is a literal prefix: a session may have moved it to a
    # directory whose name holds glob characters.
    cwd = glob.escape(os.getcwd())
    regexes = []
    for p in patterns:
        full = os.path.normpath(os.path.join(cwd, p))
        regexes.append(re.compile(glob.translate(full, recursive=True, include_hidden=True)))
    return lambda path: any(r.fullmatch(path) for r in regexes)


def _shown(full, cwd):
    """As the client would name it: relative to the cwd when inside it."""
    prefix = cwd.rstrip("/") + "/"
    return full[len(prefix):] if full.startswith(prefix) else full


def _walk():
    for top in WRITABLE_DIRS:
        for d, dirs, names in os.walk(top):
            dirs.sort()
            for n in sorted(names):
                yield os.path.join(d, n)


def collect(patterns):
    """(entries, left_out): the regular files under the writable directories
    that match any pattern, sorted by path, at most COLLECT_FILES; contents
    up to COLLECT_BYTES in all (files past that are listed with `omitted`).
    Symbolic links are not followed nor listed."""
    if not patterns:
        return [], 0
    matches = _matcher(patterns)
    cwd = os.getcwd()
    entries, left_out, room = [], 0, COLLECT_BYTES
    for full in _walk():
        try:
            st = os.lstat(full)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or not matches(full):
            continue
        if len(entries) >= COLLECT_FILES:
            left_out += 1
            continue
        entry = {"path": _shown(full, cwd), "size": st.st_size}
        if st.st_size > room:
            entry["omitted"] = True
        else:
            try:
                with open(full, "rb") as f:
                    data = f.read(room)
            except OSError:  # made unreadable by the run (chmod 0)
                entry["omitted"] = True
                entries.append(entry)
                continue
            room -= len(data)
            try:
                entry["text"] = data.decode("utf-8")
            except UnicodeDecodeError:
                entry["base64"] = binascii.b2a_base64(data, newline=False).decode("ascii")
        entries.append(entry)
    return entries, left_out
