"""install-deps.sh on a machine whose node is too old (Debian bookworm's
18, as on a plain debian:bookworm-slim image): it must fetch the pinned
official Node >= 20 from the npm registry into its node prefix. Here the
prefix is a temporary directory and "node 18" is a stand-in first on PATH
that answers the version probe with 18 (npm itself still runs on the
machine's node), so the machine's own node is never touched."""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(REPO, "docker", "install-deps.sh")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="install-deps.sh installs packages: root only")


def test_fallback_node_is_fetched_into_the_prefix():
    real_node = shutil.which("node")
    assert real_node, "install-deps.sh test has put a node on PATH"
    with open(SCRIPT) as f:
        pinned = re.search(r"^node_fallback_version=(\S+)$", f.read(), re.M).group(1)
    with tempfile.TemporaryDirectory() as tmp:
        shim_dir = os.path.join(tmp, "old-node")
        os.mkdir(shim_dir)
        shim = os.path.join(shim_dir, "node")
        with open(shim, "w") as f:
            f.write(f"""#!/bin/sh
# Node 18 as far as install-deps.sh's version probe can tell.
if [ "$1" = -p ] && [ "$2" = 'process.versions.node.split(".")[0]' ]; then echo 18; exit 0; fi
exec {real_node} "$@"
""")
        os.chmod(shim, 0o755)
        prefix = os.path.join(tmp, "node")
        env = dict(os.environ, PATH=shim_dir + ":" + os.environ["PATH"], SCOPEBOX_NODE_PREFIX=prefix)
        r = subprocess.run(["bash", SCRIPT, "runtime"], env=env, capture_output=True, text=True, timeout=540)
        assert r.returncode == 0, r.stderr
        assert f"installing node-linux-" in r.stderr and f"@{pinned} into {prefix}" in r.stderr, r.stderr
        node = os.path.join(prefix, "bin", "node")
        assert re.search(rf"ok \(runtime\): node v{re.escape(pinned)} at {re.escape(node)}$", r.stderr.strip()), r.stderr
        v = subprocess.run([node, "--experimental-permission", "--allow-fs-read=*", "--disable-warning=ExperimentalWarning",
                            "-p", "process.versions.node + ' ' + typeof process.permission"],
                           capture_output=True, text=True, check=True).stdout.split()
        assert v == [pinned, "object"], v  # the permission model the sandbox needs
        assert os.path.isfile(os.path.join(prefix, "LICENSE"))

        # A second run finds it there and fetches nothing.
        r = subprocess.run(["bash", SCRIPT, "runtime"], env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and "installing" not in r.stderr, r.stderr
