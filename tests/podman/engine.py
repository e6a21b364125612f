"""podman, set up for this kind of machine, and the image built with it from
a clean clone of the repository's HEAD.

What these machines need that the Dockerfile must not know about (issue
#20), all here and in base-image.sh:
- no registry: the base image is debootstrap'd (base-image.sh, cached);
- crun refuses the hybrid cgroup layout: runc;
- podman's default ulimits exceed the hard limits: default_ulimits = []
  and --ulimit nofile=/nproc= at the hard limits a container inherits;
- the egress proxy signs TLS: the host's extra CAs go into the base image;
- the OCI format drops HEALTHCHECK: --format docker (BUILDAH_FORMAT).
Everything goes through one containers.conf (CONTAINERS_CONF), so that
podman-compose's podman calls get the same settings.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("SCOPEBOX_CACHE_DIR", "/var/cache/scopebox")
BASE_IMAGE = "docker.io/library/debian:bookworm-slim"
# The stages before the last, tagged so that `podman image prune` (which
# drops what earlier commits left) keeps the current ones: the dependency
# layers are rebuilt only when install-deps.sh or the npm lock changes, the
# build stage only when sources do.
DEPS_IMAGE = "localhost/scopebox-test/deps:latest"
BUILD_IMAGE = "localhost/scopebox-test/build:latest"
IMAGE = "localhost/scopebox-test/image:latest"
RUNC = shutil.which("runc", path="/usr/sbin:/usr/bin:/sbin:/bin")


def log(msg):
    print(f"podman-test: {msg}", flush=True)


def hard_limits(text):
    """{name: hard limit} from a /proc/PID/limits."""
    out = {}
    for line in text.splitlines()[1:]:
        parts = re.split(r"\s{2,}", line.strip())
        if len(parts) >= 3:
            out[parts[0]] = parts[2]
    return out


class Engine:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="scopebox-podman-")
        self.conf = os.path.join(self.dir, "containers.conf")
        with open(self.conf, "w") as f:
            f.write(f"""\
[containers]
# Podman's defaults (nofile 1048576) are above this machine's hard limits,
# and runc cannot raise them: inherit ours.
default_ulimits = []
[engine]
runtime = "runc"
[engine.runtimes]
runc = ["{RUNC or '/usr/sbin/runc'}"]
""")
        self.env = dict(os.environ, CONTAINERS_CONF=self.conf, BUILDAH_FORMAT="docker")
        # Set by why_not(): --ulimit options within what a container gets here.
        self.ulimits = []

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def podman(self, *args, check=True, timeout=600, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        r = subprocess.run(["podman", "--runtime", RUNC or "runc", *args], env=self.env, timeout=timeout, **kw)
        if check and r.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)}: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def why_not(self):
        """Why no container can run here, or None."""
        if os.geteuid() != 0:
            return "needs root: rootful podman, and debootstrap for the base image"
        if shutil.which("podman") is None:
            return "podman is not installed (docker/install-deps.sh test installs it)"
        if RUNC is None:
            return "runc is not installed (docker/install-deps.sh test installs it)"
        if shutil.which("debootstrap", path=os.environ.get("PATH", "") + ":/usr/sbin") is None:
            return "debootstrap is not installed (docker/install-deps.sh test installs it)"
        r = self.podman("info", check=False, timeout=120)
        if r.returncode != 0:
            return f"`podman info` fails: {r.stderr.strip()[-500:]}"
        self.base_image()
        r = self.podman("run", "--rm", "--network", "none", BASE_IMAGE, "cat", "/proc/self/limits",
                        check=False, timeout=120)
        if r.returncode != 0:
            return f"podman cannot run a container here: {r.stderr.strip()[-500:]}"
        # An explicit --ulimit makes podman add its own nproc default too
        # (above what runc may set here), so both are given, at the hard
        # limits a container inherits.
        limits = hard_limits(r.stdout)
        for opt, name in (("nofile", "Max open files"), ("nproc", "Max processes")):
            if limits.get(name, "unlimited") != "unlimited":
                self.ulimits += ["--ulimit", f"{opt}={limits[name]}:{limits[name]}"]
        return None

    def base_image(self):
        t = time.monotonic()
        r = subprocess.run(["bash", os.path.join(HERE, "base-image.sh"), "podman", "--runtime", RUNC],
                           env=dict(self.env, SCOPEBOX_CACHE_DIR=CACHE, SCOPEBOX_BASE_IMAGE=BASE_IMAGE),
                           capture_output=True, text=True, timeout=1800)
        assert r.returncode == 0, f"base-image.sh failed:\n{r.stdout}\n{r.stderr}"
        log(f"base image {BASE_IMAGE} ready in {time.monotonic() - t:.1f} s: {r.stderr.strip()}")


def clean_clone(dest):
    """The committed HEAD of this checkout, and nothing else (no build
    tree, no node_modules, no uncommitted edits)."""
    head = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=True).stdout
    if dirty:
        log(f"uncommitted changes are not in the image (it is built from {head[:12]}):\n{dirty}")
    subprocess.run(["git", "clone", "-q", "--no-checkout", REPO, dest], check=True)
    subprocess.run(["git", "-C", dest, "checkout", "-q", "--detach", head], check=True)
    # Same content, same layer: git stamps files with the time of the
    # checkout, and the build cache must depend on content only.
    stamp = subprocess.run(["git", "-C", dest, "log", "-1", "--format=%ct"], capture_output=True, text=True,
                           check=True).stdout.strip()
    subprocess.run(["find", dest, "-path", f"{dest}/.git", "-prune", "-o", "-exec", "touch", "-h", "-d",
                    f"@{stamp}", "{}", "+"], check=True)
    return head


def build(engine, context):
    """The repository's Dockerfile, as the README builds it (plus --pull=never:
    there is no registry, the base image is local). Returns the seconds it took."""
    t = time.monotonic()
    # The earlier stages first, under tags of their own (see DEPS_IMAGE);
    # the full build below then reuses them.
    for target, tag in (("deps", DEPS_IMAGE), ("build", BUILD_IMAGE)):
        engine.podman("build", "--pull=never", "--format", "docker", "--target", target, "-t", tag, context,
                      timeout=3600)
    r = engine.podman("build", "--pull=never", "--format", "docker", "-t", IMAGE, context, timeout=3600)
    took = time.monotonic() - t
    cached = r.stdout.count("Using cache")
    steps = r.stdout.count("STEP ")
    log(f"built {IMAGE} in {took:.0f} s ({cached} of {steps} steps from the layer cache; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return took


def image_report(engine, image=IMAGE):
    """The image's size, and what takes the space: its layers and the
    biggest parts of /opt/scopebox."""
    size = engine.podman("image", "inspect", "--format", "{{.Size}}", image).stdout.strip()
    hist = json.loads(engine.podman("history", "--format", "json", image).stdout)
    du = engine.podman("run", "--rm", "--network", "none", "--no-healthcheck", "--user", "0", *engine.ulimits, "--entrypoint", "du",
                       image, "-x", "-d", "4", "-k", "/opt/scopebox", "/usr", "/var").stdout
    big = sorted((int(k), p) for k, p in (line.split("\t", 1) for line in du.splitlines()))[::-1]
    lines = [f"image {image}: {int(size) / 1e6:.1f} MB", "layers (MB, made by):"]
    lines += [f"  {h['size'] / 1e6:8.1f}  {h['CreatedBy'].replace('/bin/sh -c ', '')[:140]}" for h in hist]
    lines.append("largest directories (MB):")
    lines += [f"  {k / 1024:8.1f}  {p}" for k, p in big[:20]]
    log("\n".join(lines))
    return int(size)


class Container:
    """One `podman run -d`, addressed on a loopback port of the host."""

    def __init__(self, engine, run_args, name, port):
        self.engine, self.args, self.name, self.port = engine, list(run_args), name, port

    def start(self):
        self.engine.podman("rm", "-f", self.name, check=False)
        self.started = time.monotonic()
        self.engine.podman(*self.args)
        return self

    def inspect(self, fmt):
        return self.engine.podman("inspect", "--format", fmt, self.name).stdout.strip()

    def running(self):
        return self.inspect("{{.State.Status}}") == "running"

    def logs(self):
        r = self.engine.podman("logs", self.name, check=False)
        return r.stdout + r.stderr

    def healthcheck(self):
        """The image's HEALTHCHECK, run now (no systemd here to time it)."""
        return self.engine.podman("healthcheck", "run", self.name, check=False, timeout=60)

    def wait_healthy(self, timeout=180):
        """Seconds from `podman run` to the first passing healthcheck."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthcheck().returncode == 0:
                return time.monotonic() - self.started
            if not self.running():
                raise AssertionError(f"{self.name} exited ({self.inspect('{{.State.ExitCode}}')}):\n{self.logs()}")
            time.sleep(0.5)
        raise AssertionError(f"{self.name} not healthy in {timeout} s:\n{self.logs()}")

    def wait_log(self, text, timeout=120):
        """The container's log once it holds `text` (e.g. every worker
        ready: the healthcheck passes with the first)."""
        deadline = time.monotonic() + timeout
        while text not in (logs := self.logs()):
            assert time.monotonic() < deadline and self.running(), f"no {text!r} in the log:\n{logs}"
            time.sleep(0.5)
        return logs

    def exec(self, *argv, check=False):
        return self.engine.podman("exec", self.name, *argv, check=check, timeout=120)

    def pid(self):
        """The container's first process (tini), as the host sees it."""
        return int(self.inspect("{{.State.Pid}}"))

    def remove(self):
        self.engine.podman("rm", "-f", "-t", "0", self.name, check=False)


def request(url, method="GET", body=None, timeout=60):
    """(status, headers, parsed JSON or text) from a client we did not write."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, headers, raw = r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        status, headers, raw = e.code, dict(e.headers), e.read()
    try:
        return status, headers, json.loads(raw)
    except ValueError:
        return status, headers, raw


def readme_section(title):
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def readme_commands(title, prefix):
    """The README section's shell lines starting with `prefix`, continuation
    lines joined."""
    import re
    sec = readme_section(title).replace("\\\n", " ")
    return [ln.strip() for ln in sec.splitlines() if re.match(re.escape(prefix) + r"\b", ln.strip())]
