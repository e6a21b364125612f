"""One vocabulary of error codes: every code the server can answer with
(server/errors.h, its one list) and every code the worker runtime can reject
a request with (the Python runner's BadRequest, the image checks'
ImageError) is in server/openapi.yaml's ApiError.code, the contract clients
match on; every code the runtime rejects with is one the server lets through
(server/wire.c); and the contract names no code that nothing emits."""
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "wasm" / "runtime"
# The shipped nginx config answers this one when no replica does (openapi.yaml).
NOT_FROM_THE_SERVER = {"replica_unavailable"}


def contract_codes():
    doc = yaml.safe_load((REPO / "server" / "openapi.yaml").read_text())
    return set(doc["components"]["schemas"]["ApiError"]["properties"]["code"]["enum"])


def server_codes():
    """{C id: name} from errors.h's API_CODES list."""
    text = (REPO / "server" / "errors.h").read_text()
    codes = dict(re.findall(r'X\((\w+), "([a-z_]+)", \d{3}\)', text))
    assert len(codes) > 30, "errors.h's list moved: update this test's pattern"
    return codes


def runtime_codes():
    """Codes the runtime puts in `rejected` frames, where it spells them."""
    found = {}
    for path in sorted(RUNTIME.rglob("*.py")) + sorted(RUNTIME.glob("*.mjs")):
        text = path.read_text()
        literals = re.findall(r'(?:BadRequest|ImageError)\(\s*"([a-z_]+)"', text)
        # files.py picks its code by errno: `return "a" if ... else "b"`.
        for expr in re.findall(r"def _code\(.*?\n((?:\s+.*\n)+?)\n", text):
            literals += re.findall(r'"([a-z_]+)"', expr)
        for code in literals:
            found.setdefault(code, path.relative_to(REPO))
    assert "invalid_name" in found and "invalid_image" in found, "runtime moved: update the patterns"
    return found


def passed_through():
    text = (REPO / "server" / "wire.c").read_text()
    block = re.search(r"rejected_codes\[\] = \{(.*?)\};", text, re.S).group(1)
    ids = server_codes()
    return {ids[m] for m in re.findall(r"API_(\w+)", block)}


def test_every_code_the_server_answers_with_is_in_the_contract():
    missing = set(server_codes().values()) - contract_codes()
    assert not missing, f"server/errors.h codes missing from openapi.yaml ApiError.code: {sorted(missing)}"


def test_every_code_the_runtime_rejects_with_is_in_the_contract():
    missing = {f"{code} ({where})" for code, where in runtime_codes().items()
               if code not in contract_codes()}
    assert not missing, f"runtime codes missing from openapi.yaml ApiError.code: {sorted(missing)}"


def test_every_code_the_runtime_rejects_with_reaches_the_client():
    # Any other code in a `rejected` frame is a protocol error (server/wire.c).
    dropped = set(runtime_codes()) - passed_through()
    assert not dropped, f"runtime codes server/wire.c does not pass through: {sorted(dropped)}"


def test_the_contract_names_no_code_nothing_emits():
    stale = contract_codes() - set(server_codes().values()) - NOT_FROM_THE_SERVER
    assert not stale, f"openapi.yaml codes no part of the server emits: {sorted(stale)}"
