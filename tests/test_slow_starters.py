"""Slow starters on the real engine: a service whose app needs seconds to listen is waited for until
its timeout, whatever its health says meanwhile (starting, or unhealthy: health can recover); the
exported compose file lets `docker compose up --wait` cope with the same services; a service that
never gets ready fails with its last health output."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from locald.compose.export import export_compose
from locald.config import load_project
from locald.plan import make_plan
from test_export import compose, publish_on_free_ports

PY = sys.executable
pytestmark = pytest.mark.usefixtures("engine")

PING_BOTH = """
import os, socket
for var in ("EIGHT", "FORTY"):
    s = socket.create_connection(("127.0.0.1", int(os.environ[var])))
    s.sendall(b"PING\\r\\n")
    print(var, "says", s.recv(64).decode().strip(), flush=True)
import time; time.sleep(300)
"""

# Listens only after DELAY seconds: what a JVM, a first database init or a migration looks like.
SLOW_REDIS = 'command = ["sh", "-c", "sleep {delay}; exec redis-server --protected-mode no"]'
SLOW_HTTP = "sleep 8; exec {py} -m http.server $PORT --bind 127.0.0.1"


def test_slow_containers_and_a_slow_process_come_up_and_gate_a_dependent(engine_stack_factory):
    """`eight` turns unhealthy long before it listens (1 s grace, 1 retry) and recovers; `forty` uses
    locald's defaults throughout (no start_period, no dependency timeout); `web` is a host process
    under the same explicit rule as `eight`. The worker starts only once all three are ready."""
    s = engine_stack_factory(f"""
        [services.eight]
        image = "redis:7"
        container_port = 6379
        {SLOW_REDIS.format(delay=8)}
        health_check = {{ command = "redis-cli ping | grep -q PONG", start_period = "1s", retries = 1 }}

        [services.forty]
        image = "redis:7"
        container_port = 6379
        {SLOW_REDIS.format(delay=40)}
        health_check = "redis-cli ping | grep -q PONG"

        [services.web]
        command = "{SLOW_HTTP.format(py=PY)}"
        health_check = {{ type = "http", start_period = "1s", retries = 1 }}

        [services.client]
        type = "worker"
        command = ["{PY}", "ping.py"]
        env = {{ EIGHT = "${{services.eight.port}}", FORTY = "${{services.forty.port}}" }}
        depends_on = ["eight", "forty", "web"]
    """)
    (s.root / "ping.py").write_text(PING_BOTH)
    up = s.locald("up", "-d", timeout=300)
    assert up.returncode == 0, up.stdout + up.stderr
    log = s.wait_log("client", "FORTY says")
    assert "EIGHT says +PONG" in log and "FORTY says +PONG" in log, log
    status = s.status()
    assert status["eight"]["health"] == "healthy" and status["forty"]["health"] == "healthy"
    assert status["web"]["status"] == "healthy"
    s.locald("down", check=True)
    s.assert_nothing_left(engine=True)


def test_never_ready_fails_after_its_timeout_quoting_the_last_health_output(engine_stack_factory):
    s = engine_stack_factory("""
        [services.sick]
        image = "debian:bookworm-slim"
        command = "sleep 1000"
        health_check = { command = "echo probe-says-no-17; exit 1", retries = 1 }

        [services.client]
        type = "worker"
        command = "sleep 300"
        depends_on = { sick = { condition = "healthy", timeout = "6s" } }
    """)
    up = s.locald("up", "-d")
    text = up.stdout + up.stderr
    assert up.returncode == 1, text
    assert "'sick' was not healthy after 6s" in text and "probe-says-no-17" in text, text
    assert "client" not in s.status() or s.status()["client"]["status"] != "running"
    s.locald("down", check=True)
    s.assert_nothing_left(engine=True)


def test_exported_file_lets_compose_up_wait_cope_with_a_slow_starter(engine, tmp_path):
    """The exported healthcheck leaves the service `starting` (not `unhealthy`) while locald would
    still wait for it, so `docker compose up --wait` (which gives up on unhealthy) waits too."""
    root = tmp_path / "p"
    root.mkdir()
    (root / "locald.toml").write_text(f"""
[project]
name = "ltest-slowexp-{os.getpid()}"

[services.slow]
image = "redis:7"
container_port = 6379
{SLOW_REDIS.format(delay=8)}
health_check = "redis-cli ping | grep -q PONG"

[services.after]
image = "debian:bookworm-slim"
command = "sleep 1000"
depends_on = ["slow"]
""")
    project = load_project(root / "locald.toml")
    text, _ = export_compose(make_plan(project, check_free=False), base_dir=root)
    doc = publish_on_free_ports(yaml.safe_load(text))
    assert doc["services"]["slow"]["healthcheck"]["start_period"] == "120s"
    file = root / "compose.yaml"
    file.write_text(yaml.safe_dump(doc, sort_keys=False))
    name = f"ltest-slowexp-{os.getpid()}"
    try:
        up = compose("-f", str(file), "-p", name, "up", "-d", "--wait", timeout=200)
        assert up.returncode == 0, up.stderr
        ps = compose("-f", str(file), "-p", name, "ps", "--format", "{{.Service}} {{.Status}}").stdout
        assert "slow" in ps and "(healthy)" in ps and "after" in ps, ps
    finally:
        compose("-f", str(file), "-p", name, "down", "-v", timeout=120)
        subprocess.run(["docker", "network", "rm", f"{name}_default"], capture_output=True)
