"""`locald status --swarm` and `locald down --swarm`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..config.model import Project
from ..errors import LocaldError
from . import cluster
from .build import stack_name
from .progress import FAILED, task_error

POLL = 0.5


def status_rows(project: Project, stack: str | None = None) -> tuple[str, list[dict]]:
    """One row per service of locald.toml: where its task stands on the swarm (host processes are
    not in the stack: their status says so)."""
    name = stack_name(project, stack)  # a mistake in it is said before the engine is asked
    cluster.require_manager()
    services = cluster.services(name)
    nodes = cluster.node_names([t.node_id for s in services.values() for t in s.tasks[-1:]])
    rows = []
    for service_name, service in project.services.items():
        row = {"name": service_name, "kind": service.kind, "status": "on the host (not in the stack)",
               "mode": None, "node": None, "ports": [], "failed_tasks": 0, "error": None}
        swarm = services.get(service_name)
        if service.is_container and swarm is None:
            row["status"] = "not deployed"
        elif swarm is not None:
            latest = swarm.tasks[-1] if swarm.tasks else None
            failed = [t for t in swarm.tasks if t.state in FAILED]
            row.update(status=latest.state if latest else "pending", mode="job" if swarm.job else "replicated",
                       node=nodes.get(latest.node_id) if latest else None,
                       ports=[f"{p.get('PublishedPort')}->{p.get('TargetPort')}/{p.get('Protocol')} "
                              f"({p.get('PublishMode')})" for p in swarm.published],
                       failed_tasks=len(failed), error=task_error(failed[-1]) if failed else None)
        rows.append(row)
    return name, rows


@dataclass
class Removed:
    stack: str
    volumes: list[str] = field(default_factory=list)  # named volumes kept (they hold data)
    orphan_tasks: list[str] = field(default_factory=list)
    orphan_nodes: list[str] = field(default_factory=list)  # other nodes still holding their containers


def down(project: Project, stack: str | None = None, timeout: float = 120.0, clock=time.monotonic) -> Removed | None:
    """`docker stack rm`, then wait until its services, networks and this node's containers are gone.
    None when nothing of the stack exists."""
    name = stack_name(project, stack)  # a mistake in it is said before the engine is asked
    cluster.require_manager()
    if not any(cluster.leftovers(name).values()):
        return None
    cluster.remove(name)
    deadline = clock() + timeout
    empty_once = False
    while True:
        left = cluster.leftovers(name)
        if not left["services"] and not left["networks"] and left["containers"]:
            cluster.remove_exited(name)
            left = cluster.leftovers(name)
        if not left["services"] and left["networks"]:
            cluster.remove_networks(left["networks"])  # those `stack rm` found still in use by a task
            left = cluster.leftovers(name)
        if not any(left.values()):
            if empty_once:  # twice in a row: the swarm's network removal can briefly hide a network
                orphans = cluster.orphan_tasks(name)
                return Removed(name, cluster.volumes(name), orphans, cluster.orphan_nodes(name) if orphans else [])
            empty_once = True
        else:
            empty_once = False
        if clock() > deadline and any(left.values()):
            what = ", ".join(f"{len(ids)} {kind}" for kind, ids in left.items() if ids)
            raise LocaldError(f"the stack {name} was removed but {what} still exist after {timeout:g}s; "
                              f"`docker stack ps {name}` and `docker network ls` show them")
        time.sleep(POLL)
