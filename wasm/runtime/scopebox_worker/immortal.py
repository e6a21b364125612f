"""The pristine heap's objects made immortal (PEP 683): the start-up
snapshot's at build time (snapshot.mjs, which then freezes them out of the
collector's walks, and of gc.get_objects), the rest at each worker's pristine
capture (isolation.mjs); immortal.mjs writes the counts.

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
immortal value; the snapshot's objects are frozen, so gc.get_objects()
leaves them out until gc.unfreeze(). Nothing that depends on an object
being uniquely referenced applies to them, as for every immortal object.

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
    """Every live object of the heap: the ones the GC tracks, and what each
    refers to directly (strings, numbers, bytes: the objects the GC does not
    track are reachable only through these), with repeats, and the ones
    that are immortal already (the caller skips those). Found by C calls,
    and handed over as the two lists holding them: the caller reads their
    item arrays from the heap (an int per address made in Python cost
    ~0.4 s of the worker's start). Held here until confirm(). The caller
    collects garbage first. Returns (probe address, probe's count, then
    for each list its address, length and first item's address)."""
    global _held
    if struct.calcsize("P") != 4:
        raise RuntimeError("immortalize: not a 32-bit build")
    objs = gc.get_objects()
    refs = gc.get_referents(*objs)
    probe = object()
    _held = (objs, refs, probe)
    # The probe is referred to by _held's tuple alone (getrefcount's own
    # argument aside): the caller reads that count at its address.
    lists = []
    for held in (objs, refs):
        lists += [id(held), len(held), id(held[0]) if held else 0]
    return [id(probe), sys.getrefcount(probe) - 1, *lists]


def confirm():
    """After the caller's writes: every held object is immortal, and the
    probe (which the caller left alone) is not. Returns how many objects
    (with repeats)."""
    global _held
    objs, refs, probe = _held
    _held = None
    if sys._is_immortal(probe):
        raise RuntimeError("immortalize: the probe was written")
    if not (all(map(sys._is_immortal, objs)) and all(map(sys._is_immortal, refs))):
        raise RuntimeError("immortalize: objects are still mortal")
    return len(objs) + len(refs)
