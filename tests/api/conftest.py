"""The fixtures every API suite opens with: `api`, the contract
(server/openapi.yaml) to validate answers against, and `server`, one real
server for the module's tests. A module that needs other flags says so with
SERVER_ARGS (the server waits for as many ready workers as its --workers)."""
import pytest

from openapi_check import OpenApi
from scopebox_server import ScopeboxServer

SERVER_ARGS = ("--workers", "2", "--max-sessions", "2", "--session-ttl-ms", "60000")


def workers_in(args):
    args = list(args)
    return int(args[args.index("--workers") + 1]) if "--workers" in args else 1


@pytest.fixture(scope="module")
def server(request):
    args = getattr(request.module, "SERVER_ARGS", SERVER_ARGS)
    with ScopeboxServer(*args) as s:
        s.wait_healthy(workers_in(args))
        yield s


@pytest.fixture(scope="session")
def api():
    return OpenApi.load()
