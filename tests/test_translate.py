"""Project → compose translation: golden files (tests/golden/*.yaml), and the rules they encode.

Regenerate the golden files after an intended change with:
    LOCALD_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_translate.py
then read the diff.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from locald.compose.export import export_compose
from locald.compose.translate import LABEL_CONFIG_HASH, LABEL_SERVICE, config_hash, to_compose
from locald.config import load_project
from locald.errors import LocaldError
from locald.plan import Plan, make_plan

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("LOCALD_UPDATE_GOLDEN") == "1"
ROOT = "<ROOT>"


def fixed_plan(toml: str) -> Plan:
    """A plan with deterministic host ports (41001, 41002, … where none is configured)."""
    project = load_project(GOLDEN / toml)
    ports, n = {}, 41000
    for s in project.services.values():
        if s.kind != "worker":
            n += 1
            ports[s.name] = s.port or n
    return plan_of(project, ports)


def plan_of(project, ports: dict[str, int]) -> Plan:
    """The plan with these host ports for the services that have no fixed one."""
    return make_plan(project, previous_ports=ports, check_free=False)


def adopted_plan() -> Plan:
    """An adopted service as `docker compose config --format json` normalises it (escaped `$$`)."""
    plan = fixed_plan("postgres.toml")
    definition = {
        "image": "redis:7", "command": ["redis-server", "--save", ""],
        "environment": {"SECRET": "a$$b"},
        "labels": {"team": "cache"},
        "extra_hosts": ["printer=10.0.0.9"],
        "networks": {"default": None, "backend": None},
        "ports": [{"mode": "ingress", "host_ip": "127.0.0.1", "target": 6379, "published": "6380", "protocol": "tcp"}],
        "volumes": [{"type": "volume", "source": "cache-data", "target": "/data", "volume": {}}],
        "healthcheck": {"test": ["CMD", "redis-cli", "ping"], "interval": "1s", "start_interval": "500ms"},
    }
    cache = dataclasses.replace(plan.project.services["db"], name="cache", kind="container", adopted=True,
                                compose=definition, env={})
    services = {"cache": cache}
    project = dataclasses.replace(plan.project, services=services)
    return plan_of(project, {})


def render(doc: dict) -> str:
    for service in doc["services"].values():  # the hash covers absolute paths: it differs per checkout
        if LABEL_CONFIG_HASH in service.get("labels", {}):
            service["labels"][LABEL_CONFIG_HASH] = "<HASH>"
    text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=1000)
    return text.replace(str(GOLDEN), ROOT)


CASES = {
    "full.runtime": lambda: to_compose(fixed_plan("full.toml"), engine_api=(1, 41)),
    "full.runtime-api144": lambda: to_compose(fixed_plan("full.toml"), engine_api=(1, 44)),
    "full.export": lambda: to_compose(fixed_plan("full.toml"), export=True),
    "postgres.runtime": lambda: to_compose(fixed_plan("postgres.toml"), engine_api=(1, 41)),
    "postgres.export": lambda: to_compose(fixed_plan("postgres.toml"), export=True),
    "adopted.runtime": lambda: to_compose(adopted_plan(), engine_api=(1, 41)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case):
    text = render(CASES[case]())
    path = GOLDEN / f"{case}.yaml"
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"{path.name} missing: run LOCALD_UPDATE_GOLDEN=1 pytest {__file__}"
    assert text == path.read_text(), f"{path.name} differs: if intended, regenerate with LOCALD_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_is_valid_compose(case, engine, tmp_path):
    """`docker compose config -q` accepts every golden document (runtime ones with real paths)."""
    text = (GOLDEN / f"{case}.yaml").read_text().replace(ROOT, str(GOLDEN))
    file = GOLDEN / f".check-{case}.yaml"  # next to the inputs, so relative paths resolve as exported
    file.write_text(text)
    try:
        result = subprocess.run(["docker", "compose", "-f", str(file), "--env-file", os.devnull, "config", "-q"],
                                capture_output=True, text=True, timeout=60)
    finally:
        file.unlink()
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_matches_compose_spec(case, shared_compat):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((shared_compat / "compose-spec.json").read_text())
    doc = yaml.safe_load((GOLDEN / f"{case}.yaml").read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


# --- the rules, one by one ---------------------------------------------------------------------------

def test_dollar_is_escaped_everywhere():
    doc = to_compose(fixed_plan("full.toml"), engine_api=(1, 41))
    api = doc["services"]["api"]
    assert api["environment"]["PRICE"] == "5$$"
    assert api["command"] == "serve --port 8080 --greeting 'hello $$USER'"
    assert doc["services"]["setup"]["command"] == ["sh", "-c", "echo $$HOME > /tmp/x"]
    assert "$$code" in render(doc)  # inside the generated bash http probe too


def test_runtime_publishes_on_localhost_with_labels():
    doc = to_compose(fixed_plan("full.toml"), engine_api=(1, 41))
    api, cache = doc["services"]["api"], doc["services"]["cache"]
    assert api["ports"][0] == "127.0.0.1:18080:8080"
    assert "127.0.0.1::9229" in api["ports"] and "127.0.0.1:8443:443" in api["ports"]
    assert api["labels"][LABEL_SERVICE] == "api" and api["labels"]["team"] == "core"
    assert "ports" not in cache, "no container_port and no exposed port known: nothing to publish"
    assert api["volumes"][0] == f"{GOLDEN}/src:/srv/src:ro"
    assert api["env_file"] == [f"{GOLDEN}/app.env"]
    assert doc["volumes"] == {"data": {}, "logs": {}}
    assert "depends_on" not in api, "the coordinator orders starts; compose must not"


def test_export_has_no_labels_relative_paths_and_fixed_ports(tmp_path):
    plan = fixed_plan("full.toml")
    doc = to_compose(plan, export=True)
    api = doc["services"]["api"]
    assert all("labels" not in s or "dev.locald.service" not in s["labels"] for s in doc["services"].values())
    assert api["volumes"][0] == "./src:/srv/src:ro" and api["build"]["context"] == "./api"
    assert doc["services"]["probe"]["ports"] == ["127.0.0.1:6379:6379"], "teammates get the container port"
    assert "web" not in doc["services"]
    assert api["depends_on"] == {"cache": {"condition": "service_healthy"},
                                 "setup": {"condition": "service_completed_successfully", "required": False}}
    # Written elsewhere: paths stay right relative to the file.
    sub = to_compose(plan, export=True, base_dir=GOLDEN / "out")
    assert sub["services"]["api"]["volumes"][0] == "../src:/srv/src:ro"


def test_init_by_default_and_opt_out():
    doc = to_compose(fixed_plan("full.toml"), engine_api=(1, 41))
    assert doc["services"]["api"]["init"] is True
    assert doc["services"]["cache"]["init"] is False  # compose = { init = false }


def test_start_interval_only_for_engines_that_accept_it():
    old = to_compose(fixed_plan("full.toml"), engine_api=(1, 41))["services"]["api"]["healthcheck"]
    new = to_compose(fixed_plan("full.toml"), engine_api=(1, 44))["services"]["api"]["healthcheck"]
    assert "start_interval" not in old and new["start_interval"] == "1s"
    adopted = to_compose(adopted_plan(), engine_api=(1, 41))["services"]["cache"]["healthcheck"]
    assert "start_interval" not in adopted


def test_postgres_preset():
    doc = to_compose(fixed_plan("postgres.toml"), engine_api=(1, 41))
    db, old = doc["services"]["db"], doc["services"]["old"]
    assert db["image"] == "postgres:16" and old["image"] == "postgres:15"
    assert db["environment"] == {"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "s3cr$$t", "POSTGRES_DB": "app"}
    assert "pg_isready" in db["healthcheck"]["test"][1] and "-U app" in db["healthcheck"]["test"][1]
    assert db["volumes"] == ["db-data:/var/lib/postgresql/data"] and "db-data" in doc["volumes"]
    assert old["volumes"] == [f"{GOLDEN}/pgdata:/var/lib/postgresql/data"], "the user's data mount wins"
    assert old["healthcheck"]["test"] == ["CMD-SHELL", "pg_isready -U postgres"]
    assert "stop_signal" not in db, "the image's STOPSIGNAL (SIGINT for postgres) is kept"


def test_adopted_service_is_emitted_as_defined():
    doc = to_compose(adopted_plan(), engine_api=(1, 41))
    cache = doc["services"]["cache"]
    assert cache["ports"][0]["published"] == "6380", "adopted ports are not re-published"
    assert cache["environment"] == {"SECRET": "a$$b"}, "already escaped by compose: not escaped twice"
    assert cache["labels"]["team"] == "cache" and cache["labels"][LABEL_SERVICE] == "cache"
    assert "host.docker.internal:host-gateway" in cache["extra_hosts"] and "printer=10.0.0.9" in cache["extra_hosts"]
    assert doc["volumes"] == {"cache-data": {}} and doc["networks"] == {"backend": {}}
    assert "init" not in cache


def test_compose_resources_are_written(tmp_path):
    plan = fixed_plan("postgres.toml")
    project = dataclasses.replace(plan.project, compose_resources={
        "networks": {"backend": {"driver": "bridge"}}, "secrets": {"pw": {"file": "./pw.txt"}},
        "x-note": "cost: 5$"})
    doc = to_compose(plan_of(project, plan.ports), export=True)
    assert doc["networks"] == {"backend": {"driver": "bridge"}}
    assert doc["secrets"] == {"pw": {"file": "./pw.txt"}}
    assert doc["x-note"] == "cost: 5$$"


def test_http_health_check_without_port_is_explained():
    plan = fixed_plan("full.toml")
    api = dataclasses.replace(plan.project.services["api"], container_port=None)
    project = dataclasses.replace(plan.project, services={**plan.project.services, "api": api})
    with pytest.raises(LocaldError, match="needs a port inside the container"):
        to_compose(plan_of(project, plan.ports), engine_api=(1, 41))


def test_export_warnings_name_what_was_left_out():
    text, warnings = export_compose(fixed_plan("full.toml"))
    joined = "\n".join(warnings)
    assert "host processes left out" in joined and "web (exec)" in joined
    assert "web → cache" in joined and "api → web" in joined
    assert text.startswith("# Exported by `locald export compose`")


def test_health_check_start_period_defaults_to_how_long_up_waits(tmp_path):
    """Docker must not call a slow starter unhealthy while locald (or `compose up --wait` on the
    export) would still wait for it: the start period is the longest timeout a dependent gives."""
    (tmp_path / "locald.toml").write_text("""
[project]
name = "sp"

[services.slow]
image = "redis:7"
health_check = "redis-cli ping"

[services.quick]
image = "redis:7"
health_check = { command = "redis-cli ping", start_period = "5s" }

[services.alone]
image = "redis:7"
health_check = "redis-cli ping"

[services.a]
image = "redis:7"
depends_on = { slow = { condition = "healthy", timeout = "5m" }, quick = "healthy" }

[services.b]
image = "redis:7"
depends_on = { slow = { condition = "healthy", timeout = "30s" } }
""")
    plan = plan_of(load_project(tmp_path / "locald.toml"), {})
    for export in (False, True):
        services = to_compose(plan, export=export, engine_api=(1, 41))["services"]
        assert services["slow"]["healthcheck"]["start_period"] == "300s"
        assert services["quick"]["healthcheck"]["start_period"] == "5s", "written by the user"
        assert services["alone"]["healthcheck"]["start_period"] == "120s"


def test_adopted_ports_without_an_address_stay_on_this_machine():
    """A compose file that publishes `"6380:6379"` gives no address; at run time locald binds it to
    127.0.0.1 like every other port, and the export keeps the file's own form."""
    plan = adopted_plan()
    cache = plan.project.services["cache"]
    port = {"mode": "ingress", "target": 6379, "published": "6380", "protocol": "tcp"}
    cache = dataclasses.replace(cache, compose={**cache.compose, "ports": [port]})
    plan = plan_of(dataclasses.replace(plan.project, services={"cache": cache}), {})
    assert to_compose(plan, engine_api=(1, 41))["services"]["cache"]["ports"] == [{**port, "host_ip": "127.0.0.1"}]
    assert to_compose(plan, export=True)["services"]["cache"]["ports"] == [port]
    assert "host_ip" not in port, "the project's own definition is not changed"


def test_remote_contexts_and_windows_paths_are_kept_as_written(tmp_path):
    (tmp_path / "locald.toml").write_text(r"""
[project]
name = "paths"

[services.api]
build = "https://github.com/example/api.git#main:src"
volumes = ['C:\data:/data', '\\server\share:/share:ro', "./local:/local", "named:/named"]
""")
    for export in (False, True):
        api = to_compose(make_plan(load_project(tmp_path / "locald.toml"), check_free=False), export=export,
                         engine_api=(1, 41))["services"]["api"]
        assert api["build"] == {"context": "https://github.com/example/api.git#main:src"}
        assert api["volumes"][:2] == ["C:\\data:/data", "\\\\server\\share:/share:ro"]
        assert api["volumes"][2] == (f"{tmp_path}/local:/local" if not export else "./local:/local")
    doc = to_compose(make_plan(load_project(tmp_path / "locald.toml"), check_free=False), engine_api=(1, 41))
    assert doc["volumes"] == {"named": {}}, "a drive letter is not a named volume"


def test_a_container_carries_the_hash_of_its_definition():
    """Like compose's own config hash: what a converging `up` compares; it changes with the
    definition and with nothing else."""
    plan = fixed_plan("full.toml")
    first = to_compose(plan, engine_api=(1, 41))["services"]
    again = to_compose(fixed_plan("full.toml"), engine_api=(1, 41))["services"]
    for name, service in first.items():
        assert service["labels"][LABEL_CONFIG_HASH] == config_hash(service) == again[name]["labels"][LABEL_CONFIG_HASH]
    api = plan.project.services["api"]
    changed = dataclasses.replace(plan.project, services={**plan.project.services,
                                                          "api": dataclasses.replace(api, env={**api.env, "X": "1"})})
    other = to_compose(plan_of(changed, plan.ports), engine_api=(1, 41))["services"]
    assert other["api"]["labels"][LABEL_CONFIG_HASH] != first["api"]["labels"][LABEL_CONFIG_HASH]
    assert all(other[n]["labels"][LABEL_CONFIG_HASH] == first[n]["labels"][LABEL_CONFIG_HASH] for n in first if n != "api")
    assert LABEL_CONFIG_HASH not in to_compose(plan, export=True)["services"]["api"].get("labels", {})
