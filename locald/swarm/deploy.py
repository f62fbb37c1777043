"""`locald deploy swarm`: the stack deployed in dependency waves.

`docker stack deploy` creates every service at once and ignores `depends_on`, so an app starts before
its database is healthy and crash-loops until it is. Here each wave is one `docker stack deploy` of
only the services whose dependencies are all up (without --prune, the services of earlier waves are
left as they are), and the next wave waits until every service of this one is what its dependents
ask for: started, healthy, or completed with exit code 0 — read from the engine's task states.
The whole stack file is kept in .locald/swarm/STACK.yaml (0600) for the record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from ..compose.fileformat import dump_yaml
from ..compose.translate import has_healthcheck
from ..config.model import Project
from ..errors import LocaldError
from . import cluster
from ..compose.export import export_plan
from ..runtime.private import private_dir, write_private
from .build import stack_name, stack_of
from .progress import attempts, progress
from .stackfile import Stack

POLL = 0.5
LOG_LINES = 15


@dataclass(frozen=True)
class Event:
    """One service changed state: what the CLI prints as progress."""

    service: str
    state: str
    wave: int  # 1-based
    waves: int
    seconds: float  # since the deploy began
    ready: bool = False


def deploy(project: Project, stack: str | None = None, *, resolve_image: str = "always", timeout: float = 300.0,
           jobs: bool = False, on_note: Callable[[str], None] = lambda _: None,
           on_event: Callable[[Event], None] = lambda _: None, clock=time.monotonic) -> tuple[str, Stack]:
    """Deploy the container services of `project` as the swarm stack `stack` (default: the project's
    name). jobs: one-shots as `mode: replicated-job` (needs engine API 1.41 and docker CLI 23).
    Returns the stack's name and the stack; raises LocaldError naming the service that failed."""
    name = stack_name(project, stack)  # a mistake in it is said before the engine is asked
    cluster.require_manager()
    if jobs and not cluster.jobs_supported():
        raise LocaldError("--jobs needs swarm jobs, which this engine or docker CLI lacks (engine API 1.41 "
                          "and docker CLI 23 or newer); deploy without --jobs")
    directory = project.state_dir / "swarm"
    built, notes = stack_of(export_plan(project), directory, jobs=jobs)
    for note in notes:
        on_note(note)
    if not built.services:
        raise LocaldError(f"{project.file.name} has no container service: there is nothing to deploy on a swarm")
    private_dir(directory)  # a stack file holds the services' env (passwords, tokens)
    write_private(directory / f"{name}.yaml", dump_yaml(built.document))
    wave_file = directory / f"{name}.wave.yaml"
    start = clock()
    waves = built.waves()
    try:
        for number, wave in enumerate(waves, 1):
            seen = {t.id for s in cluster.services(name).values() for t in s.tasks}
            write_private(wave_file, dump_yaml(built.subset(wave)))
            for service in wave:
                on_event(Event(service, "deploying", number, len(waves), clock() - start))
            cluster.deploy_file(name, str(wave_file), resolve_image)
            _wait(name, built, wave, seen, timeout, lambda s, state, ready: on_event(
                Event(s, state, number, len(waves), clock() - start, ready)), clock)
    finally:
        wave_file.unlink(missing_ok=True)
    return name, built


def _wait(name: str, built: Stack, wave: list[str], seen: set[str], timeout: float,
          show: Callable[[str, str, bool], None], clock) -> None:
    deadline = clock() + timeout
    shown: dict[str, str] = {}
    definitions = built.document["services"]
    while True:
        services = cluster.services(name)
        waiting = {}
        for service in wave:
            definition = definitions[service]
            p = progress(services.get(service), built.wait_for(service), seen,
                         attempts(definition["deploy"].get("restart_policy") or {}),
                         bool(has_healthcheck(definition)))
            if shown.get(service) != p.state:
                shown[service] = p.state
                show(service, p.state, p.ready)
            if p.failure:
                raise _failed(name, services[service].full_name, service, p.failure)
            if not p.ready:
                waiting[service] = p.state
        if not waiting:
            return
        if clock() > deadline:
            service, state = next(iter(waiting.items()))
            raise _failed(name, f"{name}_{service}", service,
                          f"not {built.wait_for(service)} after {timeout:g}s (last state: {state})")
        time.sleep(POLL)


def _failed(stack: str, full_name: str, service: str, why: str) -> LocaldError:
    lines = cluster.service_logs(full_name, LOG_LINES)
    log = ("\nlast lines of its log:\n" + "\n".join("  " + line for line in lines)) if lines else ""
    return LocaldError(f"service '{service}' failed on the swarm: {why}{log}\n"
                       f"the stack {stack} is partly deployed: `locald down --swarm` removes it")
