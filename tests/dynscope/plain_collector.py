"""A minimal collector for the plain test modules, for where pytest is not:
inside Pyodide (run_in_pyodide.mjs) and under extra interpreters (3.12+).

Every top-level function named test_* in each module is called with no
arguments; a test that returns an awaitable has it run (asyncio.run()
natively, awaited on the running loop inside Pyodide).  Each failure's
traceback is printed; the last line is "N passed, N failed".

    python plain_collector.py tests/dynscope/test_*.py
"""
import asyncio
import importlib
import inspect
import os
import sys
import traceback


def _tests(module_names):
    for name in module_names:
        try:
            module = importlib.import_module(name)
        except BaseException:
            yield name, None, traceback.format_exc()
            continue
        for attr, fn in list(vars(module).items()):
            if attr.startswith("test_") and inspect.isfunction(fn):
                yield f"{name}::{attr}", fn, None


def _report(label, error, counts):
    if error is None:
        counts[0] += 1
    else:
        counts[1] += 1
        print(f"FAILED {label}\n{error}")


async def run_async(module_names):
    """Runs the tests on the current event loop; returns (passed, failed)."""
    counts = [0, 0]
    for label, fn, error in _tests(module_names):
        if fn is not None:
            try:
                result = fn()
                if inspect.isawaitable(result):
                    await result
            except BaseException:
                error = traceback.format_exc()
        _report(label, error, counts)
    print(f"{counts[0]} passed, {counts[1]} failed")
    return tuple(counts)


def run_sync(module_names):
    """Runs the tests with no loop running (they may call asyncio.run)."""
    counts = [0, 0]
    for label, fn, error in _tests(module_names):
        if fn is not None:
            try:
                result = fn()
                if inspect.isawaitable(result):
                    asyncio.run(result)
            except BaseException:
                error = traceback.format_exc()
        _report(label, error, counts)
    print(f"{counts[0]} passed, {counts[1]} failed")
    return tuple(counts)


def main(paths):
    names = []
    for path in paths:
        directory, base = os.path.split(os.path.abspath(path))
        if directory not in sys.path:
            sys.path.insert(0, directory)
        names.append(base[:-3] if base.endswith(".py") else base)
    print(f"Python {sys.version.split()[0]}")
    passed, failed = run_sync(names)
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
