"""Loaded by pytest for every suite under tests/ (pytest reads each
conftest.py from the test file's directory up): the shared helpers in
tests/support and the Python client (clients/python) import by their names,
as `from scopebox_server import ScopeboxServer`, with no path set-up in the
test files. A suite's own directory is on the path already (pytest puts it
there to import the test file)."""
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
for path in (TESTS / "support", TESTS.parent / "clients" / "python"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
