"""Fixtures for the podman suites: the engine (or a skip saying why there is
none), and the image built from a clean clone of HEAD."""
import os
import shutil
import tempfile

import pytest

import engine as eng

# ctest's SKIP_RETURN_CODE (tests/podman/CMakeLists.txt): a suite whose tests
# were all skipped is reported as skipped, never as passed.
SKIPPED = 77


@pytest.fixture(scope="session")
def engine():
    e = eng.Engine()
    why = e.why_not()
    if why:
        e.close()
        pytest.skip(f"no container engine can run here: {why}")
    yield e
    e.close()


@pytest.fixture(scope="session")
def clone():
    tmp = tempfile.mkdtemp(prefix="scopebox-clone-")
    path = os.path.join(tmp, "scopebox")
    head = eng.clean_clone(path)
    eng.log(f"building from a clean clone of {head[:12]} in {path}")
    yield path
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def image(engine, clone):
    eng.build(engine, clone)
    eng.image_report(engine)
    yield eng.IMAGE
    # Old builds' layers (earlier commits) go; the tagged dependency stage
    # and this image stay, so the next run builds from the cache.
    engine.podman("image", "prune", "-f", check=False)


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or exitstatus != 0:
        return
    if reporter.stats.get("skipped") and not reporter.stats.get("passed"):
        session.exitstatus = SKIPPED
