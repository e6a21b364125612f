"""One worker process (wasm/runtime/worker.mjs) spoken to directly over the
frames of wasm/runtime/PROTOCOL.md, without the C host: for the tests of the
worker's own side of the protocol. --insecure, as no host sandbox is set up."""
import json
import os
import struct
import subprocess


def frame(msg):
    body = json.dumps(msg).encode() if not isinstance(msg, bytes) else msg
    return struct.pack(">I", len(body)) + body


class Worker:
    def __init__(self, runtime_dir, node=None, insecure=True):
        self.proc = subprocess.Popen(
            [node or os.environ["SCOPEBOX_NODE"], os.path.join(runtime_dir, "worker.mjs"),
             *(["--insecure"] if insecure else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def send(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def recv(self):
        """The next frame as an object, or None at end of file."""
        head = self.proc.stdout.read(4)
        if not head:
            return None
        assert len(head) == 4, self.proc.stderr.read().decode(errors="replace")
        return json.loads(self.proc.stdout.read(struct.unpack(">I", head)[0]))

    def run(self, code, id=1, mode="exec", **extra):
        """The run's answer, once the worker said it is idle again; but after
        a `capture` run's result the `image` frame comes instead of `idle`
        (PROTOCOL.md), for the caller to recv()."""
        self.send(frame({"type": "run", "id": id, "code": code, "mode": mode, **extra}))
        answer = self.recv()
        if not (extra.get("capture") and answer["type"] == "result"):
            self.until_idle()
        return answer

    def until_idle(self):
        """The frames after an answer up to `idle` (a `recycle`, at most)."""
        said = []
        while True:
            msg = self.recv()
            assert msg is not None, "end of file before idle"
            if msg["type"] == "idle":
                return said
            said.append(msg)

    def close(self):
        """Ends stdin; returns the worker's stderr once it exited."""
        self.proc.stdin.close()
        err = self.proc.stderr.read().decode(errors="replace")
        self.proc.wait(30)
        return err
