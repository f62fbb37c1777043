"""What `validate` accepts, the rest of locald can take: generated *valid* locald.toml files (schema and
semantics) go through the planner, the translator (runtime and export) and the export's YAML without
an exception. A failure here is either a mistake `validate` should report or a bug downstream.

The generator builds every kind with its keys, dependencies on earlier services (no cycles), fixed ports
that do not clash, references between services, all three `depends_on` forms, both health_check forms,
short and long volumes, `compose` passthrough, `x-` keys, and text with anything but NUL in it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
import tomlkit
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SHARED_COMPAT
from locald.compose.export import export_compose
from locald.compose.translate import to_compose
from locald.config import check_file
from locald.config.watch import WatchedPath
from locald.config.watch import spec as watch_spec
from locald.plan import make_plan

EXPOSED = 8080  # the single port every image exposes here (the runtime asks the engine for it)

text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=12)
words = text.filter(bool)
# An image reference as the schema accepts it: no whitespace, not starting with '-'.
image_refs = text.filter(lambda t: t and not t.startswith("-") and not any(c.isspace() for c in t))
names = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,62}", fullmatch=True).filter(lambda n: not n.startswith("x-"))
env_names = words.filter(lambda k: not set(k) & set("=\r\n"))
ports = st.integers(1, 65535)
durations = st.one_of(st.integers(0, 10**6), st.floats(0, 1e6),
                      st.from_regex(r"([0-9]{1,4}(\.[0-9]{1,2})?(ns|us|ms|s|m|h)){1,3}", fullmatch=True))
commands = st.one_of(words, st.lists(text, min_size=1, max_size=3))
signals = st.sampled_from(["SIGTERM", "INT", "SIGRTMIN+3", "RTMAX-1", "KILL", "SIGHUP", "QUIT", "SIGUSR1"])
scalars = st.one_of(text, st.integers(-2**63, 2**63 - 1), st.booleans(), st.floats(allow_nan=False, allow_infinity=False))
anything = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(text, inner, max_size=3)), max_leaves=6)
volume_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{1,12}", fullmatch=True)
targets = st.from_regex(r"/[a-z0-9_./-]{0,15}", fullmatch=True)
short_volumes = st.one_of(
    targets,
    st.builds(lambda s, t, m: f"{s}:{t}{m}", st.one_of(volume_names, st.sampled_from(["./data", "/srv", "~/x", "../up"])),
              targets, st.sampled_from(["", ":ro", ":rw", ":ro,z", ":Z", ":nocopy", ":rshared"])))
long_volumes = st.one_of(
    st.fixed_dictionaries({"type": st.just("bind"), "source": st.sampled_from(["./a", "/b", "c"]), "target": targets}),
    st.fixed_dictionaries({"type": st.just("volume"), "target": targets}, optional={"source": volume_names}),
    st.fixed_dictionaries({"type": st.just("tmpfs"), "target": targets}))
compose_keys = st.fixed_dictionaries({}, optional={  # real compose keys, well-formed
    "shm_size": st.sampled_from(["256m", "1g"]), "cap_add": st.just(["SYS_PTRACE"]), "init": st.booleans(),
    "labels": st.dictionaries(words, text, max_size=2), "x-extra": anything})
RESOURCES = {"networks": {}, "volumes": {}, "secrets": {"file": "./s.txt"}, "configs": {"file": "./c.conf"},
             "models": {"model": "ai/smollm2"}}  # a well-formed definition of each
resource_names = st.from_regex(r"[a-zA-Z0-9._-]{1,12}", fullmatch=True)
health_tables = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["http", "tcp", "command"]), "path": text, "command": commands, "port": ports,
    "interval": durations, "timeout": durations, "retries": st.integers(1, 10**6), "start_period": durations,
    "x-note": anything}).filter(lambda hc: hc.get("type") != "command" or "command" in hc)
conditions = st.sampled_from(["started", "healthy", "completed_successfully"])


def _readable(pattern: str, as_path: bool) -> bool:
    try:
        WatchedPath.of(pattern, Path("/")) if as_path else watch_spec([pattern])
        return True
    except ValueError:
        return False


watch_paths = st.one_of(words, st.sampled_from(["src/**/*.py", "web/src", "./conf/*.ini", "../shared/lib", "*"])).filter(
    lambda p: _readable(p, as_path=True))
watch_ignores = words.filter(lambda p: _readable(p, as_path=False))


@st.composite
def watches(draw, kind: str, builds: bool):
    """`watch` in every form; container actions for containers (rebuild when they build)."""
    actions = ["restart"] + (["sync", "sync+restart"] + ["rebuild"] * builds if kind in ("container", "postgres") else [])

    @st.composite
    def rule(draw):
        action = draw(st.sampled_from(actions))
        table = {"paths": draw(st.one_of(watch_paths, st.lists(watch_paths, min_size=1, max_size=3)))}
        table.update(draw(st.fixed_dictionaries({}, optional={"action": st.just(action), "gitignore": st.booleans(),
                                                              "ignore": st.one_of(watch_ignores, st.lists(watch_ignores, max_size=2)),
                                                              "x-note": anything})))
        if table.get("action") in ("sync", "sync+restart"):
            table["target"] = "/" + draw(text)
        return table

    return draw(st.one_of(st.lists(watch_paths, min_size=1, max_size=3), rule(), st.lists(rule(), min_size=1, max_size=2)))


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True)


@st.composite
def env_values(draw, others: list[str], workers: set[str]):
    if others and draw(st.booleans()):
        target = draw(st.sampled_from(others))
        field = draw(st.sampled_from(["host"] if target in workers else ["host", "port", "url"]))
        return f"{draw(text)}${{services.{target}.{field}}}{draw(text)}"
    return draw(st.one_of(text, st.integers(-10**6, 10**6), st.booleans(), st.floats(-1e6, 1e6)))


@st.composite
def service(draw, name: str, earlier: list[str], workers: set[str], used_ports: set[int], tame: bool) -> dict:
    """tame: what goes to Compose unchecked (`compose`, table volumes and ports) is well-formed too."""
    wild = st.nothing() if tame else st.dictionaries(text, anything, max_size=2)  # the schema takes any table
    kind = draw(st.sampled_from(["exec", "worker", "site", "container", "postgres"]))
    raw: dict = {}
    if kind != "exec" or draw(st.booleans()):
        raw["type"] = kind
    if kind in ("exec", "worker"):
        raw["command"] = draw(commands)
    elif kind == "container":
        raw.update(draw(st.one_of(
            st.fixed_dictionaries({"image": st.one_of(st.sampled_from(["redis:7", "nginx", "ghcr.io/a/b:1"]), image_refs)}),
            st.fixed_dictionaries({"build": st.one_of(words, st.fixed_dictionaries(
                {"context": words}, optional={"dockerfile": text,
                                              "args": st.dictionaries(env_names, st.one_of(text, st.integers(), st.booleans()),
                                                                      max_size=2)}))}))))
    elif kind == "site":
        raw.update(draw(st.fixed_dictionaries({}, optional={"path": words})))
    if kind in ("container", "postgres"):
        raw.update(draw(st.fixed_dictionaries({}, optional={
            "command": commands, "container_port": ports, "entrypoint": commands, "user": text,
            "ports": st.lists(st.one_of(st.sampled_from(["8443:443", "9229", "127.0.0.1:9229:9229", "[::1]:80:80"]),
                                        ports, st.fixed_dictionaries({"target": ports}), wild), max_size=2,
                              unique_by=_canonical),
            "volumes": st.lists(st.one_of(short_volumes, long_volumes, wild), max_size=3, unique_by=_canonical),
            "compose": st.one_of(compose_keys, wild),
        })))
        if kind == "postgres":
            raw.update(draw(st.fixed_dictionaries({}, optional={"version": st.one_of(words, st.integers(0, 99),
                                                                                     st.floats(0, 99))})))
    if kind != "worker" and draw(st.booleans()):
        port = draw(ports.filter(lambda p: p not in used_ports))
        used_ports.add(port)
        raw["port"] = port
    others = [n for n in earlier if n != name]
    if draw(st.booleans()):
        raw["watch"] = draw(watches(kind, "build" in raw))
    raw.update(draw(st.fixed_dictionaries({}, optional={
        "workdir": text,
        "env": st.dictionaries(env_names, env_values(earlier, workers), max_size=3),
        "health_check": st.one_of(words, health_tables),
        "stop_signal": signals,
        "stop_grace_period": durations,
        "restart": st.sampled_from(["no", "on-failure", "always"]),
        "max_restarts": st.integers(0, 100),
        "x-owner": anything,
    })))
    if others and draw(st.booleans()):
        deps = draw(st.lists(st.sampled_from(others), min_size=1, max_size=3, unique=True))
        raw["depends_on"] = draw(st.one_of(
            st.just(deps),
            st.fixed_dictionaries({d: conditions for d in deps}),
            st.fixed_dictionaries({d: st.fixed_dictionaries({}, optional={
                "condition": conditions, "timeout": durations, "required": st.booleans()}) for d in deps})))
    return raw


@st.composite
def documents(draw) -> dict:
    service_names = draw(st.lists(names, min_size=1, max_size=6, unique=True))
    services: dict = {}
    workers: set[str] = set()
    used_ports: set[int] = set()
    tame = draw(st.booleans())
    for i, name in enumerate(service_names):
        raw = draw(service(name, service_names[:i], workers, used_ports, tame))
        services[name] = raw
        if raw.get("type") == "worker":
            workers.add(name)
    project = {"name": draw(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                                    min_size=1, max_size=63))}
    doc = {"project": project, "services": services, "x-tame": tame}
    if draw(st.booleans()):
        doc["compose"] = draw(st.fixed_dictionaries({}, optional={
            key: st.dictionaries(resource_names, st.just(table) if tame else st.dictionaries(text, anything, max_size=2),
                                 max_size=2)
            for key, table in RESOURCES.items()}))
    if draw(st.booleans()):
        services["x-common"] = draw(st.dictionaries(text, anything, max_size=2))
    return doc


_tmp = Path(tempfile.mkdtemp(prefix="locald-valid-"))


@pytest.fixture(scope="module", autouse=True)
def _cleanup():
    yield
    shutil.rmtree(_tmp, ignore_errors=True)


def _compose_spec():
    path = SHARED_COMPAT / "compose-spec.json"
    if not path.is_file():
        return None
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(path.read_text()))


SPEC = _compose_spec()


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(documents())
def test_what_validate_accepts_plans_translates_and_exports(doc):
    file = _tmp / "locald.toml"
    file.write_text(tomlkit.dumps(doc), encoding="utf-8")
    checked = check_file(file)
    assert checked.problems == [], "\n".join(map(str, checked.problems))  # else the generator is wrong
    project = checked.project
    exposed = {s.name: EXPOSED for s in project.containers}
    plan = make_plan(project, exposed, check_free=False)
    for name in plan.order:
        plan.env(name)
    runtime_doc = to_compose(plan, engine_api=(1, 41))
    export_doc = to_compose(plan, export=True)
    text, warnings = export_compose(plan)
    assert yaml.safe_load(text) == export_doc  # the YAML says exactly what the translator built
    assert all(isinstance(w, str) and "\n" not in w for w in warnings)
    if SPEC is not None and doc["x-tame"]:  # the Compose Specification's own schema (kept outside the project)
        for produced in (runtime_doc, export_doc):
            errors = [f"{list(e.absolute_path)}: {e.message}" for e in SPEC.iter_errors(produced)]
            assert errors == [], errors
