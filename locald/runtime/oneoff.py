"""`locald run SVC -- CMD`: a one-off command with a service's environment (and, for a container,
in a fresh container of that service)."""

from __future__ import annotations

import os
import shlex

from ..config.model import Project
from ..errors import LocaldError
from ..plan import make_plan


def exec_in_service(project: Project, name: str, argv: list[str]) -> None:
    """Replace this process with the command; never returns."""
    if name not in project.services:
        raise LocaldError(f"unknown service '{name}' (services: {', '.join(project.services)})")
    plan = make_plan(project, check_free=False)
    service = project.services[name]
    if service.is_container:
        from .containers import ContainerRuntime

        runtime = ContainerRuntime(plan)
        runtime.check_engine()
        compose = runtime.write_compose()
        cmd = ["docker", "compose", "-f", str(compose), "-p", plan.compose_project, "--project-directory",
               str(project.root), "--env-file", os.devnull, "run", "--rm", "--no-deps", name, *argv]
        os.execvp(cmd[0], cmd)
    from .cleanup import MARKER
    from .processes import process_env

    env = process_env(service, plan)
    env.pop(MARKER, None)  # a one-off is the user's: neither `down` nor crash cleanup may kill it
    cwd = project.root / (service.workdir or ".")
    if not argv:
        raise LocaldError("nothing to run: give a command after `--`, e.g. locald run web -- env")
    os.chdir(cwd)
    try:
        os.execvpe(argv[0], argv, env)
    except FileNotFoundError:
        raise LocaldError(f"command not found: {shlex.quote(argv[0])}") from None
