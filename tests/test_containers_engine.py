"""ContainerRuntime against the real engine: start/wait/status/stop, health gating, the postgres
preset, probes inside images, and every error a user can meet. Each project is `ltest-…-PID` and is
removed (containers, network, volumes) by a finaliser."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from locald.config import load_project
from locald.config.model import Project
from locald.errors import LocaldError
from locald.plan import make_plan
from locald.runtime.containers import engine, images
from locald.runtime.containers.engine import remove_project
from locald.runtime.containers.errors import ContainerError
from locald.runtime.containers.runtime import ContainerRuntime, log_line_service, logs_argv
from locald.runtime.service_runtime import Cancelled

pytestmark = pytest.mark.engine


def project_for(root: Path, tag: str, services: str) -> Project:
    name = f"ltest-{tag}-{os.getpid()}"
    root.mkdir(parents=True, exist_ok=True)
    (root / "locald.toml").write_text(f'[project]\nname = "{name}"\n\n{services}')
    return load_project(root / "locald.toml")


def runtime_for(root: Path, tag: str, services: str) -> ContainerRuntime:
    """What the supervisor does before starting: images ready (engine checked), the frozen plan with
    the images' exposed ports, the runtime, its compose file."""
    project = project_for(root, tag, services)
    facts = images.prepare(project, [s.name for s in project.containers], say=lambda line: None)
    rt = ContainerRuntime(make_plan(project, images.exposed_ports(project, facts.infos)), facts)
    rt.prepare(names(rt), say=lambda line: None)
    return rt


def names(rt: ContainerRuntime) -> list[str]:
    return [s.name for s in rt.plan.project.containers]


def destroy(rt: ContainerRuntime) -> None:
    try:
        rt.stop(None)
    finally:
        rt.close()
        project = rt.plan.compose_project
        engine.remove_project(rt.owner)
        vols = engine.run(["volume", "ls", "-q", "--filter", f"label={engine.PROJECT_LABEL}={project}"]).stdout.split()
        if vols:
            engine.run(["volume", "rm", "-f", *vols])


def leftovers(project: str) -> tuple[list[str], list[str]]:
    label = f"label={engine.PROJECT_LABEL}={project}"
    return (engine.run(["ps", "-aq", "--filter", label]).stdout.split(),
            engine.run(["network", "ls", "-q", "--filter", label]).stdout.split())


# --- a running stack, shared by the tests that only look at it ------------------------------------

STACK = """
[services.cache]
image = "redis:7"
health_check = { command = "redis-cli ping", interval = "300ms" }

[services.db]
type = "postgres"
version = 15
env = { POSTGRES_PASSWORD = "pa$$word", POSTGRES_DB = "app" }

[services.plain]
image = "redis:7"

[services.tcp]
image = "redis:7"
container_port = 6379
health_check = { type = "tcp", interval = "300ms" }

[services.http]
image = "redis:7"
container_port = 8080
command = ["sh", "-c", "sleep 2; exec perl -MIO::Socket::INET -e '$s=IO::Socket::INET->new(LocalPort=>8080,Listen=>5,ReuseAddr=>1) or die; while($c=$s->accept){<$c>; print $c \\"HTTP/1.0 204 No Content\\\\r\\\\n\\\\r\\\\n\\"; close $c}'"]
health_check = { type = "http", path = "/healthz", interval = "300ms", start_period = "20s" }

[services.crash]
image = "debian:bookworm-slim"
command = ["sh", "-c", "echo crash-marker-41 >&2; sleep 1; exit 3"]
health_check = { command = "exit 1", interval = "300ms", start_period = "60s" }

[services.sick]
image = "debian:bookworm-slim"
command = "sleep 1000"
health_check = { command = "echo probe-marker-17; exit 1", interval = "300ms", retries = 1, start_period = "1s" }

[services.never]
image = "debian:bookworm-slim"
command = "sleep 1000"
health_check = { command = "exit 1", interval = "300ms", start_period = "60s" }

[services.job]
image = "debian:bookworm-slim"
command = ["sh", "-c", "echo job-done"]
"""


@pytest.fixture(scope="module")
def stack(engine, tmp_path_factory):
    rt = runtime_for(tmp_path_factory.mktemp("stack"), "rt", STACK)
    try:
        names_ = names(rt)
        began = time.monotonic()
        rt.start(names_)
        yield rt, began
    finally:
        destroy(rt)


def test_wait_and_status(stack):
    rt, _ = stack
    rt.wait("cache", "healthy", 30)
    assert rt.has_readiness("cache") and not rt.has_readiness("plain")
    rt.wait("plain", "started", 30)
    status = rt.status()
    assert status["cache"]["state"] == "running" and status["cache"]["health"] == "healthy"
    assert status["plain"]["health"] is None
    port = rt.plan.ports["cache"]
    assert {"host_ip": "127.0.0.1", "host_port": port, "container_port": 6379, "protocol": "tcp"} in status["cache"]["ports"]
    assert rt.plan.container_ports["plain"] == 6379, "the image's single EXPOSE fills container_port"


def test_redis_answers_on_the_published_port(stack):
    rt, _ = stack
    rt.wait("cache", "healthy", 30)
    with socket.create_connection(("127.0.0.1", rt.plan.ports["cache"]), timeout=5) as sock:
        sock.sendall(b"PING\r\n")
        assert sock.recv(64) == b"+PONG\r\n"


def test_postgres_preset_is_healthy_and_its_url_works(stack):
    rt, _ = stack
    rt.wait("db", "healthy", 90)
    assert rt.status()["db"]["health"] == "healthy"
    # Inside the container, with the URL a container consumer gets (its own name resolves in the network).
    url = rt.plan.url("db", consumer="db")
    assert url == "postgres://postgres:pa$$word@db:5432/app"
    inside = url.replace("@db:", "@127.0.0.1:")
    out = subprocess.run(["docker", "exec", rt.status()["db"]["container"], "psql", inside, "-tAc", "select 40+2"],
                         capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "42", out.stderr
    # From the host, on the published port: a Postgres server answers the SSLRequest with N or S.
    with socket.create_connection(("127.0.0.1", rt.plan.ports["db"]), timeout=5) as sock:
        sock.sendall((8).to_bytes(4, "big") + (80877103).to_bytes(4, "big"))
        assert sock.recv(1) in (b"N", b"S")


def test_tcp_and_http_probes_run_inside_the_image(stack):
    rt, began = stack
    rt.wait("tcp", "healthy", 30)
    rt.wait("http", "healthy", 30)
    assert time.monotonic() - began >= 2.0, "the http server only listens after 2 s"


def test_exited_container_reports_its_last_log_lines(stack):
    rt, _ = stack
    with pytest.raises(ContainerError) as err:
        rt.wait("crash", "healthy", 30)
    text = str(err.value)
    assert "'crash' exited with code 3" in text and "crash-marker-41" in text and "healthy" in text


def test_unhealthy_container_is_waited_for_and_its_probe_output_reported(stack):
    """Unhealthy is not final (health can recover): the timeout decides, and quotes the probe."""
    rt, _ = stack
    with pytest.raises(ContainerError) as err:
        rt.wait("sick", "healthy", 3)
    assert "'sick' was not healthy after 3s" in str(err.value)
    assert "health: unhealthy" in str(err.value) and "probe-marker-17" in str(err.value)


def test_timeout_says_what_it_waited_for(stack):
    rt, _ = stack
    t0 = time.monotonic()
    with pytest.raises(ContainerError) as err:
        rt.wait("never", "healthy", 1.0)
    assert time.monotonic() - t0 < 5
    assert "'never' was not healthy after 1s" in str(err.value) and "health: starting" in str(err.value)


def test_cancel_returns_early(stack):
    rt, _ = stack
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        rt.wait("never", "healthy", 60, cancel)
    assert time.monotonic() - t0 < 3


def test_completed_successfully(stack):
    rt, _ = stack
    rt.wait("job", "completed_successfully", 30)
    with pytest.raises(ContainerError, match="no health check"):
        rt.wait("job", "healthy", 5)


def test_logs_argv(stack):
    rt, _ = stack
    rt.wait("job", "completed_successfully", 30)
    out = subprocess.run(logs_argv(rt.compose_argv(), ["job"], follow=False, tail=10), capture_output=True,
                         text=True, timeout=30)
    line = next(l for l in out.stdout.splitlines() if "job-done" in l)
    assert log_line_service(line.split("|")[0]) == "job"


def test_stop_some_then_all(stack, tmp_path):
    rt, _ = stack
    rt.stop(["job", "crash"])
    assert not {"job", "crash"} & set(rt.status())
    assert "cache" in rt.status()


# --- health gating ---------------------------------------------------------------------------------

def test_not_ready_before_healthy(engine, tmp_path):
    """Redis listens only after 3 s; the published port accepts TCP earlier (docker-proxy). locald
    must report it ready only once the in-container check passes."""
    rt = runtime_for(tmp_path, "gate", """
[services.slow]
image = "redis:7"
container_port = 6379
command = ["sh", "-c", "sleep 3; exec redis-server --protected-mode no"]
health_check = { command = "redis-cli ping | grep -q PONG", interval = "200ms", start_period = "30s" }
""")
    try:
        t0 = time.monotonic()
        rt.start(["slow"])
        assert rt.status()["slow"]["health"] == "starting"
        rt.wait("slow", "healthy", 30)
        elapsed = time.monotonic() - t0
        assert elapsed >= 3.0, f"reported ready after {elapsed:.2f}s, before redis listened"
        with socket.create_connection(("127.0.0.1", rt.plan.ports["slow"]), timeout=5) as sock:
            sock.sendall(b"PING\r\n")
            assert sock.recv(64) == b"+PONG\r\n"
    finally:
        destroy(rt)
    assert leftovers(rt.plan.compose_project) == ([], [])


# --- errors ----------------------------------------------------------------------------------------

def test_engine_not_running(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent")
    project = project_for(tmp_path, "noengine", '[services.r]\nimage = "redis:7"\n')
    with pytest.raises(LocaldError, match=r"not reachable at unix:///nonexistent \(from DOCKER_HOST\)"):
        images.prepare(project, ["r"], say=print)


def test_no_docker_cli(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    project = project_for(tmp_path, "nocli", '[services.r]\nimage = "redis:7"\n')
    with pytest.raises(LocaldError, match="`docker` command was not found"):
        images.prepare(project, ["r"], say=print)


def test_compose_plugin_missing(engine, monkeypatch, tmp_path):
    empty = tmp_path / "docker-config"
    empty.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(empty))
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        pytest.skip("the Compose plugin is installed system-wide here; it cannot be hidden with DOCKER_CONFIG")
    project = project_for(tmp_path, "nocompose", '[services.r]\nimage = "redis:7"\n')
    with pytest.raises(LocaldError, match="Docker Compose v2 is missing"):
        images.prepare(project, ["r"], say=print)


def test_image_missing_and_not_pullable(engine, tmp_path, monkeypatch):
    monkeypatch.setattr("locald.runtime.containers.images.PULL_TIMEOUT", 20.0)
    project = project_for(tmp_path, "noimage", '[services.ghost]\nimage = "locald-test.invalid/ghost:0"\n')
    lines: list[str] = []
    t0 = time.monotonic()
    with pytest.raises(LocaldError) as err:
        images.prepare(project, ["ghost"], say=lines.append)
    assert time.monotonic() - t0 < 30
    assert "image 'locald-test.invalid/ghost:0' (service 'ghost') is not on this machine and could not be pulled" in str(err.value)
    assert lines and lines[0].startswith("pulling locald-test.invalid/ghost:0"), "pull progress is visible"


def test_port_already_taken_names_the_holder(engine, tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        rt = runtime_for(tmp_path, "taken", f'[services.cache]\nimage = "redis:7"\nport = {port}\n')
        try:
            with pytest.raises(LocaldError) as err:
                rt.start(["cache"])
            text = str(err.value)
            assert f"host port {port} of container service 'cache' is already in use" in text
            assert f"(pid {os.getpid()})" in text
        finally:
            destroy(rt)
    assert leftovers(rt.plan.compose_project) == ([], [])


def test_down_removes_containers_and_network_and_is_fast(engine, tmp_path):
    services = "".join(f'[services.s{i}]\nimage = "debian:bookworm-slim"\ncommand = "sh -c \'sleep 1000\'"\n\n'
                       for i in range(5))
    rt = runtime_for(tmp_path, "down", services)
    try:
        rt.start(names(rt))
        for n in names(rt):
            rt.wait(n, "started", 30)
        t0 = time.monotonic()
        rt.stop(None)
        took = time.monotonic() - t0
        assert leftovers(rt.plan.compose_project) == ([], [])
        assert took < 5, f"down took {took:.1f}s: PID 1 ignored SIGTERM (init: true missing?)"
    finally:
        destroy(rt)


def test_remove_project_without_the_compose_file(engine, tmp_path):
    rt = runtime_for(tmp_path, "crashed", '[services.r]\nimage = "redis:7"\n')
    try:
        rt.start(names(rt))
        rt.compose_file.unlink()  # a crash left no file behind
        remove_project(rt.owner)
        assert leftovers(rt.plan.compose_project) == ([], [])
    finally:
        rt.write_compose()
        destroy(rt)


def test_python_on_whales_is_not_imported_by_the_cli():
    code = "import sys, locald.cli, locald.compose.export; print('python_on_whales' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
