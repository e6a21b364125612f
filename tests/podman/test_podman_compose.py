"""docker/compose.yaml under podman-compose (Debian's), from the clean
clone: Redis, the replicas built from the Dockerfile, and nginx on one
network; runs and sessions through the balancer.

The file is used as it is, with changes for a shared test machine: the
balancer's port is a free loopback one instead of 8080, the project has a
name of its own, and the copy lives outside the build context (so that it
cannot change the image), with its relative paths made absolute and its
secrets (session.key) made next to it, as the file's comment tells a user
to. Services that only name an upstream image (nginx, Redis) get a stand-in
built from the local base image with Debian's package, under the name the
file uses, because no registry answers here (STAND_INS)."""
import hashlib
import json
import os
import re
import socket
import subprocess
import time

import pytest
import yaml

import engine as eng

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
        " && rm -rf /var/lib/apt/lists/* && mkdir /data && chown redis:redis /data",
        # As upstream: its files (the append-only file of compose's command)
        # in /data, which a fresh named volume takes with its owner.
        "VOLUME /data",
        "WORKDIR /data",
        "USER redis",
        # Upstream builds redis with protected mode off (it is reached from
        # the replicas' containers, without a password); Debian's is on and
        # would refuse them. Appended to whatever command compose gives.
        'ENTRYPOINT ["/bin/sh", "-c", "exec \\"$@\\" --protected-mode no", "redis-stand-in"]',
        'CMD ["redis-server"]',
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
    recipe = "\n".join([f"FROM {eng.BASE_IMAGE}", *STAND_INS[repo]])
    # Made again when its recipe changes (the label), not only when missing.
    key = hashlib.sha256(recipe.encode()).hexdigest()[:16]
    r = engine.podman("image", "inspect", "--format", '{{index .Labels "scopebox.test.stand-in"}}',
                      full_name(image), check=False)
    if r.returncode == 0 and r.stdout.strip() == key:
        return
    d = os.path.join(tmp, repo)
    os.makedirs(d)
    with open(os.path.join(d, "Containerfile"), "w") as f:
        f.write(f"{recipe}\nLABEL scopebox.test.stand-in={key}\n")
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
    # The file's secrets, made as the user makes them (compose.yaml's
    # comment: 32 random bytes, readable as `head -c ... >` leaves them),
    # next to the copy. podman-compose 1.0.3 supports `file:` secrets the
    # way Docker Compose does outside swarm, a read-only bind mount at
    # /run/secrets/NAME, but passes the path to podman as written: so it is
    # made absolute.
    copy_dir = str(tmp_path_factory.mktemp("compose"))
    for name, secret in doc.get("secrets", {}).items():
        assert set(secret) == {"file"} and secret["file"].startswith("."), (name, secret)
        secret["file"] = os.path.normpath(os.path.join(copy_dir, secret["file"]))
        with open(secret["file"], "wb") as f:
            f.write(os.urandom(32))
        os.chmod(secret["file"], 0o644)
    file = os.path.join(copy_dir, "compose.yaml")
    with open(file, "w") as f:
        yaml.safe_dump(doc, f, sort_keys=False)

    # With -v: the named volume (Redis's /data) goes too, here and after the
    # run, as the stack's containers do. A volume kept from an earlier run
    # holds a podman lock number from then, and podman's locks live in
    # /dev/shm while its "no reboot since" mark lives in /run/libpod: where
    # /run is on disk (these machines), a boot gives podman a fresh set of
    # locks without renumbering the kept volume, and the first new container
    # gets the volume's number ("share lock ID 0: deadlock due to lock
    # mismatch"): Redis's container is never made. Each run then also starts
    # with an empty /data, so the append-only file checked below is this
    # run's.
    compose(engine, file, "down", "-v", "-t", "0")
    t = time.monotonic()
    up = compose(engine, file, "up", "-d", "--build")
    names = {n: f"{PROJECT}_{n}_1" for n in services}
    try:
        # podman-compose 1.0.3 goes on, and exits 0, when a `podman run` fails:
        # its own output says why, not the replicas' (which then cannot find
        # the service they depend on).
        missing = [n for n, c in names.items() if engine.podman("container", "exists", c, check=False).returncode]
        assert not missing, f"`podman-compose up` made no container for {missing}:\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}"
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
        subprocess.run(["podman-compose", "-p", PROJECT, "-f", file, "down", "-v", "-t", "10"], env=engine.env,
                       capture_output=True, timeout=300)


def test_replicas_run_as_the_file_says(engine, stack):
    for n, svc in stack["replicas"].items():
        c = eng.Container(engine, [], stack["names"][n], None)
        assert c.inspect("{{.HostConfig.ReadonlyRootfs}}") == "true"
        assert c.exec("id", "-u").stdout.strip() == "10001"
        logs = c.wait_log(f"ready on http://0.0.0.0:8080 ({svc['environment']['SCOPEBOX_WORKERS']} workers)")
        assert "INSECURE" not in logs, logs
        # The key is the secret's file (read-only): the server did not make one.
        assert "session key: made a new one" not in logs, logs
        assert c.exec("test", "-r", svc["environment"]["SCOPEBOX_SESSION_KEY_FILE"]).returncode == 0


def test_stateless_runs_through_the_balancer(stack):
    for x in range(6):
        status, _, body = eng.request(stack["url"] + "/v1/run", "POST",
                                      {"code": "x*2", "mode": "eval", "scope": {"x": x}})
        assert status == 200 and body["result"] == 2 * x, body


def replica_metrics(engine, name):
    """One replica's own /metrics (through the balancer one sees whichever
    answers), read inside its container: the image has bash's /dev/tcp,
    no curl."""
    r = engine.podman("exec", name, "bash", "-c",
                      'exec 3<>/dev/tcp/127.0.0.1/8080 && printf "GET /metrics HTTP/1.1\\r\\nHost: localhost\\r\\n'
                      'Connection: close\\r\\n\\r\\n" >&3 && cat <&3')
    return {m[1]: float(m[2]) for m in re.finditer(r"^([a-z_]+(?:\{[^}]*\})?) (\S+)\r?$", r.stdout, re.M)}


def resumes(engine, name):
    m = replica_metrics(engine, name)
    return {how: m[f'scopebox_session_resumes_total{{how="{how}"}}'] for how in ("image", "resident")}


def session_run(stack, sid, code, mode="exec"):
    status, _, r = eng.request(f"{stack['url']}/v1/sessions/{sid}/run", "POST", {"code": code, "mode": mode})
    assert status == 200 and r["ok"], (sid, code, status, r)
    return r


def new_session(stack, scope):
    status, _, s = eng.request(stack["url"] + "/v1/sessions", "POST", {"scope": scope})
    assert status == 201, s
    return s["id"]


RUNS = 6


def test_sessions_through_the_balancer_keep_their_state_in_redis(engine, stack):
    """Sessions made and run through the balancer: round robin sends a
    session's consecutive runs to both replicas, and each run starts from
    the state the run before left (in Redis), whichever replica ran it."""
    names = [stack["names"][n] for n in stack["replicas"]]
    before = {n: resumes(engine, n) for n in names}
    sids = []
    try:
        for i in range(2):
            sids.append(new_session(stack, {"n": 100 * i, "seen": []}))
        for i, sid in enumerate(sids):
            for k in range(RUNS):
                session_run(stack, sid, f"seen.append({k})\nn += 1")
            r = session_run(stack, sid, "[n, seen]", mode="eval")
            assert r["result"] == [100 * i + RUNS, list(range(RUNS))], r
    finally:
        for sid in sids:
            eng.request(f"{stack['url']}/v1/sessions/{sid}", "DELETE")
    after = {n: resumes(engine, n) for n in names}
    served = {n: sum(after[n].values()) - sum(before[n].values()) for n in names}
    # A session job per run, and one per creation (a scope is decoded by a
    # worker: server/session_jobs.c, session_create).
    assert sum(served.values()) == len(sids) * (RUNS + 2), (before, after)
    # Both replicas ran these sessions, and each took up state the other
    # one left: an image from Redis, not a state of its own.
    assert all(after[n]["image"] > before[n]["image"] for n in names), (before, after)


def test_redis_keeps_its_append_only_file_in_the_volume(engine, stack):
    (redis,) = [n for n, s in stack["doc"]["services"].items() if "redis" in s.get("image", "")]
    c = eng.Container(engine, [], stack["names"][redis], None)
    mounts = json.loads(c.inspect("{{json .Mounts}}"))
    assert any(m["Destination"] == "/data" and m["Type"] == "volume" for m in mounts), mounts
    r = c.exec("ls", "/data/appendonlydir")
    assert r.returncode == 0 and ".aof" in r.stdout, (r.stdout, r.stderr, c.logs()[-2000:])


def test_sessions_outlive_a_stopped_replica(engine, stack):
    """With one replica stopped, sessions made and run on both before answer
    through nginx from the other, their state exact. Last: the stack is
    left with that replica started again, but nginx may not reach it."""
    sids = []
    for i in range(2):
        sids.append(new_session(stack, {"n": 10 * i}))
    for sid in sids:
        for _ in range(2):
            session_run(stack, sid, "n += 1")
    gone = eng.Container(engine, [], stack["names"][sorted(stack["replicas"])[0]], None)
    engine.podman("stop", "-t", "15", gone.name)
    try:
        assert not gone.running()
        for i, sid in enumerate(sids):
            for _ in range(2):
                session_run(stack, sid, "n += 1")
            assert session_run(stack, sid, "n", mode="eval")["result"] == 10 * i + 4
    finally:
        for sid in sids:
            eng.request(f"{stack['url']}/v1/sessions/{sid}", "DELETE")
        engine.podman("start", gone.name, check=False)
