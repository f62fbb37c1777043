"""Mixed stacks on the real engine: depends_on across kinds both ways, late health, crash safety,
and examples/mixed end to end."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from stack import Stack, wait_until

PY = sys.executable
ROOT = Path(__file__).resolve().parent.parent
PING_PY = """
import os, socket, time
s = socket.create_connection(("127.0.0.1", int(os.environ["R"])))
s.sendall(b"PING\\r\\n")
print("redis says", s.recv(64).decode().strip(), flush=True)
time.sleep(300)
"""

pytestmark = pytest.mark.usefixtures("engine")


def test_process_waits_for_a_container_that_becomes_healthy_late(engine_stack_factory):
    s = engine_stack_factory(f"""
        [services.cache]
        image = "redis:7"
        container_port = 6379
        command = ["sh", "-c", "sleep 3; exec redis-server --protected-mode no"]
        health_check = {{ command = "redis-cli ping", interval = "300ms", start_period = "20s" }}

        [services.client]
        type = "worker"
        command = ["{PY}", "ping.py"]
        env = {{ R = "${{services.cache.port}}" }}
        depends_on = ["cache"]
    """)
    (s.root / "ping.py").write_text(PING_PY)
    t0 = time.monotonic()
    s.locald("up", "-d", check=True)
    assert time.monotonic() - t0 >= 3, "up returned before the container could be healthy"
    log = s.wait_log("client", "redis says")
    assert "redis says +PONG" in log, log  # connected only once Redis really answered
    s.locald("down", check=True)
    s.assert_nothing_left(engine=True)


def test_container_waits_for_a_host_process(engine_stack_factory):
    s = engine_stack_factory(f"""
        [services.api]
        command = "sleep 1; exec {PY} -m http.server $PORT --bind 0.0.0.0"

        [services.caller]
        image = "debian:bookworm-slim"
        command = ["bash", "-c", "exec 3<>/dev/tcp/$H/$P && printf 'GET / HTTP/1.0\\\\r\\\\n\\\\r\\\\n' >&3 && head -1 <&3; sleep 300"]
        env = {{ H = "${{services.api.host}}", P = "${{services.api.port}}" }}
        depends_on = {{ api = "healthy" }}
    """)
    s.locald("up", "-d", check=True)
    out = wait_until(lambda: "HTTP/1.0 200" in (o := s.locald("logs", "--no-color", "caller").stdout) and o,
                     timeout=20, what="the container's request to the host process")
    assert "caller" in out
    s.locald("down", check=True)
    s.assert_nothing_left(engine=True)


def test_sigkill_of_supervisor_with_containers_then_down(engine_stack_factory):
    s = engine_stack_factory("""
        [services.cache]
        image = "redis:7"
        container_port = 6379
        health_check = "redis-cli ping"

        [services.w]
        type = "worker"
        command = "sleep 300"
        depends_on = ["cache"]
    """)
    s.locald("up", "-d", check=True)
    assert s.containers()
    os.kill(s.supervisor_pid(), signal.SIGKILL)
    time.sleep(0.2)
    s.locald("down", check=True)
    s.assert_nothing_left(engine=True)


def test_examples_mixed_end_to_end(tmp_path):
    project = tmp_path / "mixed"
    shutil.copytree(ROOT / "examples" / "mixed", project, ignore=shutil.ignore_patterns(".locald"))
    (project / "locald.toml").write_text((project / "locald.toml").read_text().replace(
        'name = "mixed-example"', f'name = "ltest-mixed-{os.getpid()}"'))
    s = Stack(project, f"ltest-mixed-{os.getpid()}")
    try:
        s.locald("up", "-d", check=True)
        status = s.status()
        assert status["cache"]["health"] == "healthy"
        assert status["migrate"]["exit_code"] == 0
        body = urllib.request.urlopen(status["web"]["url"] + "/", timeout=5).read().decode()
        assert "schema_version=1" in body
        s.wait_log("worker", "job 2 done")
        smoke = wait_until(lambda: "200" in (o := s.locald("logs", "--no-color", "smoke").stdout) and o,
                           timeout=20, what="the smoke container reaching web")
        assert "HTTP/1.0 200" in smoke
        s.locald("down", check=True)
        s.assert_nothing_left(engine=True)
    finally:
        s.cleanup(engine=True)
