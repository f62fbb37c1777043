"""From a Project to what running it needs: dependency order, host ports, resolved environments.

One dependency graph serves start (in order) and stop (reverse order). `${services.X.FIELD}`
resolves from the consumer's point of view: a host process reaches everything on localhost and
host ports; a container reaches another container by service name and container port, and a host
process through host.docker.internal.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

from .config.model import Dependency, Project, Service
from .config.semantic import REFERENCE
from .graph import graph_of
from .presets import container_port_of, url_scheme, url_suffix
from .runtime.private import write_private

HOST_FROM_CONTAINERS = "host.docker.internal"


def compose_project_name(name: str) -> str:
    """Compose accepts lowercase letters, digits, '-' and '_', starting with a letter or digit."""
    clean = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")
    return clean or "locald"


def topological_order(project: Project) -> list[str]:
    """Dependencies first; ties keep the file's order."""
    return graph_of(project.services).order()


def with_dependencies(project: Project, names: list[str]) -> list[str]:
    """`names` plus everything they depend on, in start order."""
    return graph_of(project.services).closure(names)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def needs_port(service: Service) -> bool:
    return service.kind != "worker"


def assign_ports(project: Project, previous: dict[str, int], check_free: bool = True) -> dict[str, int]:
    """Host port per service: the configured one, else last run's while still free, else a new free one."""
    ports: dict[str, int] = {}
    for s in project.services.values():
        if s.port is not None:
            ports[s.name] = s.port
    taken = set(ports.values())
    for s in project.services.values():
        if s.name in ports or not needs_port(s) or getattr(s, "adopted", False):
            continue
        old = previous.get(s.name)
        if old and old not in taken and (not check_free or port_is_free(old)):
            port = old
        else:
            port = free_port()
            while port in taken:
                port = free_port()
        ports[s.name] = port
        taken.add(port)
    return ports


@dataclass
class Plan:
    project: Project
    ports: dict[str, int]  # host port per service (workers have none)
    container_ports: dict[str, int] = field(default_factory=dict)  # port inside each container that has one

    @property
    def compose_project(self) -> str:
        return compose_project_name(self.project.name)

    @property
    def state_dir(self) -> Path:
        return self.project.state_dir

    @property
    def order(self) -> list[str]:
        return topological_order(self.project)

    def service(self, name: str) -> Service:
        return self.project.services[name]

    def dependencies(self, name: str) -> tuple[Dependency, ...]:
        return self.service(name).depends_on

    def dependents(self, name: str) -> list[str]:
        return [s.name for s in self.project.services.values() if any(d.name == name for d in s.depends_on)]

    # --- service discovery ---------------------------------------------------------------------

    def host(self, target: str, consumer: str | None = None) -> str:
        consumer_in_container = consumer is not None and self.service(consumer).is_container
        if not consumer_in_container:
            return "localhost"
        return target if self.service(target).is_container else HOST_FROM_CONTAINERS

    def port(self, target: str, consumer: str | None = None) -> int | None:
        consumer_in_container = consumer is not None and self.service(consumer).is_container
        if consumer_in_container and self.service(target).is_container:
            return self.container_ports.get(target)
        return self.ports.get(target)

    def url(self, target: str, consumer: str | None = None) -> str:
        service = self.service(target)
        port = self.port(target, consumer)
        host = self.host(target, consumer)
        netloc = host if port is None else f"{host}:{port}"
        scheme = url_scheme(service)
        return f"{scheme}://{url_suffix(service, netloc)}"

    def resolve(self, value: str, consumer: str | None) -> str:
        def one(match: re.Match) -> str:
            target, fld = match.groups()
            if fld == "port":
                port = self.port(target, consumer)
                return "" if port is None else str(port)
            return self.host(target, consumer) if fld == "host" else self.url(target, consumer)

        return REFERENCE.sub(one, value)

    def env(self, name: str) -> dict[str, str]:
        """The service's `env` table with references resolved for it (no inherited environment)."""
        return {k: self.resolve(v, name) for k, v in self.service(name).env.items()}


def ports_file(state_dir: Path) -> Path:
    return state_dir / "ports.json"


def load_previous_ports(state_dir: Path) -> dict[str, int]:
    try:
        data = json.loads(ports_file(state_dir).read_text())
        return {k: int(v) for k, v in data.items()}
    except (OSError, ValueError, AttributeError):
        return {}


def make_plan(project: Project, exposed_ports: dict[str, int] | None = None, check_free: bool = True) -> Plan:
    """The plan for `project`. `exposed_ports`: the image's single exposed port for containers
    that do not set `container_port` (the container runtime inspects images to know it)."""
    state_dir = project.state_dir
    ports = assign_ports(project, load_previous_ports(state_dir), check_free)
    container_ports: dict[str, int] = {}
    for s in project.containers:
        port = container_port_of(s) or (exposed_ports or {}).get(s.name)
        if port:
            container_ports[s.name] = port
    return Plan(project, ports, container_ports)


def remember_ports(plan: Plan) -> None:
    """Keep auto-assigned ports for the next run (sticky while they stay free)."""
    write_private(ports_file(plan.state_dir), json.dumps(plan.ports, indent=1, sort_keys=True))
