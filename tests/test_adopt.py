"""Adopting a compose file: `[compose] files = [...]` brings its services in as container services
that host processes can depend on (health included), and its mistakes are located at that key."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from locald.config import check_file
from locald.config.model import ContainerService
from locald.plan import free_port

from stack import Stack

PY = sys.executable
pytestmark = pytest.mark.usefixtures("engine")  # Docker Compose reads the adopted files

COMPOSE = """
services:
  cache:
    image: redis:7
    ports: ["127.0.0.1:{port}:6379"]
    environment:
      PRICE: "$$5"
    healthcheck:
      test: ["CMD", "redis-cli", "ping"]
      interval: 1s
      retries: 30
    networks: [back]
  tools:
    image: debian:bookworm-slim
    profiles: [debug]
networks:
  back: {{}}
"""


def write(root: Path, toml: str, compose: str | None = None, port: int = 16999) -> Path:
    if compose is not None:
        (root / "docker-compose.yml").write_text(compose.format(port=port))
    (root / "locald.toml").write_text(textwrap.dedent(toml))
    return root / "locald.toml"


HOST_PROCESS = """
    [project]
    name = "adopting"

    [compose]
    files = ["docker-compose.yml"]

    [services.web]
    type = "worker"
    command = "echo $CACHE"
    env = { CACHE = "${services.cache.url}" }
    depends_on = { cache = "healthy" }
"""


def test_adopted_services_join_the_project(tmp_path):
    checked = check_file(write(tmp_path, HOST_PROCESS, COMPOSE, port=16999))
    assert checked.problems == []
    project = checked.project
    cache = project.services["cache"]
    assert isinstance(cache, ContainerService) and cache.adopted
    assert "tools" not in project.services  # its profile is not enabled
    assert (cache.image, cache.container_port, cache.port) == ("redis:7", 6379, 16999)
    assert cache.health_check.command == ("redis-cli", "ping") and cache.health_check.interval == 1.0
    # the full definition, in the form Compose prints it ($ escaped), for the translator to emit as is
    assert cache.compose["environment"] == {"PRICE": "$$5"}
    assert cache.compose["networks"] == {"back": None}
    assert project.compose_resources == {"networks": {"back": {}}}
    assert project.services["web"].depends_on[0].condition == "healthy"


def test_profiles_enable_adopted_services(tmp_path):
    toml = HOST_PROCESS.replace('files = ["docker-compose.yml"]', 'files = ["docker-compose.yml"]\nprofiles = ["debug"]')
    project = check_file(write(tmp_path, toml, COMPOSE)).project
    assert project.services["tools"].adopted


def test_locald_toml_resources_add_to_and_override_the_adopted_ones(tmp_path):
    toml = HOST_PROCESS + '\n    [compose.networks.back]\n    internal = true\n    [compose.volumes]\n    data = {}\n'
    project = check_file(write(tmp_path, toml, COMPOSE)).project
    assert project.compose_resources == {"networks": {"back": {"internal": True}}, "volumes": {"data": {}}}


def test_a_missing_compose_file_is_located_at_its_entry(tmp_path):
    checked = check_file(write(tmp_path, HOST_PROCESS.replace("docker-compose.yml", "nope.yml")))
    first = checked.problems[0]
    assert (first.path, first.line) == ("$.compose.files[0]", 6)
    assert "no such compose file: nope.yml" in first.message


def test_an_invalid_compose_file_is_reported_with_composes_reason(tmp_path):
    (tmp_path / "docker-compose.yml").write_text("services:\n  cache:\n    image: redis:7\n    bogus: 1\n")
    checked = check_file(write(tmp_path, HOST_PROCESS))
    first = checked.problems[0]
    assert first.path == "$.compose.files"
    assert "Docker Compose cannot load" in first.message and "'bogus' not allowed" in first.message


def test_a_service_defined_twice_and_a_port_published_twice_are_problems(tmp_path):
    toml = HOST_PROCESS + '\n    [services.cache]\n    command = "sleep 1"\n    port = 16999\n'
    messages = [p.message for p in check_file(write(tmp_path, toml, COMPOSE, port=16999)).problems]
    assert any("also defined by the adopted compose file" in m for m in messages)
    assert any("port 16999 is also published by adopted compose service 'cache'" in m for m in messages)


PING = """
import os, socket, time
s = socket.create_connection(("127.0.0.1", int(os.environ["PORT_OF_CACHE"])))
s.sendall(b"PING\\r\\n")
print("redis says", s.recv(64).decode().strip(), flush=True)
time.sleep(300)
"""


def test_an_adopted_service_runs_beside_a_host_process_that_waits_for_it_healthy(tmp_path):
    port = free_port()
    (tmp_path / "docker-compose.yml").write_text(textwrap.dedent(f"""
        services:
          cache:
            image: redis:7
            command: ["sh", "-c", "sleep 2; exec redis-server --protected-mode no"]
            ports: ["127.0.0.1:{port}:6379"]
            healthcheck:
              test: ["CMD", "redis-cli", "ping"]
              interval: 300ms
              retries: 60
    """))
    (tmp_path / "ping.py").write_text(PING)
    stack = Stack.write(tmp_path, f"""
        [compose]
        files = ["docker-compose.yml"]

        [services.client]
        type = "worker"
        command = ["{PY}", "ping.py"]
        env = {{ PORT_OF_CACHE = "${{services.cache.port}}" }}
        depends_on = {{ cache = "healthy" }}
    """)
    try:
        stack.locald("up", "-d", check=True)
        assert "redis says +PONG" in stack.wait_log("client", "redis says")  # only once Redis answered
        rows = stack.status()
        assert rows["cache"]["health"] == "healthy" and rows["cache"]["port"] == port
        stack.locald("down", check=True)
        stack.assert_nothing_left(engine=True)
    finally:
        stack.cleanup(engine=True)
