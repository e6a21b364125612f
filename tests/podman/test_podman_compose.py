"""docker/compose.yaml under podman-compose (Debian's), from the clean
clone: the replicas built from the Dockerfile, behind nginx on one network,
and a run and sessions through the balancer.

The file is used as it is, with changes for a shared test machine: the
balancer's port is a free loopback one instead of 8080, the project has a
name of its own, and the copy lives outside the build context (so that it
cannot change the image), with its relative paths made absolute. Services that only name an upstream image (nginx, and
whatever comes next, e.g. Redis) get a stand-in built from the local base
image with Debian's package, under the name the file uses, because no
registry answers here (STAND_INS)."""
import os
import socket
import subprocess
import sys
import time

import pytest
import yaml

sys.path.insert(0, os.path.dirname(__file__))
import engine as eng  # noqa: E402

PROJECT = "scopebox-test"

# Upstream image (repository name) -> the Containerfile lines that make a
# stand-in from Debian's package, run as the upstream image runs it.
STAND_INS = {
    "nginx": [
        "RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends nginx-light >/dev/null"
        " && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/*"
        " && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log",
        'CMD ["nginx", "-g", "daemon off;"]',
    ],
    "redis": [
        "RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server >/dev/null"
        " && rm -rf /var/lib/apt/lists/*",
        'CMD ["redis-server", "--protected-mode", "no", "--save", ""]',
    ],
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def full_name(image):
    """Docker's reading of an image reference: nginx:1.27 is
    docker.io/library/nginx:1.27."""
    first, _, rest = image.partition("/")
    if not rest or not ("." in first or ":" in first or first == "localhost"):
        image = "docker.io/" + (image if rest else "library/" + image)
    return image if ":" in image.rsplit("/", 1)[-1] else image + ":latest"


def stand_in(engine, image, tmp):
    repo = full_name(image).rsplit("/", 1)[-1].split(":")[0]
    assert repo in STAND_INS, f"compose.yaml uses {image}, which has no stand-in here (STAND_INS)"
    if engine.podman("image", "exists", full_name(image), check=False).returncode == 0:
        return
    d = os.path.join(tmp, repo)
    os.makedirs(d)
    with open(os.path.join(d, "Containerfile"), "w") as f:
        f.write("\n".join([f"FROM {eng.BASE_IMAGE}", *STAND_INS[repo], "LABEL scopebox.test.stand-in=1", ""]))
    t = time.monotonic()
    engine.podman("build", "--pull=never", "--format", "docker", "-t", full_name(image), d, timeout=1200)
    eng.log(f"stand-in {full_name(image)} (Debian's {repo}) built in {time.monotonic() - t:.0f} s")


def compose(engine, file, *args, timeout=1800):
    r = subprocess.run(["podman-compose", "-p", PROJECT, "-f", file, *args], env=engine.env, capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, f"podman-compose {' '.join(args)}: exit {r.returncode}\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r


@pytest.fixture(scope="module")
def stack(engine, image, clone, tmp_path_factory):
    with open(os.path.join(clone, "docker", "compose.yaml")) as f:
        doc = yaml.safe_load(f)
    services = doc["services"]
    replicas = {n: s for n, s in services.items() if "build" in s}
    assert len(replicas) >= 2, services
    for name, svc in services.items():
        if "build" not in svc:
            stand_in(engine, svc["image"], str(tmp_path_factory.mktemp("stand-in")))
    port = free_port()
    (balancer,) = [n for n, s in services.items() if "ports" in s]
    assert services[balancer]["ports"] == ["8080:8080"], services[balancer]
    services[balancer]["ports"] = [f"127.0.0.1:{port}:8080"]
    here = os.path.join(clone, "docker")
    for svc in services.values():
        if "build" in svc:
            svc["build"]["context"] = os.path.normpath(os.path.join(here, svc["build"]["context"]))
        svc["volumes"] = [os.path.normpath(os.path.join(here, v)) if v.startswith(".") else v
                          for v in svc.get("volumes", [])]
    file = os.path.join(str(tmp_path_factory.mktemp("compose")), "compose.yaml")
    with open(file, "w") as f:
        yaml.safe_dump(doc, f, sort_keys=False)

    compose(engine, file, "down", "-t", "0")
    t = time.monotonic()
    compose(engine, file, "up", "-d", "--build")
    names = {n: f"{PROJECT}_{n}_1" for n in services}
    try:
        for n in replicas:
            c = eng.Container(engine, [], names[n], None)
            c.started = t
            eng.log(f"{n}: healthy {c.wait_healthy():.1f} s after `podman-compose up`")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if eng.request(url + "/healthz", timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                logs = "\n".join(eng.Container(engine, [], names[n], None).logs()[-3000:] for n in services)
                pytest.fail(f"the balancer does not answer on {url}:\n{logs}")
            time.sleep(0.5)
        yield {"url": url, "replicas": replicas, "names": names, "doc": doc}
    finally:
        subprocess.run(["podman-compose", "-p", PROJECT, "-f", file, "down", "-t", "10"], env=engine.env,
                       capture_output=True, timeout=300)


def test_replicas_run_as_the_file_says(engine, stack):
    for n, svc in stack["replicas"].items():
        c = eng.Container(engine, [], stack["names"][n], None)
        assert c.inspect("{{.HostConfig.ReadonlyRootfs}}") == "true"
        assert c.exec("id", "-u").stdout.strip() == "10001"
        logs = c.wait_log(f"ready on http://0.0.0.0:8080 ({svc['environment']['SCOPEBOX_WORKERS']} workers)")
        assert "INSECURE" not in logs, logs


def test_stateless_runs_through_the_balancer(stack):
    for x in range(6):
        status, _, body = eng.request(stack["url"] + "/v1/run", "POST",
                                      {"code": "x*2", "mode": "eval", "scope": {"x": x}})
        assert status == 200 and body["result"] == 2 * x, body


def test_sessions_through_the_balancer_stay_on_their_replica(stack):
    """A session per replica (round robin spreads them), each run through
    the balancer on the one that holds it."""
    ids = {svc["environment"]["SCOPEBOX_REPLICA_ID"] for svc in stack["replicas"].values()}
    seen = {}
    try:
        for i in range(2 * len(ids)):
            status, _, s = eng.request(stack["url"] + "/v1/sessions", "POST", {"scope": {"n": i}})
            assert status == 201, s
            owner = s["id"].split("-", 1)[0]
            assert owner in ids, s
            seen.setdefault(owner, (s["id"], i))
            if seen.keys() == ids:
                break
        assert seen.keys() == ids, f"sessions made only on {sorted(seen)} of {sorted(ids)}"
        for _ in range(3):
            for sid, n in seen.values():
                status, _, r = eng.request(f"{stack['url']}/v1/sessions/{sid}/run", "POST", {"code": "n += 1"})
                assert status == 200 and r["ok"], r
        for sid, n in seen.values():
            status, _, r = eng.request(f"{stack['url']}/v1/sessions/{sid}/run", "POST", {"code": "n", "mode": "eval"})
            assert status == 200 and r["result"] == n + 3, r
    finally:
        for sid, _ in seen.values():
            eng.request(f"{stack['url']}/v1/sessions/{sid}", "DELETE")
