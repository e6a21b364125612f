"""Python values <-> the API's JSON values (server/openapi.yaml, "Value").

JSON-native values travel as they are; anything else is an object tagged
with "$type". `decode` turns an answer's values back into Python ones (a
tuple is a tuple, a big int an int, NaN a float); what cannot come back as
itself comes back as a marker: `Opaque` for an object the server could only
describe (its type and repr), `Cut` where the server stopped encoding (depth
or size), `Cycle` for a container inside itself, and a `Truncated*` subclass
(a str, list, dict, ... with `.length`, the full size) for a value the server
shortened. `encode` does the reverse for requests, and refuses what the
server cannot take back (markers, arbitrary objects).
"""
from __future__ import annotations

import ast
import base64
import datetime
import decimal
import math
from typing import Any, Dict

__all__ = ["encode", "decode", "Opaque", "Cut", "Cycle", "is_truncated"]

# Integers beyond this are tagged so that no JSON parser rounds them (the
# server does the same in its answers).
MAX_EXACT_INT = 2**53


class Opaque:
    """An object the server could not send as data: its type and its repr."""

    __slots__ = ("type", "repr")

    def __init__(self, type: str, repr: str) -> None:
        self.type = type
        self.repr = repr

    def __repr__(self) -> str:
        return self.repr

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and (self.type, self.repr) == (other.type, other.repr)

    def __hash__(self) -> int:
        return hash((self.type, self.repr))


class Cut:
    """Where the server stopped encoding: `reason` is "depth" or "size", `of`
    the type that was not sent."""

    __slots__ = ("reason", "of")

    def __init__(self, reason: str, of: str | None) -> None:
        self.reason = reason
        self.of = of

    def __repr__(self) -> str:
        return f"<{self.of or 'value'} cut: {self.reason}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cut) and (self.reason, self.of) == (other.reason, other.of)

    def __hash__(self) -> int:
        return hash((self.reason, self.of))


class Cycle:
    """A container that contains itself (`of` is its type): [...] in Python's repr."""

    __slots__ = ("of",)

    def __init__(self, of: str) -> None:
        self.of = of

    def __repr__(self) -> str:
        return {"list": "[...]", "dict": "{...}"}.get(self.of, f"<{self.of} cycle>")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cycle) and self.of == other.of

    def __hash__(self) -> int:
        return hash(self.of)


_truncated_types: Dict[type, type] = {}


def _truncated(base: type, value: Any, length: int) -> Any:
    """`value` as an instance of a subclass of `base` carrying `length`."""
    cls = _truncated_types.get(base)
    if cls is None:
        cls = type("Truncated" + base.__name__.capitalize(), (base,),
                   {"truncated": True, "__doc__": f"A {base.__name__} the server shortened; "
                    "`length` is its full length."})
        _truncated_types[base] = cls
    out = cls(value)
    out.length = length
    return out


def is_truncated(value: Any) -> bool:
    """Whether the server shortened this value (see `length` on it)."""
    return getattr(value, "truncated", False) is True


_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_CONTAINERS: Dict[str, type] = {"tuple": tuple, "list": list, "set": set, "frozenset": frozenset}


def _str_from_repr(text: str) -> str | Opaque:
    # A str holding lone surrogates travels as its repr (JSON cannot hold it).
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):  # cut short by the server
        return Opaque("str", text)
    return value if isinstance(value, str) else Opaque("str", text)


def _decode_tag(obj: Dict[str, Any]) -> Any:
    tag = obj["$type"]
    length = obj.get("length")
    cut = obj.get("truncated") is True and isinstance(length, int)
    if tag == "int":
        return int(obj["hex"], 16) if "hex" in obj else int(obj["value"])
    if tag == "float":
        return _FLOATS[obj["value"]]
    if tag == "str":
        if "repr" in obj:
            return _str_from_repr(obj["repr"])
        return _truncated(str, obj["value"], length) if cut else obj["value"]
    if tag in ("bytes", "bytearray"):
        raw = base64.b64decode(obj["base64"])
        base = bytes if tag == "bytes" else bytearray
        return _truncated(base, raw, length) if cut else base(raw)
    if tag in _CONTAINERS:
        base = _CONTAINERS[tag]
        items = [decode(x) for x in obj["items"]]
        return _truncated(base, items, length) if cut else base(items)
    if tag == "dict":
        pairs = {_hashable(decode(k)): decode(v) for k, v in obj["items"]}
        return _truncated(dict, pairs, length) if cut else pairs
    if tag in ("datetime", "date", "time"):
        return getattr(datetime, tag).fromisoformat(obj["iso"])
    if tag == "timedelta":
        return datetime.timedelta(seconds=obj["seconds"])
    if tag == "decimal":
        return decimal.Decimal(obj["value"])
    if tag == "complex":
        return complex(decode(obj["real"]), decode(obj["imag"]))
    if tag == "truncated":
        return Cut(obj.get("reason", "?"), obj.get("of"))
    if tag == "cycle":
        return Cycle(obj.get("of", "?"))
    return Opaque(tag, obj.get("repr", ""))


def _hashable(key: Any) -> Any:
    # A key that decodes to a list (a truncated tuple cannot, but a marker
    # could hold one) must still be usable as a dict key.
    if isinstance(key, list):
        return tuple(key)
    if isinstance(key, (set, dict)):
        return Opaque(type(key).__name__, repr(key))
    return key


def decode(value: Any) -> Any:
    """The Python value of an answer's JSON value."""
    if isinstance(value, dict):
        if "$type" in value:
            return _decode_tag(value)
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def _float(v: float) -> Any:
    if math.isfinite(v):
        return v
    return {"$type": "float", "value": "nan" if v != v else ("inf" if v > 0 else "-inf")}


def _items(values: Any) -> list:
    return [encode(v) for v in values]


def _set_items(values: Any) -> list:
    try:
        return _items(sorted(values))  # a stable request for a stable set
    except TypeError:
        return _items(values)


def encode(value: Any) -> Any:
    """The request JSON value for a Python value; TypeError for one the
    server cannot take (an Opaque, a marker, an arbitrary object)."""
    t = type(value)
    if value is None or t is bool or t is str:
        if t is str:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("a str with lone surrogates cannot be sent") from None
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        v = int(value)
        if -MAX_EXACT_INT <= v <= MAX_EXACT_INT:
            return v
        try:
            return {"$type": "int", "value": str(v)}
        except ValueError:  # past sys.get_int_max_str_digits(), as the server does
            return {"$type": "int", "hex": hex(v)}
    if isinstance(value, float):
        return _float(float(value))
    if isinstance(value, str):
        return encode(str(value))
    if isinstance(value, (bytes, bytearray)):
        return {"$type": "bytearray" if isinstance(value, bytearray) else "bytes",
                "base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, tuple):
        return {"$type": "tuple", "items": _items(value)}
    if isinstance(value, list):
        return _items(value)
    if isinstance(value, frozenset):
        return {"$type": "frozenset", "items": _set_items(value)}
    if isinstance(value, set):
        return {"$type": "set", "items": _set_items(value)}
    if isinstance(value, dict):
        if all(type(k) is str for k in value) and "$type" not in value:
            return {k: encode(v) for k, v in value.items()}
        return {"$type": "dict", "items": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, datetime.datetime):
        return {"$type": "datetime", "iso": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"$type": "date", "iso": value.isoformat()}
    if isinstance(value, datetime.time):
        return {"$type": "time", "iso": value.isoformat()}
    if isinstance(value, datetime.timedelta):
        return {"$type": "timedelta", "seconds": value.total_seconds()}
    if isinstance(value, decimal.Decimal):
        return {"$type": "decimal", "value": str(value)}
    if isinstance(value, complex):
        if not (math.isfinite(value.real) and math.isfinite(value.imag)):
            raise ValueError("a complex with a non-finite part cannot be sent")
        return {"$type": "complex", "real": value.real, "imag": value.imag}
    raise TypeError(f"cannot send a {t.__module__}.{t.__qualname__} to scopebox: "
                    "only None, bool, int, float, str, bytes, containers, datetime, Decimal "
                    "and complex values have a request encoding")


def encode_variables(names: Dict[str, Any] | None, field: str) -> Dict[str, Any]:
    """A `scope` or `dynamic` mapping, checked to have string names."""
    if names is None:
        return {}
    out = {}
    for k, v in dict(names).items():
        if not isinstance(k, str):
            raise TypeError(f"{field}: names must be str, not {type(k).__name__}")
        out[k] = encode(v)
    return out
