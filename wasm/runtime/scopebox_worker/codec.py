"""Python values <-> JSON, both ways, as the HTTP API documents them.

JSON-native values travel unchanged; everything else is an object with a
"$type" tag (see server/openapi.yaml, "Value"). Encoding is bounded in depth,
container length, string length and total size, and each cut is marked where
it happened, so no value can make an answer huge, slow or recursive.
"""
import base64
import datetime
import decimal
import math

MAX_DEPTH = 32
MAX_ITEMS = 1000
MAX_STR = 64 * 1024
MAX_REPR = 1000
MAX_NODES = 20000
# Integers beyond 2**53 are not exact as JSON numbers in most clients.
MAX_EXACT_INT = 2**53


class DecodeError(ValueError):
    """A client value that is not valid; `path` names where (e.g. scope.x[2])."""

    def __init__(self, path, message):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def type_name(value):
    t = type(value)
    mod = t.__module__
    # The snippet's own classes live in __main__: their bare name says it all.
    return t.__qualname__ if mod in ("builtins", "__main__", None) else f"{mod}.{t.__qualname__}"


def safe_repr(value, limit=MAX_REPR):
    try:
        text = repr(value)
    except Exception as e:  # a broken __repr__ must not break the answer
        return f"<repr failed: {type(e).__name__}>"
    if len(text) > limit:
        text = text[:limit] + "…"
    return text


def _str_is_utf8(s):
    if s.isascii():
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: JSON parsers reject them
        return False
    return True


class _Encoder:
    def __init__(self):
        self.nodes = 0
        self.active = set()  # ids of containers being encoded: a repeat is a cycle

    def encode(self, v, depth):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            return {"$type": "truncated", "reason": "size", "of": type_name(v)}
        t = type(v)
        if v is None or t is bool:
            return v
        if t is int:
            if -MAX_EXACT_INT <= v <= MAX_EXACT_INT:
                return v
            try:
                return {"$type": "int", "value": str(v)}
            except ValueError:  # beyond sys.get_int_max_str_digits()
                return {"$type": "int", "hex": hex(v)}
        if t is float:
            if math.isfinite(v):
                return v
            return {"$type": "float", "value": "nan" if v != v else ("inf" if v > 0 else "-inf")}
        if t is str:
            if not _str_is_utf8(v):
                return {"$type": "str", "repr": safe_repr(v, MAX_STR)}
            if len(v) > MAX_STR:
                return {"$type": "str", "value": v[:MAX_STR], "truncated": True, "length": len(v)}
            return v
        if t in (bytes, bytearray):
            tag = {"$type": t.__name__, "base64": base64.b64encode(v[:MAX_STR]).decode("ascii")}
            if len(v) > MAX_STR:
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
            return {"$type": t.__name__, "iso": v.isoformat()}
        if t is datetime.timedelta:
            return {"$type": "timedelta", "seconds": v.total_seconds()}
        if t is decimal.Decimal:
            return {"$type": "decimal", "value": str(v)}
        if t is complex:
            return {"$type": "complex", "real": self.encode(v.real, depth), "imag": self.encode(v.imag, depth)}
        return {"$type": type_name(v), "repr": safe_repr(v)}

    def _container(self, v, t, depth):
        n = len(v)
        if t is dict:
            if all(type(k) is str for k in v) and "$type" not in v:
                out = {}
                for i, (k, item) in enumerate(v.items()):
                    if i == MAX_ITEMS:
                        return {"$type": "dict", "items": [[k2, v2] for k2, v2 in out.items()],
                                "truncated": True, "length": n}
                    out[k] = self.encode(item, depth)
                return out
            items = []
            for i, (k, item) in enumerate(v.items()):
                if i == MAX_ITEMS:
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
                if i == MAX_ITEMS:
                    break
                items.append(self.encode(item, depth))
            if t is list and n <= MAX_ITEMS:
                return items
            tag = {"$type": t.__name__, "items": items}
        if n > MAX_ITEMS:
            tag.update(truncated=True, length=n)
        return tag


def encode(value):
    """A JSON-ready form of any Python value."""
    return _Encoder().encode(value, 0)


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
            return int(field("value", str))
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
