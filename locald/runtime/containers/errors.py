"""What went wrong with Docker, in one paragraph a user can act on (never a traceback)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ...errors import LocaldError


class ContainerError(LocaldError):
    """A container service failed: it exited, became unhealthy, or never got ready in time."""


def _last_error_line(stderr: str) -> str:
    lines = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
    for line in reversed(lines):
        if "error" in line.lower():
            return line
    return lines[-1] if lines else "(no output)"


def no_docker_cli() -> LocaldError:
    return LocaldError("the `docker` command was not found on PATH: container services need Docker. Install Docker "
                       "(Docker Engine or Docker Desktop) with the Compose v2 plugin, or run scripts/setup-docker "
                       "in the locald repository")


def engine_unreachable(stderr: str) -> LocaldError:
    host = os.environ.get("DOCKER_HOST")
    where = f" at {host} (from DOCKER_HOST)" if host else ""
    detail = _last_error_line(stderr)
    if "permission denied" in detail.lower():
        return LocaldError(f"not allowed to talk to the Docker engine{where}: {detail}. Add your user to the "
                           "`docker` group (then log in again) or use rootless Docker")
    return LocaldError(f"the Docker engine is not reachable{where}: {detail}. Start it (`sudo systemctl start docker`, "
                       "Docker Desktop, or scripts/setup-docker)" + (", or fix DOCKER_HOST" if host else ""))


def compose_missing(output: str) -> LocaldError:
    found = output.strip().splitlines()[0] if output.strip() else "no output"
    return LocaldError(f"Docker Compose v2 is missing (`docker compose version` said: {found}). locald runs containers "
                       "through the Compose v2 CLI plugin: install the `docker-compose-plugin` package, or put the "
                       "v2 `docker-compose` binary in ~/.docker/cli-plugins/ (the legacy Python docker-compose v1 "
                       "is not supported)")


def name_clash(compose_project: str, others: dict[str, str]) -> LocaldError:
    """Another stack's containers use this compose project name (`others`: name → its locald.toml,
    "" when no locald made it)."""
    configs = sorted({c for c in others.values() if c})
    if configs:
        where = Path(configs[0]).parent
        whose = f"the locald project in {where} (its locald.toml has the same [project] name)"
        stop = "stop it there with `locald down`, or give"
    else:
        names = sorted(others)
        whose = f"a compose project not made by locald (containers: {', '.join(names[:5])}{', …' if len(names) > 5 else ''})"
        stop = f"remove those containers (`docker compose -p {compose_project} down`), or give"
    return LocaldError(f"the compose project name '{compose_project}' is already used by {whose}. locald will not "
                       f"touch containers it did not make for this locald.toml: {stop} this project its own name "
                       "with `[project] name = \"…\"` in locald.toml")


def engine_failed(what: str, stderr: str) -> LocaldError:
    return LocaldError(f"Docker could not {what}: {_last_error_line(stderr)}")


def pull_failed(image: str, services: list[str], output: str) -> LocaldError:
    who = ", ".join(f"'{s}'" for s in services)
    return LocaldError(f"image '{image}' (service {who}) is not on this machine and could not be pulled: "
                       f"{_last_error_line(output)}. Check the image name and tag, log in to its registry "
                       f"(`docker login`), or build it locally with `docker build -t {image} .`")


def build_failed(services: list[str], output: str) -> LocaldError:
    tail = "\n".join("  " + line for line in (output or "").strip().splitlines()[-10:])
    return LocaldError(f"building the image of {', '.join(repr(s) for s in services)} failed:\n{tail}")


_PORT_TAKEN = [
    re.compile(r"Bind for [^\s]*?:(\d+) failed: port is already allocated"),
    re.compile(r"listen tcp[46]? [^\s]*?:(\d+): bind: address already in use"),
    re.compile(r"[^\s]*?:(\d+): bind: address already in use"),
]


def taken_port(stderr: str) -> int | None:
    for pattern in _PORT_TAKEN:
        m = pattern.search(stderr or "")
        if m:
            return int(m.group(1))
    return None


def start_failed(stderr: str, services_by_port: dict[int, str], names: list[str]) -> LocaldError:
    """`docker compose up` failed: explain a taken port with its holder, else the engine's own words."""
    port = taken_port(stderr)
    if port is not None:
        from ..ports import describe_holder

        holder = describe_holder(port)
        who = services_by_port.get(port)
        svc = f" of container service '{who}'" if who else ""
        return LocaldError(f"host port {port}{svc} is already in use" + (f" by {holder}" if holder else "")
                           + ". Stop it, or change `port` in locald.toml (remove it to let locald pick "
                           "a free one)")
    detail = _last_error_line(stderr)
    if "no such image" in detail.lower() or "pull access denied" in detail.lower():
        return LocaldError(f"starting {', '.join(names)} failed: {detail}. Is the image name right? locald pulls "
                           "missing images before starting (`ensure_images`)")
    return LocaldError(f"starting container service{'s' if len(names) > 1 else ''} {', '.join(names)} failed: {detail}")
