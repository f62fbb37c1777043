"""Project → compose document. One translator for the runtime and for `export compose`.

The runtime file (.locald/compose.yaml) carries locald labels, absolute paths and the planned host
ports; the export carries no locald labels, paths relative to where the file is written, and fixed
host ports a teammate can rely on. Everything else is identical.

Two rules hold for every value we emit: a `$` in a user value becomes `$$` (compose must never
interpolate the user's environment or `.env` behind their back), and no key the running engine would
reject is emitted (`healthcheck.start_interval` needs engine API 1.44).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shlex
import urllib.parse
from pathlib import Path
from typing import Any

from ..config.model import ContainerService, HealthCheck, Project, WatchRule
from ..config.signals import engine_signal
from ..config.watch import split as split_watched
from ..config.volumes import is_path as is_host_path
from ..config.volumes import split as volume_parts
from ..errors import LocaldError
from ..plan import HOST_FROM_CONTAINERS, Plan
from ..presets import POSTGRES_DATA, image_of, postgres_credentials
from .fileformat import escape_all
from .mapping import CONDITIONS, RESOURCES

LABEL_PROJECT = "dev.locald.project"
LABEL_SERVICE = "dev.locald.service"
LABEL_CONFIG = "dev.locald.config"
LABEL_CONFIG_HASH = "dev.locald.config-hash"
HOST_GATEWAY = f"{HOST_FROM_CONTAINERS}:host-gateway"
BIND_ADDRESS = "127.0.0.1"  # a dev database must not be open to the network
START_INTERVAL_API = (1, 44)



def to_compose(plan: Plan, *, export: bool = False, engine_api: tuple[int, int] | None = None,
               base_dir: Path | None = None) -> dict:
    """The compose document for the plan's container services.

    export: teammates' file (see module doc). engine_api: the running engine's API version; keys it
    would reject are left out (None: keep what the user wrote). base_dir: where an exported file is
    written, so relative paths stay right (default: the project root)."""
    ctx = _Context(plan.project, plan, export, engine_api, Path(base_dir or plan.project.root))
    services: dict[str, Any] = {}
    for service in plan.project.containers:
        if service.name.startswith("-"):  # compose allows it; every docker compose verb would read it as an option
            raise LocaldError(f"service '{service.name}': a name starting with '-' cannot be passed to docker compose; "
                              "rename it")
        if service.adopted:
            services[service.name] = ctx.adopted(service)
        else:
            services[service.name] = ctx.service(service)
        ctx.strip_rejected(services[service.name])
        if not export:  # which definition a container was made from: what a converging `up` compares
            services[service.name]["labels"][LABEL_CONFIG_HASH] = config_hash(services[service.name])
    doc: dict[str, Any] = {"name": plan.compose_project, "services": services}
    resources = getattr(plan.project, "compose_resources", None) or {}
    declared = {"networks": ctx.networks, "volumes": ctx.volumes}
    for key in RESOURCES:
        table = {name: {} for name in sorted(declared.get(key, ()))}
        for name, value in (resources.get(key) or {}).items():
            table[name] = ctx.resource(value)
        if table:
            doc[key] = table
    doc.update({k: escape_all(v) for k, v in resources.items() if k.startswith("x-")})
    return doc


def config_hash(definition: Any) -> str:
    """A stable short hash of a service's definition (without its own hash label)."""
    if isinstance(definition, dict) and isinstance(definition.get("labels"), dict):
        definition = {**definition, "labels": {k: v for k, v in definition["labels"].items() if k != LABEL_CONFIG_HASH}}
    return hashlib.sha256(json.dumps(definition, sort_keys=True, default=str).encode()).hexdigest()[:16]


def deep_merge(base: dict, extra: dict) -> dict:
    """Tables merge key by key; anything else in `extra` replaces what `base` had."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def duration(seconds: float) -> str:
    """Compose duration: whole seconds as '10s', anything finer in milliseconds ('500ms')."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def has_healthcheck(definition: dict) -> bool | None:
    """True/False when the compose definition decides it; None when the image's HEALTHCHECK does."""
    hc = definition.get("healthcheck")
    if not isinstance(hc, dict):
        return None
    if hc.get("disable") or hc.get("test") in (["NONE"], "NONE"):
        return False
    return True if hc.get("test") else None


def export_host_ports(plan: Plan) -> dict[str, int]:
    """Fixed host ports for teammates: the configured `port`, else the container port itself
    (redis on 6379), else — when two services would clash — the port locald planned."""
    out: dict[str, int] = {}
    containers = [s for s in plan.project.containers if not s.adopted and plan.container_ports.get(s.name)]
    for s in containers:
        if s.port is not None:
            out[s.name] = s.port
    taken = set(out.values())
    for s in containers:
        if s.name in out:
            continue
        port = plan.container_ports[s.name]
        if port in taken:
            port = plan.ports.get(s.name) or port
        out[s.name] = port
        taken.add(port)
    return out


def build_document(project: Project, names: list[str], compose_project: str) -> dict:
    """Just what `compose build` needs for these services (image and build). It exists before the plan
    does: a built image's EXPOSE can decide a container port, so nothing here may depend on ports."""
    ctx = _Context(project, None, False, None, project.root)
    services = {}
    for name in names:
        s = project.services[name]
        if s.adopted:
            out = {k: s.compose[k] for k in ("image", "build") if s.compose.get(k)}
        else:
            out = {k: v for k, v in (("image", image_of(s)), ("build", s.build and ctx.build(s))) if v}
            out = escape_all(deep_merge(out, {k: v for k, v in s.compose.items() if k in ("image", "build")}))
        if out.get("build"):
            services[name] = out
    return {"name": compose_project, "services": services}


class _Context:
    def __init__(self, project: Project, plan: Plan | None, export: bool, engine_api, base_dir: Path):
        """`plan` None: only paths and builds can be translated (see build_document)."""
        self.plan = plan
        self.export = export
        self.engine_api = engine_api
        self.base_dir = base_dir
        self.root = project.root
        self.volumes: set[str] = set()
        self.networks: set[str] = set()
        self.host_ports = {} if plan is None else export_host_ports(plan) if export else plan.ports

    # --- paths -------------------------------------------------------------------------------------

    def path(self, value: str) -> str:
        """Relative to the project root in locald.toml; absolute for the runtime, relative to the
        written file for the export. Absolute, `~`, Windows (`C:\\…`, `\\\\server`) paths and remote
        build contexts (git URLs) are kept as written."""
        if value.startswith(("/", "~")) or not_local_path(value):
            return value
        absolute = os.path.normpath(self.root / value)
        if not self.export:
            return absolute
        rel = os.path.relpath(absolute, self.base_dir)
        return rel if rel.startswith(".") else f"./{rel}"

    def resource(self, value: Any) -> Any:
        """A top-level definition from [compose.*] or an adopted file: literal values, `file` paths
        relative to locald.toml."""
        value = escape_all(value)
        if isinstance(value, dict) and isinstance(value.get("file"), str):
            value = {**value, "file": self.path(value["file"])}
        return value

    def volume(self, spec: Any) -> Any:
        if isinstance(spec, dict):
            spec = dict(spec)
            source = spec.get("source")
            if isinstance(source, str):
                if spec.get("type") == "bind":
                    spec["source"] = self.path(source)
                elif spec.get("type", "volume") == "volume":
                    self.volumes.add(source)
            return spec
        parts = volume_parts(spec)
        if len(parts) == 1:
            return spec  # anonymous volume: a container path only
        source = parts[0]
        if is_host_path(source):
            return ":".join([self.path(source), *parts[1:]])
        self.volumes.add(source)
        return spec

    # --- one service -----------------------------------------------------------------------------

    def service(self, s: ContainerService) -> dict:
        out: dict[str, Any] = {}
        image = image_of(s)
        if image:
            out["image"] = image
        if s.build:
            out["build"] = self.build(s)
        if s.command is not None:
            out["command"] = _command(s.command)
        if s.entrypoint is not None:
            out["entrypoint"] = _command(s.entrypoint)
        if s.workdir:
            out["working_dir"] = s.workdir
        if s.user:
            out["user"] = s.user
        env = dict(self.plan.env(s.name))
        if s.kind == "postgres":
            env = {**postgres_credentials(s), **env}
        if env:
            out["environment"] = env
        if s.env_file:
            out["env_file"] = [self.path(f) for f in s.env_file]
        ports = self.ports(s)
        if ports:
            out["ports"] = ports
        volumes = [self.volume(v) for v in s.volumes]
        if s.kind == "postgres" and not any(_target(v) == POSTGRES_DATA for v in s.volumes):
            volumes.append(self.volume(f"{s.name}-data:{POSTGRES_DATA}"))
        if volumes:
            out["volumes"] = volumes
        healthcheck = self.healthcheck(s)
        if healthcheck:
            out["healthcheck"] = healthcheck
        restart = _restart(s)
        if restart:
            out["restart"] = restart
        if s.stop_signal != "SIGTERM":  # the model's default: keep the image's STOPSIGNAL (postgres: SIGINT)
            out["stop_signal"] = engine_signal(s.stop_signal)
        if s.stop_grace_period != 10.0:
            out["stop_grace_period"] = duration(s.stop_grace_period)
        # PID 1 without a SIGTERM handler (`sh -c …`) would make every stop wait the whole grace period.
        out["init"] = True
        out["extra_hosts"] = [HOST_GATEWAY]
        if self.export:
            deps = self.depends_on(s)
            if deps:
                out["depends_on"] = deps
            # Only in the export: locald acts on `watch` itself, and a watch edit must not make the
            # running container's definition look changed.
            if s.watch:
                out["develop"] = {"watch": [entry for rule in s.watch for entry in self.watch(rule)]}
        else:
            out["labels"] = self.labels(s.name)
        if s.compose:
            extra = dict(s.compose)
            user_ports = extra.pop("ports", None)
            out = deep_merge(out, extra)
            if user_ports:  # beside locald's own mapping (not instead); 127.0.0.1 unless they write an address
                mine = out.get("ports", [])
                out["ports"] = mine + [p for p in map(_extra_port, user_ports) if p not in mine]
        # Escaped here, once, as a whole: no user value can reach compose unescaped, whichever key it took.
        return escape_all(out)

    def build(self, s: ContainerService) -> dict:
        build = {"context": self.path(s.build["context"])}
        if s.build.get("dockerfile"):
            build["dockerfile"] = s.build["dockerfile"]
        if s.build.get("args"):
            build["args"] = {k: _scalar(v) for k, v in s.build["args"].items()}
        return build

    def adopted(self, s: ContainerService) -> dict:
        """An adopted compose service: its normalised definition (already escaped by `compose config`),
        plus our labels and the host gateway. Its ports are published as the file says, on 127.0.0.1
        when it gives no address (the export keeps the file's own form)."""
        out = copy.deepcopy(s.compose)
        if not self.export:
            # As for every other service: a port the file publishes without an address stays on this machine.
            for port in out.get("ports") or []:
                if isinstance(port, dict) and port.get("published") and not port.get("host_ip"):
                    port["host_ip"] = BIND_ADDRESS
            labels = out.get("labels") or {}
            if isinstance(labels, list):
                labels = dict(item.split("=", 1) if "=" in item else (item, "") for item in labels)
            out["labels"] = {**labels, **escape_all(self.labels(s.name))}
        hosts = out.get("extra_hosts")
        if isinstance(hosts, dict):
            hosts.setdefault(HOST_FROM_CONTAINERS, "host-gateway")
        else:
            hosts = list(hosts or [])
            if not any(str(h).startswith((HOST_FROM_CONTAINERS + ":", HOST_FROM_CONTAINERS + "="))
                       for h in hosts):
                hosts.append(HOST_GATEWAY)
            out["extra_hosts"] = hosts
        for v in out.get("volumes") or []:
            if isinstance(v, dict) and v.get("type") == "volume" and v.get("source"):
                self.volumes.add(v["source"])
            elif isinstance(v, str):
                self.volume(v)
        networks = out.get("networks") or {}
        self.networks.update(n for n in networks if n != "default")
        return out

    def watch(self, rule: WatchRule) -> list[dict]:
        """One `develop.watch` entry per base: a plain path as it is, globs below the same base as that
        base with `include` patterns (Compose's `path` takes no glob)."""
        bases: dict[str, dict[str, None]] = {}  # base -> its globs; Compose wants each list without repeats
        plain: dict[str, None] = {}
        for text in rule.paths:
            base, glob = split_watched(text)
            if glob:
                bases.setdefault(base, {})[glob] = None
            else:
                plain[base] = None
        common: dict[str, Any] = {"action": rule.action}
        if rule.target:
            common["target"] = rule.target
        if rule.ignore:
            common["ignore"] = list(dict.fromkeys(rule.ignore))
        return ([{"path": self.path(base), **common} for base in plain]
                + [{"path": self.path(base), **common, "include": list(globs)} for base, globs in bases.items()])

    def labels(self, name: str) -> dict[str, str]:
        project = self.plan.project
        return {LABEL_PROJECT: project.name, LABEL_SERVICE: name, LABEL_CONFIG: str(project.file)}

    def ports(self, s: ContainerService) -> list:
        out: list = []
        host, container = self.host_ports.get(s.name), self.plan.container_ports.get(s.name)
        if host and container:
            out.append(f"{BIND_ADDRESS}:{host}:{container}")
        out.extend(_extra_port(p) for p in s.ports)
        return out

    def healthcheck(self, s: ContainerService) -> dict | None:
        hc = s.health_check
        if hc is None and s.kind == "postgres":
            c = postgres_credentials(s)
            # -h 127.0.0.1: ready only once Postgres listens on TCP, not while initdb's
            # temporary server answers on the Unix socket.
            test = f"pg_isready -q -h 127.0.0.1 -U {shlex.quote(c['POSTGRES_USER'])} -d {shlex.quote(c['POSTGRES_DB'])}"
            hc = HealthCheck(type="command", command=test)
        if hc is None:
            return None
        out: dict[str, Any] = {"test": self.probe(s, hc)}
        out["interval"] = duration(hc.interval)
        out["timeout"] = duration(hc.timeout)
        out["retries"] = hc.retries
        # Without a start_period, Docker calls a slow starter "unhealthy" after `retries` quick
        # failures, and `docker compose up --wait` gives up on it; locald waits as long as its
        # dependents would, so the health check stays "starting" for that long (a success ends the
        # start period at once, so readiness is not delayed).
        out["start_period"] = duration(hc.start_period or self.plan.project.ready_timeout(s.name))
        return out

    def probe(self, s: ContainerService, hc: HealthCheck) -> list[str]:
        """The test, run inside the container. http/tcp use whatever the image has."""
        if hc.type == "command":
            if isinstance(hc.command, tuple):
                return ["CMD", *hc.command]
            return ["CMD-SHELL", hc.command]
        port = hc.port or self.plan.container_ports.get(s.name)
        if port is None:
            raise LocaldError(f"service '{s.name}': its {hc.type} health check needs a port inside the container; "
                              "set `container_port` (or `health_check.port`)")
        if hc.type == "tcp":
            return ["CMD-SHELL", tcp_probe(port)]
        return ["CMD-SHELL", http_probe(port, hc.path)]

    def depends_on(self, s: ContainerService) -> dict:
        out = {}
        for dep in s.depends_on:
            target = self.plan.project.services.get(dep.name)
            if target is None or not target.is_container:
                continue  # a host process is not in the file (export_compose reports the edge)
            condition = dep.condition
            if condition is None:
                condition = "healthy" if _has_check(target) else "started"
            entry: dict[str, Any] = {"condition": CONDITIONS[condition]}
            if not dep.required:
                entry["required"] = False
            out[dep.name] = entry
        return out

    def strip_rejected(self, definition: dict) -> None:
        hc = definition.get("healthcheck")
        if isinstance(hc, dict) and self.engine_api is not None and self.engine_api < START_INTERVAL_API:
            hc.pop("start_interval", None)


def tcp_probe(port: int) -> str:
    """Listening on the port, seen from inside the container: the kernel's socket table needs only
    sh + grep; bash's /dev/tcp is the fallback for images without grep."""
    hexport = f"{port:04X}"
    return (f"if command -v grep >/dev/null 2>&1; then grep -qs ':{hexport} [0-9A-F]*:0000 0A' /proc/net/tcp /proc/net/tcp6; "
            f"elif command -v bash >/dev/null 2>&1; then bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}'; "
            f"else echo 'locald: tcp health check needs grep or bash in the image; "
            f"set health_check = \"<command>\" instead' >&2; exit 1; fi")


_URL_SAFE = "/?#[]@!$&'()*+,;=:%~-._"  # RFC 3986 reserved and unreserved: kept as written (% too: already encoded)


def http_probe(port: int, path: str) -> str:
    """2xx/3xx from inside the container with curl, wget or bash, whichever the image has; otherwise
    the probe fails with an explanation (it shows in `docker inspect` and in locald's error).
    The path is the user's: it reaches the shell quoted, and bash as a positional parameter, never
    as code; characters that would break the request line are percent-encoded."""
    path = urllib.parse.quote(path if path.startswith("/") else "/" + path, safe=_URL_SAFE)
    url = shlex.quote(f"http://127.0.0.1:{port}{path}")
    raw = ('exec 3<>"/dev/tcp/127.0.0.1/$1" && printf \'GET %s HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n\' "$2" >&3 '
           '&& read -r _ code _ <&3 && case $code in 2*|3*) exit 0;; esac; exit 1')
    return (f"if command -v curl >/dev/null 2>&1; then curl -fsS -o /dev/null {url}; "
            f"elif command -v wget >/dev/null 2>&1; then wget -q -O /dev/null {url}; "
            f"elif command -v bash >/dev/null 2>&1; then bash -c {shlex.quote(raw)} probe {port} {shlex.quote(path)}; "
            f"else echo 'locald: http health check needs curl, wget or bash in the image; "
            f"set health_check = \"<command>\" instead' >&2; exit 1; fi")


def _has_check(service) -> bool:
    if service.health_check is not None or service.kind == "postgres":
        return True
    return bool(isinstance(service, ContainerService) and has_healthcheck(service.compose))


def _command(value) -> str | list[str]:
    # A string stays a string: compose splits it like a shell would (no shell runs); a list is argv.
    return value if isinstance(value, str) else list(value)


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _restart(s: ContainerService) -> str | None:
    if s.restart == "on-failure":
        return f"on-failure:{s.max_restarts}" if s.max_restarts is not None else "on-failure"
    return "always" if s.restart == "always" else None


def _target(spec: Any) -> str | None:
    if isinstance(spec, dict):
        return spec.get("target")
    parts = volume_parts(spec)
    return parts[1] if len(parts) > 1 else parts[0]


_REMOTE = ("git@", "github.com/")
_WINDOWS = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")


def not_local_path(value: str) -> bool:
    """A remote build context (a URL, `git@…`) or a path of another system (`C:\\data`, `\\\\server\\share`):
    nothing to resolve against the project root."""
    return "://" in value or value.startswith(_REMOTE) or bool(_WINDOWS.match(value))


def _extra_port(spec: Any) -> Any:
    """A mapping without an address binds to 127.0.0.1."""
    if isinstance(spec, dict):
        return {"host_ip": BIND_ADDRESS, **spec}
    text = str(spec)
    if text.startswith("["):
        return text
    parts = text.split(":")
    if len(parts) == 1:
        return f"{BIND_ADDRESS}::{text}"
    if len(parts) == 2:
        return f"{BIND_ADDRESS}:{text}"
    return text
