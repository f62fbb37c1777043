"""`locald run SVC -- CMD`: a one-off command with a service's environment (and, for a container,
in a fresh container of that service)."""

from __future__ import annotations

import os
import shlex

from ..config.model import Project
from ..errors import LocaldError
from ..plan import make_plan
from .state import read_ports


def exec_in_service(project: Project, name: str, argv: list[str]) -> None:
    """Replace this process with the command; never returns."""
    from .supervisor import unknown_services

    unknown_services(project, [name])
    service = project.services[name]
    if service.is_container:
        from .containers import engine, images
        from .containers.runtime import ContainerRuntime

        engine.check_owner(engine.Owner.of(project))  # a one-off must not join another stack's project
        facts = images.survey(project, [name])  # `compose run` builds or pulls what is missing itself
        plan = make_plan(project, images.exposed_ports(project, facts.infos), read_ports(project.state_dir),
                         check_free=False)
        runtime = ContainerRuntime(plan, facts)
        runtime.write_compose()
        cmd = runtime.compose_argv() + ["run", "--rm", "--no-deps", name, *argv]
        os.execvp(cmd[0], cmd)
    from .cleanup import MARKER
    from .processes.launch import process_env, service_cwd

    if not argv:
        raise LocaldError("nothing to run: give a command after `--`, e.g. locald run web -- env")
    plan = make_plan(project, previous_ports=read_ports(project.state_dir), check_free=False)
    env = process_env(service, plan)
    env.pop(MARKER, None)  # a one-off is the user's: neither `down` nor crash cleanup may kill it
    os.chdir(service_cwd(service, plan))
    try:
        os.execvpe(argv[0], argv, env)
    except FileNotFoundError:
        raise LocaldError(f"command not found: {shlex.quote(argv[0])}") from None
