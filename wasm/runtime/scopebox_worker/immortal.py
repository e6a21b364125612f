"""The pristine heap's objects made immortal (PEP 683), once, at the worker's
pristine capture (isolation.mjs, immortalize).

Why: every stateless run is reset by copying back the heap's grains it wrote
(isolation.mjs, "Tracked restore"). A trivial run reads hundreds of the
pristine objects (the runner's functions, code objects, module dicts,
strings, the json and codec machinery), and each read of a mortal object
writes its reference count twice (Py_INCREF, Py_DECREF): net zero, but the
grain is written, marked and copied back. Those objects lie all over the
heap, so it was ~250 of the ~400 grains a `1+1` run wrote. An immortal
object's count is never written (CPython checks before it counts), as for
None, small ints and interned strings already.

What changes for code: a pristine object is never freed (the reset puts the
heap back anyway; within a session, one the session drops stays allocated,
at most the pristine heap's size in all) and sys.getrefcount of one shows the
immortal value. Nothing that depends on an object being uniquely referenced
applies to them, as for every immortal object.

The write itself is the caller's (JS, into the heap, before the capture):
Python has no way to set a count. The caller checks the layout with a probe
first, and confirm() checks the result."""
import gc
import struct
import sys

# _Py_IMMORTAL_INITIAL_REFCNT of a 32-bit build (Include/refcount.h): counts
# from 1 << 30 up are immortal there.
IMMORTAL = 5 << 28
MORTAL_MAX = 1 << 30

_held = None


def candidates():
    """Every live object of the heap that is not immortal yet: the ones the
    GC tracks, and what each refers to directly (strings, numbers, bytes:
    the objects the GC does not track are reachable only through these).
    Held here until confirm(). Returns (probe address, probe's count,
    addresses as little-endian 32-bit words)."""
    global _held
    if struct.calcsize("P") != 4:
        raise RuntimeError("immortalize: not a 32-bit build")
    gc.collect()
    held = {}
    for o in gc.get_objects():
        if not sys._is_immortal(o):
            held[id(o)] = o
        for r in gc.get_referents(o):
            if not sys._is_immortal(r):
                held[id(r)] = r
    # Ours, made for this: not part of the state.
    held.pop(id(held), None)
    probe = object()
    _held = (held, probe)
    # The probe is referred to by _held's tuple alone (getrefcount's own
    # argument aside): the caller reads that count at its address.
    return id(probe), sys.getrefcount(probe) - 1, struct.pack(f"<{len(held)}I", *held)


def confirm():
    """After the caller's writes: every held object is immortal, and the
    probe (which the caller left alone) is not. Returns how many."""
    global _held
    held, probe = _held
    _held = None
    if sys._is_immortal(probe):
        raise RuntimeError("immortalize: the probe was written")
    bad = sum(1 for o in held.values() if not sys._is_immortal(o))
    if bad:
        raise RuntimeError(f"immortalize: {bad} objects are still mortal")
    return len(held)
