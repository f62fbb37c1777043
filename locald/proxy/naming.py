"""Which host name each service answers on.

The project's domain is `[project] domain`, else `<name>.localhost`. The service named `web` (or,
without one, the service named like the project) answers on the domain itself, every other HTTP
service with a port on `<service>.<domain>`. Workers, services without a port and services that do
not speak HTTP (a Redis container) get no route.
"""

from __future__ import annotations

import re

from ..config.model import Project
from ..presets import container_port_of, url_scheme
from .routes import Route


def dns_label(text: str) -> str:
    """A name as a host-name label: lowercase letters, digits and '-' (`my_app` → `my-app`); "" when
    nothing is left."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")


def project_domain(project: Project) -> str:
    """`[project] domain`, else `<name>.localhost` (a name with no letter or digit: the directory's)."""
    if project.domain:
        return project.domain.lower().rstrip(".")
    return f"{dns_label(project.name) or dns_label(project.root.name) or 'app'}.localhost"


def main_service(project: Project) -> str | None:
    """The service that answers on the project domain itself."""
    if "web" in project.services:
        return "web"
    same = [n for n in project.services if dns_label(n) == dns_label(project.name)]
    return same[0] if same else None


def host_of(project: Project, service: str) -> str:
    domain = project_domain(project)
    return domain if service == main_service(project) else f"{dns_label(service)}.{domain}"


def is_routable(addresses, service: str) -> bool:
    """An HTTP service with a host port (a container: one that publishes its port). `addresses`: a Plan."""
    s = addresses.project.services[service]
    return s.kind != "worker" and url_scheme(s) == "http" and addresses.publishes(service)


def routes_of(plan, names: list[str]) -> list[Route]:
    """The routes of the services `names` of a plan (in that order), each in state "waiting"."""
    project = plan.project
    return [Route(host=host_of(project, n), service=n, port=plan.ports[n]) for n in names if is_routable(plan, n)]


def public_url(host: str, scheme: str, port: int) -> str:
    default = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host}" + ("" if port == default else f":{port}")


def may_route(project: Project, names: list[str], exposed_ports=None) -> bool:
    """Whether a service of `names` will get a route, judged before the plan: an HTTP service with a
    port — a container only when its port inside is known (configured, or its image's single EXPOSE in
    `exposed_ports`) and it is not adopted (those publish as their compose file says). Then the run
    needs the proxy."""
    exposed = exposed_ports or {}

    def routable(name: str) -> bool:
        s = project.services[name]
        if s.kind == "worker" or url_scheme(s) != "http":
            return False
        return not s.is_container or (not s.adopted and bool(container_port_of(s) or exposed.get(name)))

    return any(routable(n) for n in names)
