"""The worker's side of `cancel` (PROTOCOL.md), spoken to without the C host:
a worker with a control pipe on its fd 3, as server/worker.c starts it. A
cancel stops the named run as its time limit would (`cancelled`, with what
the run printed), one that comes before its run is found when the run
starts, one for a run already over touches nothing, and anything but a
cancel on the pipe is fatal."""
import json
import os
import subprocess

from worker_proc import Worker, frame

RUNTIME = os.environ["SCOPEBOX_RUNTIME_DIR"]
LOOP = "print('hi')\nwhile True:\n    pass"
# One write, so the cancel sent once its output frame arrives cannot land
# between print()'s two writes ("hi", then "\n"), as it did under load.
STREAMED_LOOP = "import sys\nsys.stdout.write('hi\\n')\nwhile True:\n    pass"


class ControlledWorker(Worker):
    def __init__(self):
        r, self.ctl = os.pipe()
        # fd 3 in the child, as the host arranges it (close_fds would close it).
        self.proc = subprocess.Popen(
            [os.environ["SCOPEBOX_NODE"], os.path.join(RUNTIME, "worker.mjs"), "--insecure"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            close_fds=False, preexec_fn=lambda: self._to_fd3(r))
        os.close(r)
        ready = self.recv()
        assert ready["type"] == "ready", ready

    @staticmethod
    def _to_fd3(r):
        # dup2 onto itself keeps close-on-exec (os.pipe's default): clear it.
        if r == 3:
            os.set_inheritable(3, True)
        else:
            os.dup2(r, 3)

    def cancel(self, id, raw=None):
        os.write(self.ctl, raw if raw is not None else frame({"type": "cancel", "id": id}))


def test_cancel_stops_the_running_run_and_the_worker_goes_on():
    w = ControlledWorker()
    try:
        w.send(frame({"type": "run", "id": 5, "code": STREAMED_LOOP, "timeout_ms": 60000, "stream": True}))
        # Streamed: the write arrives as an `output` frame, so the run is past it.
        assert w.recv() == {"type": "output", "id": 5, "stream": "stdout", "text": "hi\n"}
        w.cancel(4)  # not this run: nothing happens to it
        w.cancel(5)
        answer = w.recv()
        assert answer["type"] == "cancelled" and answer["id"] == 5, answer
        assert answer["stdout"] == "hi\n" and answer["error"]["type"] == "KeyboardInterrupt", answer
        w.until_idle()
        assert w.run("1 + 1", id=6, mode="eval")["result"] == 2
    finally:
        w.close()


def test_a_cancel_before_its_run_stops_it_at_its_start():
    w = ControlledWorker()
    try:
        w.cancel(9)
        # The cancel and the run travel on two pipes read by two threads:
        # give the controlling thread a moment to record it first (a margin,
        # not a measurement; late, the run is merely cancelled while running).
        import time
        time.sleep(0.5)
        answer = w.run(LOOP, id=9, timeout_ms=60000)
        assert answer["type"] == "cancelled" and answer["stdout"] == "", answer
        assert answer["error"]["message"] == "cancelled before it started" and "scope" not in answer
        # Later runs are not touched by it.
        assert w.run("2", id=10, mode="eval")["type"] == "result"
    finally:
        w.close()


def test_a_cancel_after_its_run_touches_nothing():
    w = ControlledWorker()
    try:
        assert w.run("1", id=1, mode="eval")["type"] == "result"
        w.cancel(1)
        answer = w.run("import time\ntime.sleep(0.3)\n3", id=2)
        assert (answer["type"], answer["result"]) == ("result", 3), answer
    finally:
        w.close()


def test_a_run_past_its_limit_stays_a_timeout():
    w = ControlledWorker()
    try:
        w.send(frame({"type": "run", "id": 3, "code": "try:\n    while True: pass\nexcept BaseException:\n"
                      "    while True: pass", "timeout_ms": 100}))
        import time
        time.sleep(0.5)
        w.cancel(3)
        assert w.recv()["type"] == "timeout"
        w.until_idle()
    finally:
        w.close()


def test_anything_but_a_cancel_on_the_control_pipe_is_fatal():
    w = ControlledWorker()
    w.cancel(0, raw=frame({"type": "run", "id": 1, "code": "1"}))
    msg = w.recv()
    assert msg["type"] == "fatal" and "control pipe" in msg["message"], msg
    assert w.proc.wait(30) == 70
