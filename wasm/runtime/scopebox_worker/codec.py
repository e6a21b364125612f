"""Python values <-> JSON, both ways, as the HTTP API documents them.

JSON-native values travel unchanged; everything else is an object with a
"$type" tag (see server/openapi.yaml, "Value"). Encoding is bounded in depth,
container length, string length, total size and, through a Budget shared by
the whole answer, in bytes: every string that goes out (values, keys, type
names) is counted, and each cut is marked where it happened, so no value can
make an answer huge, slow or recursive.
"""
import base64
import datetime
import decimal
import math
from json.encoder import encode_basestring as _json_str

from . import jsontext

MAX_DEPTH = 32
MAX_ITEMS = 1000
MAX_STR = 64 * 1024
MAX_REPR = 1000
MAX_NODES = 20000
# Type names go out in tags and errors: a class may be given any __name__.
MAX_TYPE_NAME = 1000
# Integers beyond 2**53 are not exact as JSON numbers in most clients.
MAX_EXACT_INT = 2**53


class DecodeError(ValueError):
    """A client value that is not valid; `path` names where (e.g. scope.x[2])."""

    def __init__(self, path, message):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def clip(text, limit):
    """`text` cut to `limit` characters, the cut marked in the text itself
    (for fields that are plain strings in the schema)."""
    if len(text) > limit:
        text = f"{text[:limit]}… [{len(text) - limit} more characters]"
    return text if _str_is_utf8(text) else utf8_safe(text)


def utf8_safe(text):
    """`text` with lone surrogates written as escapes (JSON cannot hold them)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _attr_str(obj, name):
    # type.__dict__ lookups, so a metaclass cannot run code here.
    try:
        value = type.__dict__[name].__get__(obj)
    except Exception:
        return None
    return value if type(value) is str else None


def class_name(t):
    """`Class` for built-ins and the snippet's own classes (module
    `__main__`), `module.Class` for the rest; cut to MAX_TYPE_NAME."""
    qual = _attr_str(t, "__qualname__") or "?"
    mod = _attr_str(t, "__module__")
    name = qual if mod in ("builtins", "__main__", None) else f"{mod}.{qual}"
    return clip(name, MAX_TYPE_NAME)


def type_name(value):
    return class_name(type(value))


def safe_repr(value, limit=MAX_REPR):
    try:
        text = repr(value)
    except Exception as e:  # a broken __repr__ must not break the answer
        return f"<repr failed: {type(e).__name__}>"
    if type(text) is not str:
        return "<repr failed: not a str>"
    if len(text) > limit:
        text = text[:limit] + "…"
    return text if _str_is_utf8(text) else utf8_safe(text)


def utf8_prefix(s, limit):
    """The longest prefix of `s` that takes at most `limit` bytes in UTF-8
    (lone surrogates count as 3), and its size."""
    if len(s) <= limit and s.isascii():
        return s, len(s)
    head = s[:limit]
    raw = head.encode("utf-8", "surrogatepass")
    if len(raw) <= limit:
        return head, len(raw)
    raw = raw[:limit]
    end = len(raw)
    while end > 0 and raw[end - 1] & 0xC0 == 0x80:  # continuation bytes
        end -= 1
    if end > 0 and raw[end - 1] >= 0xC0:  # a lead byte: is its sequence whole?
        lead = raw[end - 1]
        need = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        if len(raw) - (end - 1) < need:
            raw = raw[: end - 1]
    return raw.decode("utf-8", "surrogatepass"), len(raw)


# The bytes JSON escapes (json.encoder, ensure_ascii off): an ASCII string
# without them is itself between quotes.
_ESCAPED = bytes(range(32)) + b'"\\'
# Past this length, checking for them first is cheaper than escaping (in
# wasm, encode_basestring of 64 KiB of ASCII took ~1 ms, the check ~0.12).
_SCAN_FIRST = 256


def json_size(s):
    """Bytes `s` takes as a JSON string in the answer (quotes, escapes, UTF-8)."""
    if len(s) > _SCAN_FIRST and s.isascii():
        raw = s.encode("ascii")
        if len(raw.translate(None, _ESCAPED)) == len(raw):
            if len(s) >= jsontext.LONG:
                jsontext.plain(s)
            return len(raw) + 2
    quoted = _json_str(s)
    return len(quoted) if quoted.isascii() else len(quoted.encode("utf-8", "surrogatepass"))


class Budget:
    """The bytes an answer may still take. Everything the worker emits is
    charged against one Budget; `take` refuses what does not fit and
    remembers that something was cut. Markers saying so are charged with
    `force`, which may dip into RESERVE: there is at most one per open
    container and per answer field, so RESERVE bounds them."""

    RESERVE = 64 * 1024

    def __init__(self, nbytes):
        self.room = max(0, nbytes - self.RESERVE)
        self.cut = False
        self.names_omitted = 0

    def take(self, n):
        if n > self.room:
            self.cut = True
            return False
        self.room -= n
        return True

    def force(self, n):
        self.room -= n

    def share(self, limit):
        """Within the block, at most `limit` more bytes may be taken."""
        return _Share(self, limit)

    @property
    def spent(self):
        return self.cut and self.room < 256

    def text(self, s):
        """(s or the prefix of it that fits, whether it was cut) for a field
        that is a plain string; the cut is counted, the caller marks it."""
        n = json_size(s) + 1
        if self.take(n):
            return s, False
        room = max(0, self.room - 64)
        head, _ = utf8_prefix(s, room)
        while head and json_size(head) + 1 > room:  # escapes made it larger
            head = head[: len(head) // 2]
        self.force(json_size(head) + 1)
        return head, True

    def name(self, k):
        """Whether the name `k` may go out as a key (too long, not UTF-8 or
        past the budget: left out and counted)."""
        if type(k) is not str or len(k) > MAX_STR or not _str_is_utf8(k) or not self.take(json_size(k) + 2):
            self.names_omitted += 1
            return False
        return True


class _Share:
    """Budget.share's block. A class, not a generator: contextlib's ends
    every block with a StopIteration raised and caught, once per answer."""

    __slots__ = ("budget", "limit", "saved", "was_cut", "start")

    def __init__(self, budget, limit):
        self.budget = budget
        self.limit = limit

    def __enter__(self):
        b = self.budget
        self.saved, self.was_cut = b.room, b.cut
        b.room = min(self.saved, self.limit)
        self.start = b.room
        return b

    def __exit__(self, *exc):
        b = self.budget
        spent = self.start - b.room
        b.room = self.saved - spent
        b.cut = b.cut or self.was_cut
        return False


def _str_is_utf8(s):
    if s.isascii():
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: JSON parsers reject them
        return False
    return True


class _Encoder:
    def __init__(self, budget):
        self.nodes = 0
        self.active = set()  # ids of containers being encoded: a repeat is a cycle
        self.budget = budget

    def _marker(self, reason, of):
        self.budget.force(60 + len(of))
        return {"$type": "truncated", "reason": reason, "of": of}

    def _str(self, v):
        if not _str_is_utf8(v):
            text = safe_repr(v, MAX_STR)
            if not self.budget.take(json_size(text) + 24):
                return self._marker("budget", "str")
            return {"$type": "str", "repr": text}
        n = len(v)
        head = v if n <= MAX_STR else v[:MAX_STR]
        head, cut = self.budget.text(head)
        if n <= MAX_STR and not cut:
            return v
        if not head and cut:
            return self._marker("budget", "str")
        self.budget.force(60)
        return {"$type": "str", "value": head, "truncated": True, "length": n}

    def encode(self, v, depth):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            return self._marker("size", type_name(v))
        if self.budget.spent:
            return self._marker("budget", type_name(v))
        t = type(v)
        if v is None or t is bool:
            self.budget.force(6)
            return v
        if t is int:
            if -MAX_EXACT_INT <= v <= MAX_EXACT_INT:
                self.budget.force(18)
                return v
            if v.bit_length() > 4 * MAX_STR:  # a 64 KiB hex string at most
                return self._marker("budget", "int")
            try:
                tag = {"$type": "int", "value": str(v)}
            except ValueError:  # beyond sys.get_int_max_str_digits()
                tag = {"$type": "int", "hex": hex(v)}
            if not self.budget.take(len(tag.get("value") or tag["hex"]) + 32):
                return self._marker("budget", "int")
            return tag
        if t is float:
            self.budget.force(26)
            if math.isfinite(v):
                return v
            return {"$type": "float", "value": "nan" if v != v else ("inf" if v > 0 else "-inf")}
        if t is str:
            return self._str(v)
        if t in (bytes, bytearray):
            head = v[:MAX_STR]
            room = max(0, (self.budget.room - 80) * 3 // 4)
            if len(head) > room:
                head = head[:room]
            tag = {"$type": t.__name__, "base64": base64.b64encode(head).decode("ascii")}
            self.budget.force(len(tag["base64"]) + 40)
            if len(head) < len(v):
                if len(head) < min(len(v), MAX_STR):
                    self.budget.cut = True
                tag.update(truncated=True, length=len(v))
            return tag
        if t in (list, tuple, set, frozenset, dict):
            if depth >= MAX_DEPTH:
                return {"$type": "truncated", "reason": "depth", "of": t.__name__}
            if id(v) in self.active:
                return {"$type": "cycle", "of": t.__name__}
            self.active.add(id(v))
            try:
                return self._container(v, t, depth + 1)
            finally:
                self.active.discard(id(v))
        if t is datetime.datetime or t is datetime.date or t is datetime.time:
            self.budget.force(80)
            return {"$type": t.__name__, "iso": v.isoformat()}
        if t is datetime.timedelta:
            self.budget.force(60)
            return {"$type": "timedelta", "seconds": v.total_seconds()}
        if t is decimal.Decimal:
            text = str(v)
            if not self.budget.take(len(text) + 32):
                return self._marker("budget", "decimal")
            return {"$type": "decimal", "value": text}
        if t is complex:
            self.budget.force(40)
            return {"$type": "complex", "real": self.encode(v.real, depth), "imag": self.encode(v.imag, depth)}
        name, text = type_name(v), safe_repr(v)
        if not self.budget.take(json_size(name) + json_size(text) + 24):
            return self._marker("budget", name)
        return {"$type": name, "repr": text}

    def _plain_key(self, k):
        # A key that goes out as a JSON object member, whole.
        return (type(k) is str and len(k) <= MAX_STR and k != "$type" and _str_is_utf8(k))

    def _container(self, v, t, depth):
        n = len(v)
        budget = self.budget
        budget.force(2)
        cut = False
        if t is dict:
            # The plain form only when every key can go out whole; a large
            # dict is shown in the items form, which can say it was cut.
            if n <= MAX_ITEMS and all(map(self._plain_key, v)):
                out = {}
                for k, item in v.items():
                    if budget.spent or not budget.take(json_size(k) + 2):
                        cut = True
                        break
                    out[k] = self.encode(item, depth)
                if not cut:
                    return out
                items = [[k2, v2] for k2, v2 in out.items()]
            else:
                items = []
                for i, (k, item) in enumerate(v.items()):
                    if i == MAX_ITEMS or budget.spent:
                        cut = True
                        break
                    items.append([self.encode(k, depth), self.encode(item, depth)])
            tag = {"$type": "dict", "items": items}
        else:
            seq = v
            if t in (set, frozenset):
                try:
                    seq = sorted(v)
                except TypeError:  # mixed types: keep iteration order
                    seq = list(v)
            items = []
            for i, item in enumerate(seq):
                if i == MAX_ITEMS or budget.spent:
                    cut = True
                    break
                budget.force(2)
                items.append(self.encode(item, depth))
            if t is list and not cut:
                return items
            tag = {"$type": t.__name__, "items": items}
        if cut:
            budget.force(48)
            tag.update(truncated=True, length=n)
        return tag


def encode(value, budget=None):
    """A JSON-ready form of any Python value, charged to `budget` (a fresh
    unlimited-enough one when none is given)."""
    return _Encoder(budget or Budget(1 << 62)).encode(value, 0)


_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _decode_tag(obj, path):
    tag = obj["$type"]

    def field(name, kind):
        if name not in obj:
            raise DecodeError(path, f'"$type": "{tag}" needs "{name}"')
        if not isinstance(obj[name], kind):
            raise DecodeError(f"{path}.{name}", f"must be {kind.__name__ if isinstance(kind, type) else 'a number'}")
        return obj[name]

    def items():
        return [decode(x, f"{path}.items[{i}]") for i, x in enumerate(field("items", list))]

    try:
        if tag == "int":
            if "hex" in obj:
                return int(field("hex", str), 16)
            text = field("value", str)
            try:
                return int(text)
            except ValueError:
                if len(text) > 4300 and text.strip().lstrip("+-").isdigit():
                    raise DecodeError(f"{path}.value", "has more than 4300 decimal digits: send it as "
                                      '{"$type": "int", "hex": "0x..."} instead') from None
                raise
        if tag == "float":
            text = field("value", str)
            if text not in _FLOATS:
                raise DecodeError(f"{path}.value", 'must be "nan", "inf" or "-inf"')
            return _FLOATS[text]
        if tag == "str":
            return field("value", str)
        if tag in ("bytes", "bytearray"):
            raw = base64.b64decode(field("base64", str), validate=True)
            return raw if tag == "bytes" else bytearray(raw)
        if tag == "tuple":
            return tuple(items())
        if tag == "list":
            return items()
        if tag in ("set", "frozenset"):
            return (set if tag == "set" else frozenset)(items())
        if tag == "dict":
            out = {}
            for i, pair in enumerate(field("items", list)):
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise DecodeError(f"{path}.items[{i}]", "must be a [key, value] pair")
                out[decode(pair[0], f"{path}.items[{i}][0]")] = decode(pair[1], f"{path}.items[{i}][1]")
            return out
        if tag in ("datetime", "date", "time"):
            return getattr(datetime, tag).fromisoformat(field("iso", str))
        if tag == "timedelta":
            return datetime.timedelta(seconds=field("seconds", (int, float)))
        if tag == "decimal":
            return decimal.Decimal(field("value", str))
        if tag == "complex":
            return complex(field("real", (int, float)), field("imag", (int, float)))
    except DecodeError:
        raise
    except (ValueError, TypeError, ArithmeticError) as e:  # binascii.Error is a ValueError
        raise DecodeError(path, f'not a valid "{tag}": {e}') from None
    raise DecodeError(path, f'unknown "$type" {tag!r}')


def decode(value, path):
    """The Python value for a client's JSON value, or DecodeError."""
    if isinstance(value, dict):
        if "$type" in value:
            if not isinstance(value["$type"], str):
                raise DecodeError(path, '"$type" must be a string')
            return _decode_tag(value, path)
        return {k: decode(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value
