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

from .codec import Budget, DecodeError, decode, encode
from .digest import Fingerprints

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
    shown = repr(name if len(name) <= 200 else name[:200] + "…")
    if not name.isidentifier():
        raise BadRequest("invalid_name", f"{field}: {shown} is not a Python identifier")
    if keyword.iskeyword(name):
        raise BadRequest("invalid_name", f"{field}: {shown} is a Python keyword")
    if name.startswith("__") and name.endswith("__"):
        raise BadRequest("invalid_name", f"{field}: {shown} is reserved (dunder names belong to the runtime)")


def check_return(selection):
    """`return` names follow the rule `scope` names do."""
    if isinstance(selection, list):
        for name in selection:
            _check_name("return", name)
    return selection


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


def _is_user_name(k):
    # globals() may be given any key; only strings are names.
    return type(k) is str and not (k.startswith("__") and k.endswith("__"))


def user_names(g):
    return list(filter(_is_user_name, list(g)))


def fingerprint(g):
    """Exact fingerprints (digest.py) of the names a run starts with, to
    tell what changed."""
    f = Fingerprints()
    return {k: f.fingerprint(g[k]) for k in user_names(g)}


def _lists_only(g, names):
    # A name listed in `return` comes back if it is bound, code or not.
    return [k for k in names if k in g]


def report(g, selection, budget=None):
    """(scope, definitions) for the answer, names charged to `budget`
    (past it, left out and counted). selection: "data", "all" or a list of
    names."""
    budget = budget or Budget(1 << 62)
    scope, definitions = {}, {}
    names = _lists_only(g, selection) if isinstance(selection, list) else user_names(g)
    for k in names:
        v = g[k]
        kind = None if isinstance(selection, list) or selection == "all" else kind_of(v)
        if budget.spent:
            budget.names_omitted += 1
            continue
        if not budget.name(k):
            continue
        if kind is None:
            scope[k] = encode(v, budget)
        else:
            budget.force(12)
            definitions[k] = kind
    return scope, definitions


def changes(before, g):
    """Names added, changed and removed against `before` (fingerprint())."""
    after = set(user_names(g))
    added = sorted(after - before.keys())
    removed = sorted(before.keys() - after)
    f = Fingerprints()
    changed = [k for k in sorted(before.keys() & after) if f.changed(before[k], g[k])]
    return {"added": added, "changed": changed, "removed": removed}
