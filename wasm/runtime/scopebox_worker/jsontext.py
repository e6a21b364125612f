"""An answer's JSON text: exactly what json.dumps(obj, ensure_ascii=False,
allow_nan=False, separators=(",", ":")) makes, made faster for long strings.

In wasm, json's C encoder escapes a string at ~10 ns a character: a 64 KiB
scope value is ~1 ms of a 100 KB request's worker time. The answer's Budget
has already checked each string it took for anything to escape
(codec.json_size: bytes.translate of the ASCII bytes, ~10x faster); one
that had nothing and is LONG or more is remembered here, and goes out
copied between quotes. The rest keep the C escaper. Asking Python about
each string is a call per string, which costs more than it saves when
there are many short ones (20,000 of them: 5 ms became 18), so the C
encoder calls back only for an answer that holds a remembered string.
"""
import json
from json import encoder as _encoder

LONG = 4096

# Bound once: a snippet that patches json must not change its own answer.
# One encoder, made here: json.dumps with arguments makes a JSONEncoder per
# call, most of what a small answer's text cost (~30 of ~35 us in wasm).
# Every JSON text the runner makes comes from it (answer.json_bytes too).
encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
_escape = _encoder.encode_basestring
_make = _encoder.c_make_encoder
_default = json.JSONEncoder().default
# Strings known to need no escapes, by id, with the string itself held:
# an id is never reused for another string while it is here. Emptied by
# each dumps; a build that failed before its dumps leaves them for the
# next, which only makes that one take the callback path.
_plain = {}


def plain(s):
    """`s` (LONG or more characters) has nothing JSON escapes. Only a str
    itself is taken: a subclass's methods could have said so falsely."""
    if type(s) is str:
        _plain[id(s)] = s


def _quote(s):
    if _plain.get(id(s)) is s:
        return '"' + s + '"'
    return _escape(s)


def dumps(obj):
    if not _plain or _make is None:
        _plain.clear()
        return encode(obj)
    try:
        chunks = _make({}, _default, _quote, None, ":", ",", False, False, False)(obj, 0)
        return "".join(chunks)
    finally:
        _plain.clear()
