import pytest

from scopebox_server import ScopeboxServer


@pytest.fixture(scope="module")
def server():
    with ScopeboxServer("--workers", "2") as s:
        s.wait_healthy(2)
        yield s
