"""`locald export compose`: the file passes `docker compose config -q`, validates against the Compose
Specification schema, and `docker compose up -d --wait` starts the same containers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, run_locald
from locald.compose.export import export_compose
from locald.runtime.containers.images import known_exposed_ports
from locald.config import load_project
from locald.plan import make_plan

EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/locald.toml"))

RICH = """
[project]
name = "export-rich"

[services.cache]
image = "redis:7"
health_check = "redis-cli ping"

[services.db]
type = "postgres"
version = 15
env = { POSTGRES_PASSWORD = "pa$$word" }

[services.app]
image = "debian:bookworm-slim"
command = ["sh", "-c", "echo \\"$CACHE $DB $(cat /init/marker)\\"; exec sleep 1000"]
volumes = ["./init:/init:ro"]
env = { CACHE = "${services.cache.url}", DB = "${services.db.url}", API = "${services.api.url}" }
depends_on = ["cache", "db"]

[services.api]
command = "python3 -m http.server $PORT"
depends_on = ["db"]
"""


def compose(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "compose", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def validate_spec(doc: dict, compat: Path) -> None:
    import jsonschema

    schema = json.loads((compat / "compose-spec.json").read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


def publish_on_free_ports(doc: dict) -> dict:
    """The export publishes fixed ports (6379 for redis), which other test runs on this machine may
    hold at any moment: move every published port to a free one (the file was checked as written)."""
    for service in doc["services"].values():
        ports = []
        for p in service.get("ports", []):
            if isinstance(p, str) and p.count(":") == 2:
                ip, host, container = p.split(":")
                if host:
                    with socket.socket() as s:
                        s.bind(("127.0.0.1", 0))
                        host = str(s.getsockname()[1])
                p = f"{ip}:{host}:{container}"
            ports.append(p)
        if ports:
            service["ports"] = ports
    return doc


class HostStandIn:
    """What a teammate does for a host process left out of the file: run something on its port."""

    def __init__(self, port: int):
        self.sock = socket.create_server(("0.0.0.0", port), reuse_port=False)
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                try:
                    conn.settimeout(2)
                    conn.recv(4096)  # read the request first: closing early would SIGPIPE the client
                    conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nok\n")
                except OSError:
                    pass

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def up_wait_down(text: str, directory: Path, tag: str, plan) -> set[str]:
    """Start the exported file with plain Compose, return the running services; always clean up."""
    doc = publish_on_free_ports(yaml.safe_load(text))
    file = directory / "compose.yaml"
    file.write_text(yaml.safe_dump(doc, sort_keys=False))
    project = f"ltest-exp-{tag}-{os.getpid()}"
    stand_ins = [HostStandIn(plan.ports[s.name]) for s in plan.project.processes if plan.ports.get(s.name)]
    try:
        result = compose("-f", str(file), "-p", project, "up", "-d", "--wait", "--wait-timeout", "90", timeout=150)
        assert result.returncode == 0, result.stderr
        ps = compose("-f", str(file), "-p", project, "ps", "--format", "json")
        rows = [json.loads(line) for line in ps.stdout.splitlines() if line.strip()]
        return {r["Service"] for r in rows if r["State"] == "running"}
    finally:
        compose("-f", str(file), "-p", project, "down", "-v", "--remove-orphans", timeout=120)
        for s in stand_ins:
            s.close()


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_example_exports_to_a_valid_compose_file(example, engine, shared_compat, tmp_path):
    out = tmp_path / "compose.yaml"
    result = run_locald("-f", str(ROOT / "examples" / example / "locald.toml"), "export", "compose", "-o", str(out))
    assert result.returncode == 0, result.stderr
    config = compose("-f", str(out), "config", "-q")
    assert config.returncode == 0, config.stderr
    doc = yaml.safe_load(out.read_text())
    validate_spec(doc, shared_compat)
    assert not any("dev.locald" in json.dumps(s.get("labels", {})) for s in doc["services"].values())


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_example_export_starts_with_compose_up_wait(example, engine, tmp_path):
    project = load_project(ROOT / "examples" / example / "locald.toml")
    plan = make_plan(project, known_exposed_ports(project), check_free=False)
    text, _ = export_compose(plan, base_dir=project.root)
    # Written next to locald.toml, as a teammate would, so relative paths resolve.
    running = up_wait_down(text, tmp_path, example, plan)
    assert running == {s.name for s in project.containers}


def test_rich_project_round_trip(engine, shared_compat, tmp_path):
    root = tmp_path / "rich"
    (root / "init").mkdir(parents=True)
    (root / "init" / "marker").write_text("bind-mount-ok\n")
    (root / "locald.toml").write_text(RICH)
    out = root / "deploy" / "compose.yaml"
    result = run_locald("export", "compose", "-o", str(out), cwd=root)
    assert result.returncode == 0, result.stderr
    # Host processes and the edges they take with them are named on stderr.
    assert "host processes left out (compose runs containers only): api (exec)" in result.stderr
    assert "api → db" in result.stderr
    assert "app: its env points at host process api" in result.stderr
    text = out.read_text()
    doc = yaml.safe_load(text)
    assert set(doc["services"]) == {"cache", "db", "app"}
    assert doc["services"]["app"]["volumes"][0] == "../init:/init:ro", "relative to the written file"
    assert doc["services"]["db"]["environment"]["POSTGRES_PASSWORD"] == "pa$$$$word"
    assert doc["services"]["cache"]["ports"] == ["127.0.0.1:6379:6379"], "the image's EXPOSE, as a fixed port"
    assert doc["services"]["app"]["depends_on"] == {"cache": {"condition": "service_healthy"},
                                                   "db": {"condition": "service_healthy"}}
    assert compose("-f", str(out), "config", "-q").returncode == 0
    validate_spec(doc, shared_compat)

    project = f"ltest-exp-rich-{os.getpid()}"
    doc = publish_on_free_ports(doc)
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    try:
        up = compose("-f", str(out), "-p", project, "up", "-d", "--wait", "--wait-timeout", "90", timeout=150)
        assert up.returncode == 0, up.stderr
        logs = compose("-f", str(out), "-p", project, "logs", "app").stdout
        assert "redis://cache:6379 postgres://postgres:pa$$word@db:5432/postgres bind-mount-ok" in logs
        query = compose("-f", str(out), "-p", project, "exec", "-T", "db", "psql",
                        "postgres://postgres:pa$$word@127.0.0.1:5432/postgres", "-tAc", "select 40+2")
        assert query.stdout.strip() == "42", query.stderr
    finally:
        compose("-f", str(out), "-p", project, "down", "-v", timeout=120)


def test_export_to_stdout_without_docker(tmp_path, monkeypatch):
    """The export needs no engine: without one it just cannot learn images' exposed ports."""
    (tmp_path / "locald.toml").write_text('[project]\nname = "x"\n\n[services.r]\nimage = "redis:7"\nport = 7000\n')
    result = run_locald("export", "compose", cwd=tmp_path, env={**os.environ, "PATH": "/nonexistent"})
    assert result.returncode == 0, result.stderr
    assert "image: redis:7" in result.stdout
    assert "r: port 7000 is not published" in result.stderr
