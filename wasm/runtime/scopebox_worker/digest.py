"""Exact fingerprints of values, to tell which names a run changed.

A name is changed when its value differs by type or by value anywhere in it,
however deep or large (the answer's encoding bounds do not apply here):

- data (None, bool, int, float, str, bytes, complex, Decimal, dates and
  times, and list, tuple, dict, set, frozenset and their subclasses) by type
  and value, all the way down: `1`, `True` and `1.0` differ; dict items and
  set members in any order are equal (as `==` says); a float by its bits'
  value (`0.0` and `-0.0` differ, a NaN equals a NaN);
- modules, classes and functions by identity;
- any other object by its class (identity) and its attributes (`__dict__`
  and `__slots__`), compared by these same rules; an object that has
  neither (a C object such as a generator or a lock) by identity.

No code of the snippet runs here: attributes are read from the instance's
own storage, not through __getattr__, properties or __eq__.

Two ways, one answer. Pure data of exact built-in types (what marshal
writes: it tells 1, True and 1.0 apart, sorts set members, and refuses
subclasses, other objects and cycles) is kept as its marshal form, at C
speed; a value whose form differs after the run is compared again with the
digest below on the old value (loaded back) and the new one, so that a dict
whose items merely moved is not a change. Past KEEP_BYTES of kept forms in
one run, a value keeps only a hash of its form, and a dict whose items moved
counts as changed. Everything else gets a Digester digest: 16 bytes
(BLAKE2b) over a walk of the value; shared sub-values are digested once per
pass; a container inside itself digests as a back-reference to where it is
open.
"""
import datetime
import decimal
import marshal
import types
from _blake2 import blake2b

KEEP_BYTES = 16 * 1024 * 1024
_dumps, _loads = marshal.dumps, marshal.loads

_CODE = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType, types.MethodType,
         types.BuiltinMethodType, types.MethodWrapperType)
# repr() of these is exact and tells their types apart: a flat container of
# them digests from one repr (C speed) instead of item by item.
_FLAT = frozenset((type(None), bool, int, float, str, bytes))
_SEQ = (list, tuple)
_UNORDERED = (set, frozenset)
_CHUNK = 1 << 20


def _h(*parts):
    h = blake2b(digest_size=16)
    for p in parts:
        h.update(p)
    return h.digest()


def _type_tag(t):
    return f"{id(t)}:{type.__dict__['__qualname__'].__get__(t)}".encode("utf-8", "surrogatepass")


def _str_digest(s):
    h = blake2b(digest_size=16)
    h.update(b"s%d:" % len(s))
    for i in range(0, len(s), _CHUNK):
        h.update(s[i:i + _CHUNK].encode("utf-8", "surrogatepass"))
    return h.digest()


def _scalar(v, t):
    """The digest of a value without parts, or None."""
    if v is None:
        return b"N"
    if t is bool:
        return b"T" if v else b"F"
    if t is int:
        return _h(b"i", hex(v).encode())
    if t is float:
        return _h(b"f", v.hex().encode())
    if t is str:
        return _str_digest(v)
    if t is bytes or t is bytearray:
        return _h(b"b" if t is bytes else b"B", b"%d:" % len(v), v)
    if t is complex:
        return _h(b"c", v.real.hex().encode(), b",", v.imag.hex().encode())
    if t is decimal.Decimal:
        return _h(b"d", str(v).encode())
    if t in (datetime.datetime, datetime.date, datetime.time, datetime.timedelta):
        return _h(b"t", t.__name__.encode(), repr(v).encode("utf-8", "surrogatepass"))
    if isinstance(v, _CODE):
        return _h(b"@", b"%d" % id(v))
    return None


def _flat_repr(v, t):
    """One digest for a list/tuple/set of flat scalars, or None."""
    if not all(map(_FLAT.__contains__, map(type, v))):
        return None
    try:
        if t in _UNORDERED or issubclass(t, _UNORDERED):
            text = "\0".join(sorted(map(repr, v)))
        else:
            text = repr(list(v) if t is not list else v)
    except ValueError:  # an int past the decimal digit limit
        return None
    return _h(b"F", _type_tag(t), _str_digest(text))


_type_dict = type.__dict__["__dict__"].__get__
_type_mro = type.__dict__["__mro__"].__get__


def _instance_state(v):
    """(dict or None, [(slot, value)]) read from the object's own storage
    through the C descriptors (a class's own `__dict__` property or
    metaclass is not consulted)."""
    state = None
    slots = []
    for klass in _type_mro(type(v)):
        members = _type_dict(klass)
        descr = members.get("__dict__")
        if state is None and type(descr) is types.GetSetDescriptorType:
            try:
                state = descr.__get__(v)
            except Exception:
                state = None
            if type(state) is not dict:
                state = None
        names = members.get("__slots__", ())
        if isinstance(names, str):
            names = (names,)
        for name in names if type(names) in (tuple, list) else ():
            descr = members.get(name) if type(name) is str else None
            if type(descr) is types.MemberDescriptorType:
                try:
                    slots.append((name, descr.__get__(v)))
                except AttributeError:  # an unset slot
                    slots.append((name, _UNSET))
    return state, slots


_UNSET = object()


class _Frame:
    """A value being digested: `todo` yields its parts, the first `n` of
    which are its items (the rest: a subclass instance's attributes)."""
    __slots__ = ("obj", "kind", "head", "todo", "parts", "n")

    def __init__(self, obj, kind, head, todo, n=0):
        self.obj, self.kind, self.head, self.todo, self.parts, self.n = obj, kind, head, todo, [], n


class Digester:
    """One pass over a namespace: sub-values shared between names are
    digested once (memo by id, objects kept alive for the pass)."""

    def __init__(self):
        self.memo = {}

    def digest(self, root):
        memo = self.memo
        stack = []
        open_at = {}  # id -> position in stack
        out = []

        def visit(v, into):
            t = type(v)
            d = _scalar(v, t)
            if d is not None:
                into.append(d)
                return
            key = id(v)
            hit = memo.get(key)
            if hit is not None:
                into.append(hit[1])
                return
            if key in open_at:
                into.append(b"cycle%d" % (len(stack) - open_at[key]))
                return
            frame = self._frame(v, t)
            if frame.kind == "done":  # digested whole
                memo[key] = (v, frame.head)
                into.append(frame.head)
                return
            open_at[key] = len(stack)
            stack.append(frame)

        visit(root, out)
        while stack:
            frame = stack[-1]
            nxt = next(frame.todo, _UNSET)
            if nxt is not _UNSET:
                visit(nxt, frame.parts)
                continue
            stack.pop()
            del open_at[id(frame.obj)]
            d = self._finish(frame)
            memo[id(frame.obj)] = (frame.obj, d)
            (stack[-1].parts if stack else out).append(d)
        return out[0]

    def _frame(self, v, t):
        head = _type_tag(t)
        extra = ()
        if isinstance(v, (list, tuple, dict, set, frozenset, str, bytes, bytearray, int, float, complex)) and t not in (
                list, tuple, dict, set, frozenset):
            extra = self._attrs(v)  # a subclass: its own attributes count too
        if isinstance(v, _SEQ) or isinstance(v, _UNORDERED):
            if not extra:
                flat = _flat_repr(v, t)
                if flat is not None:
                    return _Frame(v, "done", flat, None)
            kind = "set" if isinstance(v, _UNORDERED) else "seq"
            items = list(v)
            return _Frame(v, kind, head, iter(items + list(extra)), len(items))
        if isinstance(v, dict):
            items = list(dict.items(v))
            if not extra and all(map(_FLAT.__contains__, map(type, dict.keys(v)))) and \
                    all(map(_FLAT.__contains__, map(type, dict.values(v)))):
                try:
                    return _Frame(v, "done", _h(b"FD", head, _str_digest("\0".join(sorted(map(repr, items))))), None)
                except ValueError:  # an int past the decimal digit limit
                    pass
            flat = [x for pair in items for x in pair]
            return _Frame(v, "dict", head, iter(flat + list(extra)), len(flat))
        if isinstance(v, (str, bytes, bytearray, int, float, complex)):  # a scalar's subclass
            base = next(b for b in (str, bytes, bytearray, bool, int, float, complex) if isinstance(v, b))
            return _Frame(v, "seq", head, iter([base(v) if base is not bool else bool(v), *extra]))
        state, slots = _instance_state(v)
        if state is None and not slots:
            return _Frame(v, "done", _h(b"@", b"%d" % id(v), head), None)
        todo = []
        if state is not None:
            todo.append(state)
        for name, value in slots:
            todo += (name, value)
        return _Frame(v, "seq", b"o" + head, iter(todo))

    @staticmethod
    def _attrs(v):
        state, slots = _instance_state(v)
        out = []
        if state:
            out.append(state)
        for name, value in slots:
            out += (name, value)
        return out

    @staticmethod
    def _finish(frame):
        parts, n = frame.parts, frame.n
        if frame.kind == "dict":
            pairs = sorted(_h(parts[i], parts[i + 1]) for i in range(0, n, 2))
            return _h(b"D%d:" % n, frame.head, *pairs, b"|", *parts[n:])
        if frame.kind == "set":
            return _h(b"S%d:" % n, frame.head, *sorted(parts[:n]), b"|", *parts[n:])
        return _h(b"L%d:" % n, frame.head, *parts)


def _marshal(v):
    try:
        return _dumps(v, 2)
    except (ValueError, MemoryError, RecursionError):  # not pure data, too deep, or a DAG too large
        return None


class Fingerprints:
    """fingerprint(value) before the run, changed(fingerprint, value) after."""

    def __init__(self):
        self.kept = 0
        self.digester = Digester()

    def fingerprint(self, v):
        form = _marshal(v)
        if form is None:
            try:
                return ("walk", self.digester.digest(v))
            except (MemoryError, RecursionError):  # no room to tell: it will count as changed
                return ("lost", None)
        if self.kept + len(form) <= KEEP_BYTES:
            self.kept += len(form)
            return ("form", form)
        return ("hash", _h(form))

    def changed(self, fp, v):
        kind, old = fp
        if kind == "lost":
            return True
        if kind == "walk":
            return self.digester.digest(v) != old
        form = _marshal(v)
        if form is None:  # was pure data, is not now: another type somewhere
            return True
        if kind == "hash":
            return _h(form) != old
        if form == old:
            return False
        try:
            before = _loads(old)
        except Exception:  # refused (an audit hook): the forms differ, say changed
            return True
        return Digester().digest(before) != self.digester.digest(v)
