import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from openapi_check import OpenApi  # noqa: E402
from scopebox_server import ScopeboxServer  # noqa: E402


@pytest.fixture(scope="session")
def server():
    with ScopeboxServer("--workers", "2", "--max-sessions", "2", "--session-ttl-ms", "60000") as s:
        s.wait_healthy(2)
        yield s


@pytest.fixture(scope="session")
def api():
    return OpenApi.load()
