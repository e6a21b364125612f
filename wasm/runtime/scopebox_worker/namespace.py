"""The snippet's module namespace: what goes in, what comes back out.

Request variables are placed in the globals dict itself (seed 002, pypyr's
decision), so they resolve in functions, lambdas, nested comprehensions and
class bodies exactly as module-level names do. Names found nowhere else fall
back to the dynamic scope before builtins, through dynscope's builtins
mapping. The lookup order a snippet sees: locals -> enclosing functions ->
globals (request scope + what the snippet defines) -> dynamic scope ->
builtins.
"""
import builtins
import keyword
import types

import dynscope

from .codec import DecodeError, decode, encode

_CODE_KINDS = (
    (types.ModuleType, "module"),
    (type, "class"),
    ((types.FunctionType, types.BuiltinFunctionType, types.MethodType,
      types.BuiltinMethodType, types.MethodWrapperType), "function"),
)


class BadRequest(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def kind_of(value):
    """'module', 'class' or 'function' for code; None for data."""
    for types_, name in _CODE_KINDS:
        if isinstance(value, types_):
            return name
    return None


def _check_name(field, name):
    if not name.isidentifier():
        raise BadRequest("invalid_name", f"{field}: {name!r} is not a Python identifier")
    if keyword.iskeyword(name):
        raise BadRequest("invalid_name", f"{field}: {name!r} is a Python keyword")
    if name.startswith("__") and name.endswith("__"):
        raise BadRequest("invalid_name", f"{field}: {name!r} is reserved (dunder names belong to the runtime)")


def decode_variables(field, values):
    out = {}
    for name, value in (values or {}).items():
        _check_name(field, name)
        try:
            out[name] = decode(value, f"{field}.{name}")
        except DecodeError as e:
            raise BadRequest("invalid_value", str(e)) from None
    return out


def new_globals():
    return {"__name__": "__main__", "__builtins__": dynscope.FallbackBuiltins(builtins.__dict__)}


def user_names(g):
    return [k for k in g if not (k.startswith("__") and k.endswith("__"))]


def fingerprint(g):
    """Encoded values of the names a run starts with, to tell what changed."""
    return {k: (encode(v) if kind_of(v) is None else ("$code", id(v))) for k, v in g.items()
            if not (k.startswith("__") and k.endswith("__"))}


def report(g, selection):
    """(scope, definitions) for the answer. selection: "data", "all" or a
    list of names."""
    if isinstance(selection, list):
        return {k: encode(g[k]) for k in selection if k in g}, {}
    scope, definitions = {}, {}
    for k in user_names(g):
        v = g[k]
        kind = kind_of(v)
        if kind is None or selection == "all":
            scope[k] = encode(v)
        else:
            definitions[k] = kind
    return scope, definitions


def changes(before, g):
    after = set(user_names(g))
    added = sorted(after - before.keys())
    removed = sorted(before.keys() - after)
    changed = []
    for k in sorted(before.keys() & after):
        v = g[k]
        now = encode(v) if kind_of(v) is None else ("$code", id(v))
        if now != before[k]:
            changed.append(k)
    return {"added": added, "changed": changed, "removed": removed}
