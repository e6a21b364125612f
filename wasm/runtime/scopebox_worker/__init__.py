"""The Python half of a scopebox worker (see wasm/runtime/PROTOCOL.md)."""
from .runner import run_json

__all__ = ["run_json"]
