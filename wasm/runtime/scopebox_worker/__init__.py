"""The Python half of a scopebox worker (see wasm/runtime/PROTOCOL.md).
The host of the interpreter calls install() once before the first run (the
worker before its pristine capture): it makes asyncio's loops the run's own
(aio.py)."""
# Imported with the package, at boot while the clocks stand still: imported
# at the pristine capture instead, two workers' pristine heaps differed
# (tests/e2e/test_images.py).
from . import immortal  # noqa: F401
from .runner import forget_session, install, run_frame, run_json, warm, warm_frame

__all__ = ["forget_session", "install", "run_frame", "run_json", "warm", "warm_frame"]
