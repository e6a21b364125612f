"""A run sent from a thread of its own, so that a test can act on the
server while it is queued or running, then take its answer."""
import threading


class BackgroundRun:
    def __init__(self, server, body, timeout=180):
        self.timeout = timeout
        self._box = {}
        self._thread = threading.Thread(
            target=lambda: self._box.setdefault("answer", server.run(body, timeout=timeout)), daemon=True)
        self._thread.start()

    def answer(self, what="the run"):
        """(status, body) of the run's answer; fails if there is none in time."""
        self._thread.join(self.timeout)
        assert "answer" in self._box, f"no answer to {what}"
        status, _, body = self._box["answer"]
        return status, body
