"""The validated configuration as frozen dataclasses. Built only from data that passed all checks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

PROCESS_KINDS = ("exec", "worker", "site")
CONTAINER_KINDS = ("container", "postgres")
# How long `up` waits for a dependency (and for a service's own readiness) unless `timeout` says
# otherwise. Slow starters are common in development (a first database init, a JVM, a migration on a
# laptop's VM): giving up on a service that was still coming up costs a whole restart, waiting longer
# for a broken one only costs time while its logs are on screen. Spring Boot's compose support waits
# 2 minutes too.
DEFAULT_TIMEOUT = 120.0

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: float | int | str) -> float:
    """Seconds, from a number of seconds or a compose-style string ('1m30s')."""
    if isinstance(value, (int, float)):
        return float(value)
    return sum(float(n) * _UNIT[u] for n, u in _DURATION_PART.findall(value))


def kind_of(raw: dict[str, Any]) -> str:
    """The service kind: explicit `type`, else container when an image or build is given."""
    kind = raw.get("type")
    if isinstance(kind, str) and kind in PROCESS_KINDS + CONTAINER_KINDS:
        return kind
    return "container" if ("image" in raw or "build" in raw) else "exec"


@dataclass(frozen=True)
class HealthCheck:
    type: str  # http | tcp | command
    path: str = "/"
    command: str | tuple[str, ...] | None = None
    port: int | None = None
    interval: float = 1.0
    timeout: float = 5.0
    retries: int = 3
    start_period: float = 0.0


@dataclass(frozen=True)
class WatchRule:
    """Files (paths and globs, relative to locald.toml) and what a change to them does."""

    paths: tuple[str, ...]
    action: str = "restart"  # restart | sync | rebuild | sync+restart (the last three: containers only)
    target: str | None = None  # sync: where each watched path goes inside the container
    ignore: tuple[str, ...] = ()  # .gitignore-style patterns, relative to each watched path
    gitignore: bool = True  # also leave out what the project's .gitignore files ignore


@dataclass(frozen=True)
class Dependency:
    name: str
    condition: str | None  # None: `healthy` when the dependency has a readiness check, else `started`
    timeout: float = DEFAULT_TIMEOUT
    required: bool = True


@dataclass(frozen=True, kw_only=True)
class Service:
    name: str
    kind: str
    command: str | tuple[str, ...] | None = None
    workdir: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    env_file: tuple[str, ...] = ()
    port: int | None = None
    depends_on: tuple[Dependency, ...] = ()
    health_check: HealthCheck | None = None
    stop_signal: str = "SIGTERM"
    stop_grace_period: float = 10.0
    restart: str = "no"
    max_restarts: int | None = None
    watch: tuple[WatchRule, ...] = ()

    @property
    def is_container(self) -> bool:
        return self.kind in CONTAINER_KINDS


@dataclass(frozen=True, kw_only=True)
class ProcessService(Service):
    path: str | None = None  # `site`: the directory served


@dataclass(frozen=True, kw_only=True)
class ContainerService(Service):
    image: str | None = None
    build: dict[str, Any] | None = None
    container_port: int | None = None
    ports: tuple[Any, ...] = ()
    volumes: tuple[Any, ...] = ()
    entrypoint: str | tuple[str, ...] | None = None
    user: str | None = None
    version: str | None = None
    compose: dict[str, Any] = field(default_factory=dict)
    adopted: bool = False  # comes from an adopted compose file: its compose definition is used as is


def state_dir_of(file: Path) -> Path:
    """Where a running stack keeps its state and logs: .locald/ beside its locald.toml."""
    return Path(file).resolve().parent / ".locald"


@dataclass(frozen=True)
class Project:
    name: str
    file: Path  # the locald.toml
    services: dict[str, Service]
    domain: str | None = None
    compose_files: tuple[Path, ...] = ()
    compose_profiles: tuple[str, ...] = ()
    # Top-level compose definitions (networks, volumes, secrets, configs, models, x-*): the adopted
    # files' and then [compose.*]'s, literal values (see locald.compose.adopt.compose_resources).
    compose_resources: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.file.parent

    @property
    def state_dir(self) -> Path:
        return state_dir_of(self.file)

    def ready_timeout(self, name: str) -> float:
        """How long `up` waits for this service to be ready: the longest `timeout` a dependent gives
        it, else DEFAULT_TIMEOUT. Also its health checks' default start_period: until then, failed
        probes leave it "starting" rather than "unhealthy"."""
        return self._ready_timeouts.get(name, DEFAULT_TIMEOUT)

    @cached_property
    def _ready_timeouts(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for service in self.services.values():
            for dep in service.depends_on:
                out[dep.name] = max(out.get(dep.name, 0.0), dep.timeout)
        return out

    @property
    def processes(self) -> list[ProcessService]:
        return [s for s in self.services.values() if not s.is_container]

    @property
    def containers(self) -> list[ContainerService]:
        return [s for s in self.services.values() if s.is_container]


def _int(value):
    """Draft-07 (and so the schema) accepts 3000.0 as an integer; the runtime wants 3000."""
    return int(value) if isinstance(value, float) else value


def _command(value):
    return tuple(value) if isinstance(value, list) else value


def _env_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _health(raw) -> HealthCheck | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return HealthCheck(type="command", command=raw)
    kind = raw.get("type") or ("command" if "command" in raw else "http" if "path" in raw else "tcp")
    return HealthCheck(
        type=kind,
        path=raw.get("path", "/"),
        command=_command(raw.get("command")),
        port=_int(raw.get("port")),
        interval=parse_duration(raw.get("interval", 1)),
        timeout=parse_duration(raw.get("timeout", 5)),
        retries=_int(raw.get("retries", 3)),
        start_period=parse_duration(raw.get("start_period", 0)),
    )


def _dependencies(raw) -> tuple[Dependency, ...]:
    if raw is None:
        return ()
    if isinstance(raw, list):
        return tuple(Dependency(name, None) for name in raw)
    deps = []
    for name, spec in raw.items():
        if isinstance(spec, str):
            deps.append(Dependency(name, spec))
        else:
            deps.append(Dependency(name, spec.get("condition", "healthy"),
                                   parse_duration(spec.get("timeout", DEFAULT_TIMEOUT)), spec.get("required", True)))
    return tuple(deps)


def _strings(value) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value or ())


def _watch(raw) -> tuple[WatchRule, ...]:
    """`watch`: a table, an array of tables, or an array of paths (strings together make one restart rule)."""
    if raw is None:
        return ()
    items = [raw] if isinstance(raw, dict) else raw
    rules = [WatchRule(paths=_strings(t["paths"]), action=t.get("action", "restart"), target=t.get("target"),
                       ignore=_strings(t.get("ignore")), gitignore=t.get("gitignore", True))
             for t in items if isinstance(t, dict)]
    paths = tuple(p for p in items if isinstance(p, str))
    return ((WatchRule(paths),) if paths else ()) + tuple(rules)


def _signal_name(value: str) -> str:
    value = value.upper()
    return value if value.startswith("SIG") else "SIG" + value


def build_service(name: str, raw: dict[str, Any]) -> Service:
    kind = kind_of(raw)
    common = dict(
        name=name,
        kind=kind,
        command=_command(raw.get("command")),
        workdir=raw.get("workdir"),
        env={k: _env_value(v) for k, v in raw.get("env", {}).items()},
        env_file=_strings(raw.get("env_file")),
        port=_int(raw.get("port")),
        depends_on=_dependencies(raw.get("depends_on")),
        health_check=_health(raw.get("health_check")),
        stop_signal=_signal_name(raw.get("stop_signal", "SIGTERM")),
        stop_grace_period=parse_duration(raw.get("stop_grace_period", 10)),
        restart=raw.get("restart", "no"),
        max_restarts=_int(raw.get("max_restarts")),
        watch=_watch(raw.get("watch")),
    )
    if kind in PROCESS_KINDS:
        return ProcessService(path=raw.get("path", "." if kind == "site" else None), **common)
    build = raw.get("build")
    version = raw.get("version")
    return ContainerService(
        image=raw.get("image"),
        build={"context": build} if isinstance(build, str) else build,
        container_port=_int(raw.get("container_port")),
        ports=tuple(raw.get("ports", ())),
        volumes=tuple(raw.get("volumes", ())),
        entrypoint=_command(raw.get("entrypoint")),
        user=raw.get("user"),
        version=None if version is None else str(version),
        compose=raw.get("compose", {}),
        **common,
    )
