"""From a Project to what running it needs: dependency graph, host ports, container ports, resolved
environments, all decided in `make_plan` and frozen in a Plan. `${services.X.FIELD}` resolves from
the consumer's point of view (see Addresses). Sticky ports are remembered by runtime/state.py.
"""

from __future__ import annotations

import hashlib
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from .config.model import Dependency, Project, Service
from .config.semantic import REFERENCE
from .graph import Graph, graph_of
from .presets import container_port_of, url_scheme, url_suffix

HOST_FROM_CONTAINERS = "host.docker.internal"


def compose_project_name(project: Project) -> str:
    """The project's name as compose accepts it: lowercase letters, digits, '-' and '_', starting with
    a letter or digit. A name with none of these ("日本", "---") becomes its directory's name and a
    short hash of its locald.toml's path: stable from run to run, and distinct for every project."""
    clean = _compose_safe(project.name)
    if clean:
        return clean
    digest = hashlib.sha256(str(project.file).encode()).hexdigest()[:8]
    return f"{_compose_safe(project.root.name) or 'locald'}-{digest}"


def _compose_safe(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")


def bind_error(port: int) -> OSError | None:
    """Why the port cannot be listened on (in use, or privileged), or None when it is free."""
    for address in ("127.0.0.1", "0.0.0.0"):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((address, port))
            except OSError as exc:
                return exc
    return None


def port_is_free(port: int) -> bool:
    return bind_error(port) is None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def needs_port(service: Service) -> bool:
    return service.kind != "worker"


def assign_ports(project: Project, previous: Mapping[str, int], check_free: bool = True,
                 running: Mapping[str, int] | None = None) -> dict[str, int]:
    """Host port per service: the configured one, else the one it runs on now (`running`), else last
    run's while still free, else a new free one."""
    running = running or {}
    ports: dict[str, int] = {}
    for s in project.services.values():
        if s.port is not None:
            ports[s.name] = s.port
    taken = set(ports.values())
    for s in project.services.values():
        if s.name in ports or not needs_port(s) or getattr(s, "adopted", False):
            continue
        old = previous.get(s.name)
        if running.get(s.name) and running[s.name] not in taken:
            port = running[s.name]  # its own process holds it: not free, and must not change
        elif old and old not in taken and (not check_free or port_is_free(old)):
            port = old
        else:
            port = free_port()
            while port in taken:
                port = free_port()
        ports[s.name] = port
        taken.add(port)
    return ports


@dataclass(frozen=True)
class Addresses:
    """Where each service is reached, seen from a consumer: a host process reaches everything on
    localhost and host ports; a container reaches another container by service name and container
    port, and a host process through host.docker.internal."""

    project: Project
    ports: Mapping[str, int]  # host port per service (workers have none)
    container_ports: Mapping[str, int]  # port inside each container that has one
    proxy_port: int | None = field(default=None, kw_only=True)  # the named-URL proxy's HTTP port, when it runs

    def _in_container(self, consumer: str | None) -> bool:
        return consumer is not None and self.project.services[consumer].is_container

    def host(self, target: str, consumer: str | None = None) -> str:
        if not self._in_container(consumer):
            return "localhost"
        return target if self.project.services[target].is_container else HOST_FROM_CONTAINERS

    def port(self, target: str, consumer: str | None = None) -> int | None:
        if self._in_container(consumer) and self.project.services[target].is_container:
            return self.container_ports.get(target)
        return self.ports.get(target)

    def url(self, target: str, consumer: str | None = None) -> str:
        service = self.project.services[target]
        port = self.port(target, consumer)
        host = self.host(target, consumer)
        netloc = host if port is None else f"{host}:{port}"
        return f"{url_scheme(service)}://{url_suffix(service, netloc)}"

    def resolve(self, value: str, consumer: str | None) -> str:
        def one(match: re.Match) -> str:
            target, fld = match.groups()
            if fld == "port":
                port = self.port(target, consumer)
                return "" if port is None else str(port)
            if fld == "domain":
                return self.domain(target)
            if fld == "public_url":
                return self.public_url(target, consumer)
            return self.host(target, consumer) if fld == "host" else self.url(target, consumer)

        return REFERENCE.sub(one, value)

    def domain(self, target: str) -> str:
        """The host name the named-URL proxy gives the service (shop.localhost, api.shop.localhost)."""
        from .proxy.naming import host_of

        return host_of(self.project, target)

    def public_url(self, target: str, consumer: str | None = None) -> str:
        """The service's named URL through the proxy (a browser's origin), else its direct `url`."""
        from .proxy.naming import is_routable, public_url

        if self.proxy_port and is_routable(self, target):
            return public_url(self.domain(target), "http", self.proxy_port)
        return self.url(target, consumer)

    def publishes(self, name: str) -> bool:
        """Whether the service answers on its host port: a process with a port, or a container whose
        port inside is known."""
        return name in self.ports and (not self.project.services[name].is_container or name in self.container_ports)


@dataclass(frozen=True)
class Plan(Addresses):
    """Everything a run needs, decided before anything starts; never changed afterwards."""

    graph: Graph
    envs: Mapping[str, Mapping[str, str]]  # each service's `env` with ${services.…} resolved for it

    @property
    def compose_project(self) -> str:
        return compose_project_name(self.project)

    @property
    def state_dir(self) -> Path:
        return self.project.state_dir

    @property
    def order(self) -> list[str]:
        return self.graph.order()

    def service(self, name: str) -> Service:
        return self.project.services[name]

    def dependencies(self, name: str) -> tuple[Dependency, ...]:
        return self.service(name).depends_on

    def env(self, name: str) -> Mapping[str, str]:
        """The service's `env` table with references resolved for it (no inherited environment)."""
        return self.envs[name]


def make_plan(project: Project, exposed_ports: Mapping[str, int] | None = None,
              previous_ports: Mapping[str, int] | None = None, check_free: bool = True,
              proxy_port: int | None = None, running_ports: Mapping[str, int] | None = None) -> Plan:
    """The plan for `project`. `exposed_ports`: the image's single exposed port for containers that
    do not set `container_port` (known once images are present). `previous_ports`: last run's
    auto-assigned host ports, kept while still free (`check_free` False: kept as they are).
    `proxy_port`: the named-URL proxy's HTTP port (None: `public_url` is the direct URL).
    `running_ports`: ports of services running now (a running stack converging to an edit)."""
    ports = assign_ports(project, previous_ports or {}, check_free, running_ports)
    container_ports: dict[str, int] = {}
    for s in project.containers:
        port = container_port_of(s) or (exposed_ports or {}).get(s.name)
        if port:
            container_ports[s.name] = port
    addresses = Addresses(project, MappingProxyType(ports), MappingProxyType(container_ports), proxy_port=proxy_port)
    envs = {name: MappingProxyType({k: addresses.resolve(v, name) for k, v in s.env.items()})
            for name, s in project.services.items()}
    return Plan(project, addresses.ports, addresses.container_ports, graph_of(project.services), MappingProxyType(envs),
                proxy_port=proxy_port)
