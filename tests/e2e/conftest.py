import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from scopebox_server import ScopeboxServer  # noqa: E402


@pytest.fixture(scope="module")
def server():
    with ScopeboxServer("--workers", "2") as s:
        s.wait_healthy(2)
        yield s
