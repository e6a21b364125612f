"""The Dockerfile, compose.yaml, the Kubernetes manifest, the nginx config and
the README's Docker section, checked without a Docker engine: every COPY
source is in the build context, every script the image runs is one that CI
runs natively, every environment variable set is one the server reads, and
the nginx config is valid for Debian's nginx."""
import fnmatch
import os
import re
import shutil
import subprocess
import tempfile

import pytest
import yaml

import dockerfile as df

REPO = df.REPO


@pytest.fixture(scope="module")
def stages():
    return df.parse()


@pytest.fixture(scope="module")
def plan(stages):
    return df.Plan(stages)


@pytest.fixture(scope="module")
def server_env_vars():
    """SCOPEBOX_<FLAG> for every flag `scopebox-server --help` lists."""
    out = subprocess.run([os.environ["SCOPEBOX_SERVER"], "--help"], capture_output=True, text=True,
                         check=True).stdout
    flags = re.findall(r"^\s+--([a-z0-9-]+)", out, re.M)
    names = {"SCOPEBOX_" + f.upper().replace("-", "_") for f in flags if f != "help"}
    assert "SCOPEBOX_PORT" in names and "SCOPEBOX_REPLICA_ID" in names, out
    return names


# --- which scripts CI runs ----------------------------------------------------

SCRIPT_REF = re.compile(r"(?:\$\{?\w+\}?/)?((?:[\w.-]+/)*[\w.-]+\.sh)\b")


def script_closure(start):
    """Repo-relative shell scripts reachable from `start` by the paths each
    one names (bash docker/build.sh, "$repo/docker/install-deps.sh",
    "$here/install-deps.sh", ...)."""
    seen, todo = set(), [start]
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        seen.add(rel)
        path = os.path.join(REPO, rel)
        with open(path) as f:
            text = "\n".join(line for line in f if not line.lstrip().startswith("#"))
        for ref in SCRIPT_REF.findall(text):
            for cand in (ref, os.path.join(os.path.dirname(rel), ref)):
                cand = os.path.normpath(cand)
                if os.path.isfile(os.path.join(REPO, cand)) and cand not in seen:
                    todo.append(cand)
                    break
    return seen


def ci_scripts():
    """What .ci/run runs, following script to script."""
    return script_closure(".ci/run")


def test_ci_runs_the_docker_tests():
    """The native image tests below are what CI runs: tests/run.sh runs
    ctest, and tests/docker is registered with it."""
    assert "tests/run.sh" in ci_scripts()
    with open(os.path.join(REPO, "tests", "CMakeLists.txt")) as f:
        assert re.search(r"^add_subdirectory\(docker\)", f.read(), re.M)
    with open(os.path.join(REPO, "tests", "docker", "CMakeLists.txt")) as f:
        cm = f.read()
    for test in ("test_image.py", "test_dockerfile.py", "test_scaleout.py"):
        assert test in cm
    # ... and so is the image built and run by podman (tests/podman).
    with open(os.path.join(REPO, "tests", "CMakeLists.txt")) as f:
        assert re.search(r"^add_subdirectory\(podman\)", f.read(), re.M)
    with open(os.path.join(REPO, "tests", "podman", "CMakeLists.txt")) as f:
        cm = f.read()
    # Labelled podman (as LABELS, or scopebox_add_pytest's LABEL).
    assert re.search(r"\bLABELS? podman\b", cm) and "test_podman_${suite}.py" in cm
    assert re.search(r"foreach\(suite image compose\)", cm)


# --- the Dockerfile -------------------------------------------------------------

def dockerignored(rel, patterns):
    """Docker's .dockerignore, for the patterns used here (no '!')."""
    parts = rel.split("/")
    for pat in patterns:
        pat = pat.rstrip("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if fnmatch.fnmatchcase(prefix, pat) or (pat.startswith("**/") and
                                                     fnmatch.fnmatchcase(parts[i - 1], pat[3:])):
                return True
    return False


def test_the_stages_build_from_bookworm_or_an_earlier_stage(stages):
    assert len(stages) >= 2, "a build stage and a runtime stage"
    names = [s.name for s in stages]
    assert len(set(names)) == len(names)
    for i, s in enumerate(stages):
        assert s.base.startswith("debian:bookworm") or s.base in names[:i], s.base
    for i, s in enumerate(stages):
        for ins in s.all("COPY"):
            if "from" in ins.flags:
                assert ins.flags["from"] in names[:i], f"line {ins.line}: no earlier stage {ins.flags['from']}"


def test_copy_sources_exist(stages):
    with open(os.path.join(REPO, ".dockerignore")) as f:
        ignore = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
    assert not any(p.startswith("!") for p in ignore), "dockerignored() does not do exceptions"
    checked = 0
    for s in stages:
        for ins in s.all("COPY"):
            srcs, _ = df.copy_paths(ins)
            if "from" in ins.flags:
                continue
            for src in srcs:
                path = os.path.normpath(os.path.join(REPO, src))
                assert os.path.exists(path), f"line {ins.line}: COPY {src}: not in the build context"
                if src not in (".", "./"):
                    assert not dockerignored(os.path.relpath(path, REPO), ignore), \
                        f"line {ins.line}: COPY {src} is excluded by .dockerignore"
                checked += 1
    assert checked >= 3
    # What the build stage needs of the context is not ignored, and what it
    # must make itself is.
    for needed in ("docker/build.sh", "docker/install.sh", "CMakeLists.txt", "package-lock.json",
                   "server/main.c", "wasm/runtime/worker.mjs", "web"):
        assert os.path.exists(os.path.join(REPO, needed)), needed
        assert not dockerignored(needed, ignore), needed
    for made in ("node_modules", "build", ".git"):
        assert dockerignored(made, ignore), made


def test_dependencies_are_installed_before_sources_are_copied(plan):
    """The layers with the dependencies (toolchain, emscripten, npm ci; the
    runtime's packages) come before the sources or the built tree are copied
    in, so they stay cached when only sources change."""
    installed = {}
    for stage in plan.stages:
        done = installed.get(stage.base, False)
        for ins in stage.instructions:
            if ins.op == "RUN" and any(len(a) > 1 and a[1].endswith("/install-deps.sh") for a in df.run_steps(ins)):
                done = True
            if ins.op == "COPY" and ("from" in ins.flags or set(df.copy_paths(ins)[0]) & {".", "./"}):
                assert done, f"line {ins.line}: COPY {ins.args} before the stage installs its dependencies"
        installed[stage.name] = done
    assert installed[plan.final.name]


def test_every_script_the_image_runs_is_run_by_ci(plan):
    """RUN lines only call scripts under docker/, each either run by
    tests/docker/test_image.py (which carries out this very plan) or, for
    those the plan skips, by .ci/run itself."""
    assert not plan.errors, plan.errors
    ci = ci_scripts()
    scripts = [s for s in plan.steps if s.script]
    assert {s.script for s in scripts} >= {"docker/build.sh", "docker/install.sh", "docker/setup-runtime.sh"}
    for step in scripts:
        assert step.script.startswith("docker/"), step
        assert os.path.isfile(os.path.join(REPO, step.script)), step
        if step.kind == "skip":
            assert step.script in ci, f"{step.script} is skipped natively but .ci/run does not run it"
        else:
            assert step.kind == "script", step
    # Each script reaches only scripts that exist and were copied along.
    for step in scripts:
        for dep in script_closure(step.script):
            assert dep.startswith("docker/"), (step.script, dep)
    for step in plan.steps:
        if step.kind == "cleanup":
            assert all(p.startswith("/tmp/") or p.startswith("/var/lib/apt/lists") for p in step.argv[2:]), step
    # Everything setup-runtime.sh calls was copied next to it.
    copied = set(plan.copied.values())
    for step in scripts:
        if step.stage == plan.final.name:
            for dep in script_closure(step.script):
                assert dep in copied, f"{step.script} needs {dep}, which the stage does not copy"


def test_runtime_stage_settings(plan):
    entry = plan.entrypoint()
    assert entry, "ENTRYPOINT in exec form"
    assert entry[0] == "/usr/bin/tini" and entry[1] == "--"
    ep = plan.script_of(entry[2])
    assert ep == "docker/entrypoint.sh", entry
    argv, opts = plan.healthcheck()
    assert argv and plan.script_of(argv[0]) == "docker/healthcheck.sh", argv
    assert {"interval", "timeout", "start-period"} <= set(opts)
    user = plan.user()
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric non-root USER (Kubernetes' runAsNonRoot checks it)"
    with open(os.path.join(REPO, "docker", "setup-runtime.sh")) as f:
        assert re.search(rf"^uid={uid}$", f.read(), re.M), "USER and setup-runtime.sh's user agree"
    env = plan.env()
    assert env.get("SCOPEBOX_HOST") == "0.0.0.0"
    assert env.get("SCOPEBOX_PORT") in plan.exposed()
    assert plan.stopsignal() == "SIGTERM"
    # Only the entrypoint and healthcheck are copied from the context into
    # the runtime stage besides the setup scripts.
    for image_path, src in plan.copied_in[plan.final.name].items():
        assert src.startswith("docker/"), (image_path, src)


def test_image_env_is_server_flags(plan, server_env_vars):
    for name in plan.env():
        assert name in server_env_vars, f"Dockerfile ENV {name} is no server flag's variable"
    with open(os.path.join(REPO, "docker", "entrypoint.sh")) as f:
        assigned = set(re.findall(r"\$\{(SCOPEBOX_\w+):=", f.read()))
        assert "SCOPEBOX_HOST" in assigned, assigned
        for name in assigned:
            assert name in server_env_vars, f"entrypoint.sh sets {name}, which the server does not read"


# --- compose and Kubernetes -------------------------------------------------------

def load_yaml_docs(rel):
    with open(os.path.join(REPO, rel)) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def test_compose_replicas_are_built_and_configured_alike(server_env_vars):
    (doc,) = load_yaml_docs("docker/compose.yaml")
    services = doc["services"]
    replicas = {n: s for n, s in services.items() if s.get("image", "").startswith("scopebox")}
    assert len(replicas) >= 2
    for name, svc in replicas.items():
        build = svc["build"]
        ctx = os.path.normpath(os.path.join(REPO, "docker", build["context"]))
        assert ctx == REPO and os.path.isfile(os.path.join(ctx, build["dockerfile"]))
        env = svc["environment"]
        for var in env:
            assert var in server_env_vars, f"{name}: {var} is no server flag's variable"
        # Sessions in the shared Redis, signed with one key: no routing by replica.
        assert env["SCOPEBOX_SESSION_STORE"].startswith("redis://redis:")
        assert env["SCOPEBOX_SESSION_KEY_FILE"] == "/run/secrets/session_key"
        assert "SCOPEBOX_REPLICA_ID" not in env
        assert "redis" in svc["depends_on"]
    assert "redis" in services and "session_key" in doc["secrets"]
    nginx = services["nginx"]
    for vol in nginx["volumes"]:
        src = vol.split(":")[0]
        assert os.path.isfile(os.path.join(REPO, "docker", src)), vol
    with open(os.path.join(REPO, "docker", "nginx", "compose.conf")) as f:
        conf = f.read()
    assert "scopebox_replica" not in conf  # plain round robin
    for name in replicas:
        assert f"server {name}:8080" in conf


def test_k8s_has_the_deployment_and_services_with_the_server_settings(server_env_vars):
    docs = load_yaml_docs("docker/k8s.yaml")
    kinds = {d["kind"]: d for d in docs if d["metadata"]["name"] == "scopebox"}
    assert {"Deployment", "Service"} <= set(kinds)
    assert {(d["kind"], d["metadata"]["name"]) for d in docs} >= {
        ("Deployment", "scopebox-redis"), ("Service", "scopebox-redis")}
    dep = kinds["Deployment"]
    pod = dep["spec"]["template"]["spec"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert kinds["Service"]["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert pod["securityContext"]["runAsNonRoot"] is True
    (c,) = pod["containers"]
    env = {e["name"]: e["value"] for e in c["env"]}
    for var in env:
        assert var in server_env_vars, f"k8s.yaml sets {var}, which is no server flag's variable"
    port = int(env.get("SCOPEBOX_PORT", "8080"))
    assert c["ports"][0]["containerPort"] == port
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] == "/healthz", probe
    lim = c["resources"]["limits"]
    assert "memory" in lim and "cpu" in lim
    # Memory sized from the workers: at least 200 MB per worker process
    # plus the server (sessions hold no worker: they are images in Redis).
    mem = lim["memory"]
    mib = int(mem[:-2]) * (1024 if mem.endswith("Gi") else 1) if mem[-2:] in ("Gi", "Mi") else 0
    workers = int(env.get("SCOPEBOX_WORKERS", "2"))
    assert mib >= 200 * workers, (mem, workers)
    assert env["SCOPEBOX_SESSION_STORE"].startswith("redis://scopebox-redis:")
    assert "SCOPEBOX_SESSION_KEY_FILE" in env
    # The server's drain bound (5 s) fits in the grace period with preStop.
    assert pod["terminationGracePeriodSeconds"] >= 5 + 5 + 1


# --- nginx --------------------------------------------------------------------

NGINX = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin")


@pytest.mark.skipif(NGINX is None, reason="nginx is in install-deps.sh's test profile")
def test_nginx_config_is_valid():
    """compose.conf (with the replicas' names pointed at loopback, since
    there is no Docker DNS here) and the shared locations pass
    `nginx -t` under Debian's nginx."""
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(REPO, "docker", "nginx", "compose.conf")) as f:
            conf = f.read()
        conf = re.sub(r"server scopebox-\w+:8080", "server 127.0.0.1:9", conf)
        conf = conf.replace("include scopebox/", f"include {REPO}/docker/nginx/")
        conf = re.sub(r"listen \[::\]:\d+;", "", conf)
        conf = re.sub(r"listen \d+;", "listen 127.0.0.1:9;", conf)
        with open(os.path.join(tmp, "compose.conf"), "w") as f:
            f.write(conf)
        main = f"""
error_log {tmp}/error.log;
events {{ }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/compose.conf;
}}
"""
        with open(os.path.join(tmp, "nginx.conf"), "w") as f:
            f.write(main)
        r = subprocess.run([NGINX, "-t", "-q", "-p", tmp, "-e", f"{tmp}/error.log", "-c", f"{tmp}/nginx.conf",
                            "-g", f"pid {tmp}/nginx.pid;"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


# --- the README ---------------------------------------------------------------

def readme_section(title):
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, f"README has no '## {title}' section"
    return m.group(1)


def test_readme_run_in_docker(plan, server_env_vars):
    sec = readme_section("Run in Docker")
    assert re.search(r"^docker build -t scopebox \.$", sec, re.M), "the exact docker build line"
    runs = re.findall(r"^docker run .*scopebox.*$", sec, re.M)
    assert runs, "the exact docker run line"
    assert any(f"-p 8080:{plan.env()['SCOPEBOX_PORT']}" in r for r in runs)
    documented = set(re.findall(r"^\| `(SCOPEBOX_[A-Z0-9_]+)` \|", sec, re.M))  # the table
    assert server_env_vars <= documented, f"undocumented: {sorted(server_env_vars - documented)}"
    assert documented <= server_env_vars, f"not server variables: {sorted(documented - server_env_vars)}"
    assert "docker compose -f docker/compose.yaml up --build" in sec


def test_readme_scale_out():
    sec = readme_section("Scale-out")
    for must in ("replica_unavailable", "SCOPEBOX_SESSION_STORE", "/v1/sessions/", "breaks first"):
        assert must in sec, must
