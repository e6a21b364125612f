"""After a stateless run, the whole Emscripten file system is what it was
after boot (wasm/runtime/fsstate.mjs): the tree, every entry's metadata and
contents, and the inode counter. Seen from Python inside runs, through a
real server with one worker (so every run lands on the same one)."""

import pytest

from scopebox_server import ScopeboxServer

# Every entry reachable from /, with what stat says (times to the
# nanosecond, the inode), link targets and a digest of each file's bytes.
WALK = r'''
import hashlib, os, stat
def walk(p, out):
    try:
        names = sorted(os.listdir(p))
    except OSError as e:
        out.append((p, "listdir", e.errno))
        return
    out.append((p, "entries", names))
    for n in names:
        q = p.rstrip("/") + "/" + n
        try:
            st = os.lstat(q)
        except OSError as e:
            out.append((q, "lstat", e.errno))
            continue
        out.append((q, st.st_mode, st.st_ino, st.st_size, st.st_uid, st.st_gid,
                    st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns))
        if stat.S_ISLNK(st.st_mode):
            out.append((q, "link", os.readlink(q)))
        elif stat.S_ISDIR(st.st_mode):
            walk(q, out)
        elif stat.S_ISREG(st.st_mode):
            with open(q, "rb") as f:
                out.append((q, "sha256", hashlib.sha256(f.read()).hexdigest()))
tree = []
walk("/", tree)
fd = os.open("/tmp/probe", os.O_CREAT | os.O_WRONLY)
ino = os.fstat(fd).st_ino
os.close(fd)
os.unlink("/tmp/probe")
r, w = os.pipe()
pipe = (os.readlink(f"/proc/self/fd/{r}"), os.fstat(r).st_ino)
os.close(r); os.close(w)
repr((tree, ino, pipe, os.getcwd()))
'''

# Writes, links, renames, utimes and chowns everywhere it can; leaves files
# open, a pipe full, the cwd elsewhere.
DIRTY = r'''
import os, stat
done = []
def attempt(f, *a):
    try:
        f(*a)
        done.append((f.__name__, a[0]))
    except Exception:  # OSError mostly; some calls are not implemented at all
        pass
paths = []
def collect(p):
    paths.append(p)
    try:
        names = os.listdir(p)
    except OSError:
        return
    for n in names:
        q = p.rstrip("/") + "/" + n
        try:
            if stat.S_ISDIR(os.lstat(q).st_mode):
                collect(q)
            else:
                paths.append(q)
        except OSError:
            pass
collect("/")
for p in paths:
    attempt(os.utime, p, (12345, 67890))
    attempt(os.chown, p, 1000, 1000)
    attempt(os.chmod, p, 0o777)
    try:
        with open(p, "r+b") as f:
            f.write(b"changed")
        done.append(("write", p))
    except OSError:
        pass
for d in [p for p in paths if os.path.isdir(p)]:
    base = d.rstrip("/")
    attempt(os.mkdir, base + "/newdir")
    try:
        with open(base + "/newfile", "wb") as f:
            f.write(b"x" * 1000)
        done.append(("create", base))
    except OSError:
        pass
    attempt(os.symlink, "/lib", base + "/newlink")
    attempt(os.rename, base + "/newdir", base + "/renamed")
    attempt(os.rename, base + "/newfile", base + "/renamedfile")
for d in reversed([p for p in paths if os.path.isdir(p)]):  # deepest first
    for name in os.listdir(d):
        attempt(os.rename, d.rstrip("/") + "/" + name, d.rstrip("/") + "/" + name + ".moved")
for i in range(200):
    attempt(os.mkdir, f"/tmp/many{i}")
kept = [open("/tmp/kept", "wb"), open("/lib/python314.zip", "rb")]
r, w = os.pipe()
os.write(w, b"p" * 10000)
for i in range(20):
    os.pipe()
os.chdir("/tmp")
len(done)
'''


@pytest.fixture(scope="module")
def server():
    with ScopeboxServer("--workers", "1") as s:
        s.wait_healthy(1)
        yield s


def walk(server):
    status, _, out = server.run({"code": WALK})
    assert status == 200 and out["ok"], out
    return out["result"]


def test_dirty_run_changed_things(server):
    """The dirty run does get to change the tree (else the test below is
    empty): writes in the writable directories, /dev/shm, /proc, and times on
    read-only files."""
    status, _, out = server.run({"code": DIRTY + "\ndone"})
    assert status == 200 and out["ok"], out
    done = {tuple(x["items"]) if isinstance(x, dict) else tuple(x) for x in out["result"]}
    kinds = {k for k, _ in done}
    assert {"mkdir", "create", "symlink", "rename", "utime"} <= kinds, kinds
    assert any(k == "create" and p.startswith("/dev/shm") for k, p in done), done
    assert any(k == "utime" and p == "/lib/python314.zip" for k, p in done), done


def test_whole_tree_is_back_after_a_run(server):
    before = walk(server)
    status, _, out = server.run({"code": DIRTY})
    assert status == 200 and out["ok"] and out["result"] > 0, out
    after = walk(server)
    assert after == before


def test_inode_counter_does_not_count_earlier_runs(server):
    """A file made in a fresh run gets the same inode number however many
    files earlier runs made."""
    first = walk(server)
    for _ in range(3):
        status, _, out = server.run({"code": "import os\nfor i in range(500): os.mkdir(f'/tmp/d{i}')"})
        assert status == 200 and out["ok"], out
    assert walk(server) == first


def test_standard_devices_do_not_end_the_worker(server):
    """Opening /dev/stdin for writing used to throw inside Pyodide (its
    stdin read node's stdin, which has no fd on the interpreter thread) and
    end the worker; stdin is now at end of file."""
    pids = server.worker_pids()
    code = ("import os\nout = []\n"
            "for p in ('/dev/stdin', '/dev/stdout', '/dev/stderr', '/dev/tty'):\n"
            "    try:\n        with open(p, 'r+b', buffering=0) as f:\n            f.write(b'x')\n"
            "        out.append('ok')\n"
            "    except Exception as e:\n        out.append(type(e).__name__)\n"
            "import sys\nout.append(sys.stdin.read())\n"
            "try:\n    input()\nexcept EOFError:\n    out.append('EOF')\nout")
    status, _, out = server.run({"code": code})
    assert status == 200 and out["ok"], out
    assert out["result"][-2:] == ["", "EOF"], out
    assert server.worker_pids() == pids
