"""Small, fast questions to the Docker engine through the `docker` CLI (no python-on-whales here:
these run on every `locald up`/`status`/`export` and must not pay for its import).

check_engine: the CLI, the engine and the Compose v2 plugin, each with its own clear error.
image_info:   presence, exposed ports and HEALTHCHECK of images (one CLI call when all exist).
Owner:        the containers locald made for one locald.toml; every query and removal below filters on
              both its labels, so a stack never sees or touches another stack's containers, nor a
              plain compose project's, that happen to share its compose project name.
containers:   a stack's containers with state, health, exit code and ports.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ...compose.translate import LABEL_CONFIG
from ...config.model import Project
from ...errors import LocaldError
from ...plan import compose_project_name
from . import errors as docker_errors

PROJECT_LABEL = "com.docker.compose.project"
CONFIG_LABEL = LABEL_CONFIG  # the locald.toml a container was made for (written by the translator)
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
CLI_TIMEOUT = 30.0


@dataclass(frozen=True)
class EngineInfo:
    api: tuple[int, int]
    server_version: str
    compose_version: str


@dataclass(frozen=True)
class ImageInfo:
    name: str
    exposed: tuple[str, ...] = ()  # "6379/tcp", …
    healthcheck: bool = False  # the image has a HEALTHCHECK (not NONE)

    @property
    def single_tcp_port(self) -> int | None:
        tcp = [int(p.split("/")[0]) for p in self.exposed if p.endswith("/tcp") or "/" not in p]
        return tcp[0] if len(tcp) == 1 else None


@dataclass(frozen=True)
class Owner:
    """One locald.toml's containers: its compose project name and its config path."""

    compose_project: str
    config: str

    @classmethod
    def of(cls, project: Project, compose_project: str | None = None) -> "Owner":
        """`compose_project`: the name a (crashed) run recorded, when the project was renamed since."""
        return cls(compose_project or compose_project_name(project), str(project.file))

    def filters(self) -> list[str]:
        """`docker ps`/`events` filters for this owner's containers (label filters are ANDed)."""
        return ["--filter", f"label={PROJECT_LABEL}={self.compose_project}",
                "--filter", f"label={CONFIG_LABEL}={self.config}"]


@dataclass
class ContainerRow:
    id: str
    name: str
    service: str
    state: str  # created | running | restarting | exited | paused | dead | removing
    health: str | None  # healthy | unhealthy | starting | None (no health check)
    exit_code: int | None  # of the last run: exited, or restarting after it
    ports: list[dict] = field(default_factory=list)
    up_for: float = 0.0  # seconds it has been running, by the engine's clock (whole seconds; 0 when not running)


def docker() -> str:
    path = shutil.which("docker")
    if path is None:
        raise docker_errors.no_docker_cli()
    return path


def run(args: list[str], timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([docker(), *args], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise LocaldError(f"`docker {' '.join(args[:2])}` did not answer within {timeout:g}s: "
                          "the Docker engine seems stuck; restart it and try again") from None


def check_engine() -> EngineInfo:
    """The engine's API version and the Compose plugin's version, or a LocaldError that says which
    of the three pieces (CLI, engine, Compose v2) is missing. Both questions are asked at once."""
    docker()
    with ThreadPoolExecutor(2) as pool:
        version = pool.submit(run, ["version", "--format", "{{.Server.APIVersion}} {{.Server.Version}}"])
        compose = pool.submit(run, ["compose", "version"])
        version, compose = version.result(), compose.result()
    if version.returncode != 0 or not version.stdout.strip():
        raise docker_errors.engine_unreachable(version.stderr)
    api_text, _, server = version.stdout.strip().partition(" ")
    match = re.search(r"v?(\d+\.\d+[\w.+-]*)", compose.stdout) if compose.returncode == 0 else None
    if match is None or not match.group(1).startswith(tuple("23456789")):
        raise docker_errors.compose_missing(compose.stdout + compose.stderr)
    major, _, minor = api_text.partition(".")
    return EngineInfo((int(major), int(minor or 0)), server, match.group(1))


def _image_info(name: str, data: dict) -> ImageInfo:
    config = data.get("Config") or {}
    test = (config.get("Healthcheck") or {}).get("Test") or []
    return ImageInfo(name, tuple(sorted((config.get("ExposedPorts") or {}).keys())),
                     bool(test) and test[0] != "NONE")


def image_info(images: list[str]) -> dict[str, ImageInfo | None]:
    """Per image: its info, or None when it is not present locally."""
    images = list(dict.fromkeys(images))
    if not images:
        return {}
    result = run(["image", "inspect", "--", *images])  # `--`: an image named "--help" is not an option
    if result.returncode == 0:
        return {name: _image_info(name, data) for name, data in zip(images, json.loads(result.stdout))}
    if len(images) == 1:
        if "no such image" in result.stderr.lower():
            return {images[0]: None}
        raise docker_errors.engine_failed("inspect the image " + images[0], result.stderr)
    with ThreadPoolExecutor(4) as pool:  # one is missing: ask one by one to know which
        parts = pool.map(lambda i: image_info([i]), images)
    return {k: v for part in parts for k, v in part.items()}


_PORT = re.compile(r"^(?:(?P<ip>[^\s,]*):(?P<host>\d+)->)?(?P<container>\d+)/(?P<proto>\w+)$")
_EXITED = re.compile(r"(?:Exited|Restarting) \((-?\d+)\)")


_UP_SECONDS = re.compile(r"^Up (\d+) seconds?\b")


def parse_ports(text: str) -> list[dict]:
    out = []
    for part in (p.strip() for p in text.split(",")):
        m = _PORT.match(part)
        if m:
            out.append({"host_ip": m["ip"] or None, "host_port": int(m["host"]) if m["host"] else None,
                        "container_port": int(m["container"]), "protocol": m["proto"]})
    return out


def parse_uptime(status: str) -> float:
    """How long a running container has been up, from Docker's Status ("Up Less than a second",
    "Up 1 second", "Up 2 seconds", "Up About a minute", …: go-units' HumanDuration of the engine's own
    clock, so no skew with a remote or virtualised engine). Whole seconds; a minute or more is 60."""
    if not status.startswith("Up "):
        return 0.0
    if status.startswith("Up Less than a second"):
        return 0.0
    match = _UP_SECONDS.match(status)
    return float(match.group(1)) if match else 60.0


def parse_health(status: str) -> str | None:
    if "(healthy)" in status:
        return "healthy"
    if "(unhealthy)" in status:
        return "unhealthy"
    if "(health: starting)" in status:
        return "starting"
    return None


def containers(owner: Owner) -> list[ContainerRow]:
    """The stack's service containers (not `compose run` one-offs), from one `docker ps`."""
    fmt = "\t".join(["{{.ID}}", "{{.Names}}", '{{.Label "%s"}}' % SERVICE_LABEL, '{{.Label "%s"}}' % ONEOFF_LABEL,
                     "{{.State}}", "{{.Status}}", "{{.Ports}}"])
    result = run(["ps", "-a", "--no-trunc", *owner.filters(), "--format", fmt])
    if result.returncode != 0:
        raise docker_errors.engine_failed("list the containers", result.stderr)
    rows = []
    for line in result.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) != 7 or parts[3] == "True":
            continue
        cid, name, service, _, state, status, ports = parts
        exited = _EXITED.search(status)
        rows.append(ContainerRow(cid, name, service, state, parse_health(status),
                                 int(exited.group(1)) if exited else None, parse_ports(ports),
                                 up_for=parse_uptime(status) if state == "running" else 0.0))
    return rows


def last_logs(container: str, lines: int = 15) -> list[str]:
    try:
        result = subprocess.run([docker(), "logs", "--tail", str(lines), container], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace", timeout=10)
    except (subprocess.TimeoutExpired, LocaldError):
        return []
    return result.stdout.splitlines()[-lines:] if result.returncode == 0 else []


def health_log(container: str) -> str | None:
    """The output of the container's last health probe, if any."""
    result = run(["inspect", "--format", "{{json .State.Health}}", container])
    try:
        log = (json.loads(result.stdout) or {}).get("Log") or []
    except ValueError:
        return None
    if not log:
        return None
    last = log[-1]
    return f"exit {last.get('ExitCode')}: {(last.get('Output') or '').strip() or '(no output)'}"


def restarts(container: str) -> tuple[int, int | None]:
    """How many times the restart policy has restarted the container, and the exit code of its last
    run (None while it runs again: the engine resets it)."""
    result = run(["inspect", "--format", "{{.RestartCount}} {{.State.ExitCode}}", container])
    try:
        count, code = (int(part) for part in result.stdout.split())
    except ValueError:
        return 0, None
    return count, code or None


def strangers(owner: Owner) -> dict[str, str]:
    """Containers in the owner's compose project that were not made for its locald.toml: name → the
    locald.toml they were made for ("" when no locald made them)."""
    fmt = '{{.Names}}\t{{.Label "%s"}}' % CONFIG_LABEL
    result = run(["ps", "-a", "--filter", f"label={PROJECT_LABEL}={owner.compose_project}", "--format", fmt])
    if result.returncode != 0:
        raise docker_errors.engine_failed("list the containers", result.stderr)
    rows = (line.split("\t", 1) for line in result.stdout.splitlines() if "\t" in line)
    return {name: config for name, config in rows if config != owner.config}


def check_owner(owner: Owner) -> None:
    """Refuse a compose project name that another stack's containers use, or that another stack
    starting right now holds (LocaldError naming it)."""
    from .name_lock import hold

    hold(owner.compose_project, owner.config)
    refuse_strangers(owner)


def refuse_strangers(owner: Owner) -> None:
    """Refuse a compose project name that another stack's containers use (LocaldError naming it),
    without taking the name: for what only reads, as `logs` does."""
    others = strangers(owner)
    if others:
        raise docker_errors.name_clash(owner.compose_project, others)


def remove_project(owner: Owner) -> None:
    """Remove the stack's containers (one-offs too) and, when no other container is left in the
    compose project, its networks; even without its compose file. Named volumes stay: they hold the
    user's data."""
    docker()
    ids = run(["ps", "-aq", *owner.filters()]).stdout.split()
    if ids:
        run(["rm", "-f", "-v", *ids], timeout=120)
    if strangers(owner):
        return  # the networks are shared with containers that are not ours
    nets = run(["network", "ls", "-q", "--filter", f"label={PROJECT_LABEL}={owner.compose_project}"]).stdout.split()
    if nets:
        run(["network", "rm", *nets])


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a docker child started with start_new_session=True, with whatever it spawned."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
