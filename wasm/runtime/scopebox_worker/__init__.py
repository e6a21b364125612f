"""The Python half of a scopebox worker (see wasm/runtime/PROTOCOL.md)."""
from .runner import install, run_json

install()

__all__ = ["run_json"]
