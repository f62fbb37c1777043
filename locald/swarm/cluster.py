"""Questions to the swarm, through the docker CLI (the same `run` as the container runtime's).

Everything is asked of the manager the CLI talks to (DOCKER_HOST / the current context), so it holds on
any number of nodes: services and tasks are cluster objects. Only `local_containers` sees one node.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field

from ..errors import LocaldError
from ..runtime.containers import errors as docker_errors
from ..runtime.containers.engine import docker, run

STACK_LABEL = "com.docker.stack.namespace"
JOBS_API = (1, 41)  # swarm jobs in the engine
JOBS_CLI = 23  # `mode: replicated-job` in `docker stack deploy` (docker/cli#2907): CLI 23.0


@dataclass(frozen=True)
class Task:
    id: str
    service_id: str
    state: str  # new … pending, preparing, starting, running, complete, failed, rejected, shutdown, …
    desired: str
    error: str
    message: str
    exit_code: int | None
    created: str  # the manager's clock, RFC 3339
    updated: str  # when it reached `state`
    node_id: str
    job_iteration: int | None


@dataclass
class Service:
    id: str
    name: str  # as in locald.toml (the swarm's name without the stack prefix)
    full_name: str
    job: bool
    job_iteration: int | None
    update_state: str | None  # updating | paused | completed | rollback_… (None: never updated)
    update_message: str
    published: list[dict]  # the endpoint's ports: TargetPort, PublishedPort, Protocol, PublishMode
    tasks: list[Task] = field(default_factory=list)


def require_manager() -> None:
    """A clear sentence unless the CLI talks to a swarm manager."""
    docker()
    result = run(["info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"])
    if result.returncode != 0:
        raise docker_errors.engine_unreachable(result.stderr)
    state, _, manager = result.stdout.strip().partition(" ")
    if state != "active":
        raise LocaldError(f"this Docker engine is not part of a swarm (state: {state or 'unknown'}): run "
                          "`docker swarm init` to make it a one-node swarm, or point DOCKER_HOST / "
                          "`docker context use` at a manager of your swarm")
    if manager != "true":
        raise LocaldError("this Docker engine is a swarm worker: stacks are deployed from a manager "
                          "(point DOCKER_HOST / `docker context use` at one)")


def jobs_supported() -> bool:
    """Both the engine and the CLI know `replicated-job` services."""
    result = run(["version", "--format", "{{.Server.APIVersion}} {{.Client.Version}}"])
    try:
        api, client = result.stdout.split()
        return tuple(int(x) for x in api.split(".")[:2]) >= JOBS_API and int(client.split(".")[0]) >= JOBS_CLI
    except ValueError:
        return False


def deploy_file(stack: str, file: str, resolve_image: str) -> None:
    result = run(["stack", "deploy", "--with-registry-auth", "--resolve-image", resolve_image, "-c", file, stack],
                 timeout=300)
    if result.returncode != 0:
        raise LocaldError(f"`docker stack deploy` refused the stack {stack}: {result.stderr.strip()}")


def services(stack: str) -> dict[str, Service]:
    """The stack's services with all their tasks (history included), by locald name."""
    ids = _ids(["service", "ls", "-q", "--filter", f"label={STACK_LABEL}={stack}"])
    if not ids:
        return {}
    task_ids = _ids(["service", "ps", "-q", "--no-trunc", *ids])
    out: dict[str, Service] = {}
    by_id: dict[str, Service] = {}
    tasks: list[Task] = []
    for obj in _inspect(ids + task_ids):
        if "ServiceID" in obj:
            tasks.append(_task(obj))
        elif "Spec" in obj:
            service = _service(obj, stack)
            out[service.name] = by_id[service.id] = service
    for task in sorted(tasks, key=lambda t: t.created):
        if task.service_id in by_id:
            by_id[task.service_id].tasks.append(task)
    return out


def service_logs(full_name: str, lines: int = 15) -> list[str]:
    """The last lines of a service's output, from every node (best effort)."""
    try:
        result = subprocess.run([docker(), "service", "logs", "--raw", "--no-trunc", "--tail", str(lines), full_name],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                                timeout=15, stdin=subprocess.DEVNULL)
    except (subprocess.TimeoutExpired, LocaldError):
        return []
    return result.stdout.splitlines()[-lines:] if result.returncode == 0 else []


def remove(stack: str) -> None:
    """`docker stack rm`. It removes the services, then the networks at once: a network that a task
    still shutting down uses is refused ("is in use by task"), which is no failure — the caller waits
    for the task and removes the network (remove_networks)."""
    result = run(["stack", "rm", stack], timeout=120)
    if result.returncode != 0 and not only_networks_in_use_by_tasks(result.stderr):
        raise LocaldError(f"`docker stack rm {stack}` failed: {result.stderr.strip()}")


def only_networks_in_use_by_tasks(stderr: str) -> bool:
    """Whether every failure `docker stack rm` reports is a network a task still uses (transient; one
    that a service uses is not: that service is no part of the stack and will not go by itself)."""
    failures = stderr.count("Failed to remove")
    return failures > 0 and failures == stderr.count("Failed to remove network") == stderr.count("in use by task")


def remove_networks(ids: list[str]) -> None:
    """Best effort: a network still in use stays, to be tried again."""
    if ids:
        run(["network", "rm", *ids])


def leftovers(stack: str) -> dict[str, list[str]]:
    """What of the stack still exists: services, networks, and containers on this node."""
    label = f"label={STACK_LABEL}={stack}"
    return {"services": _ids(["service", "ls", "-q", "--filter", label]),
            "networks": _ids(["network", "ls", "-q", "--filter", label]),
            "containers": _ids(["ps", "-aq", "--filter", label])}


def remove_exited(stack: str) -> None:
    """The stopped containers of a removed stack on this node: the swarm leaves a finished job's
    behind (moby/moby#44312). Errors are ignored: the swarm may be removing them too."""
    ids = _ids(["ps", "-aq", "--filter", f"label={STACK_LABEL}={stack}", "--filter", "status=exited",
                "--filter", "status=created", "--filter", "status=dead"])
    if ids:
        run(["rm", *ids], timeout=120)


def orphan_tasks(stack: str) -> list[str]:
    """Tasks the swarm still lists for a removed stack (a job's, moby/moby#44312)."""
    return list(_orphans(stack))


def orphan_nodes(stack: str) -> list[str]:
    """The other nodes that ran those tasks: their finished containers stay there, out of reach of
    `remove_exited`, which sees only the node the CLI talks to."""
    here = run(["info", "--format", "{{.Name}}"]).stdout.strip()
    return sorted(set(_orphans(stack).values()) - {here})


def _orphans(stack: str) -> dict[str, str]:
    """task id → its node's hostname."""
    result = run(["stack", "ps", "--no-trunc", "--format", "{{.ID}} {{.Node}}", stack])
    if result.returncode != 0:
        return {}
    return dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)


def volumes(stack: str) -> list[str]:
    return _ids(["volume", "ls", "-q", "--filter", f"label={STACK_LABEL}={stack}"])


def node_names(ids: list[str]) -> dict[str, str]:
    ids = sorted(set(i for i in ids if i))
    if not ids:
        return {}
    result = run(["node", "inspect", "--format", "{{.ID}} {{.Description.Hostname}}", *ids])
    return dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)


def _ids(args: list[str]) -> list[str]:
    result = run(args)
    if result.returncode != 0:
        raise docker_errors.engine_failed(f"run `docker {' '.join(args[:2])}`", result.stderr)
    return result.stdout.split()


def _inspect(ids: list[str]) -> list[dict]:
    # A task may vanish between the listing and this call: inspect still prints the others.
    result = run(["inspect", *ids])
    try:
        return json.loads(result.stdout or "[]")
    except ValueError:
        raise docker_errors.engine_failed("inspect the stack's services", result.stderr) from None


def _service(obj: dict, stack: str) -> Service:
    spec = obj.get("Spec") or {}
    full = spec.get("Name", "")
    mode = spec.get("Mode") or {}
    update = obj.get("UpdateStatus") or {}
    job_status = obj.get("JobStatus") or {}
    return Service(
        id=obj["ID"], name=full[len(stack) + 1:] if full.startswith(stack + "_") else full, full_name=full,
        job="ReplicatedJob" in mode or "GlobalJob" in mode,
        job_iteration=(job_status.get("JobIteration") or {}).get("Index"),
        update_state=update.get("State"), update_message=update.get("Message", ""),
        published=list((obj.get("Endpoint") or {}).get("Ports") or []))


def _task(obj: dict) -> Task:
    status = obj.get("Status") or {}
    container = status.get("ContainerStatus") or {}
    return Task(
        id=obj["ID"], service_id=obj["ServiceID"], state=status.get("State", ""),
        desired=obj.get("DesiredState", ""), error=status.get("Err", ""), message=status.get("Message", ""),
        exit_code=container.get("ExitCode") if container.get("ContainerID") else None,
        created=obj.get("CreatedAt", ""), updated=status.get("Timestamp", ""), node_id=obj.get("NodeID", ""),
        job_iteration=(obj.get("JobIteration") or {}).get("Index"))
