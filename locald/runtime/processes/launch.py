"""How a host process is launched: its environment, working directory and command. One place, used
by the supervisor's runner and by `locald run` alike."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping

from ...config import envfile
from ...errors import LocaldError
from ..cleanup import marker_env

SERVICE_VAR = "LOCALD_SERVICE"  # name of the service, for the process itself and for `locald run`


def process_env(service, plan, base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """What the process sees, later layers winning: the inherited environment, the project's `.env` (when
    present, as honcho and foreman do), each `env_file`, the service's `env` (references resolved for a
    host process), PORT (not for workers), PYTHONUNBUFFERED=1 (unless `env` sets it), and locald's markers."""
    root = plan.project.root
    env = dict(base)
    files = [root / ".env"] if (root / ".env").is_file() else []
    for name in service.env_file:
        path = root / name
        if not path.is_file():
            raise LocaldError(f"service {service.name}: env_file {name} not found (looked for {path})")
        files.append(path)
    for path in files:
        env.update({k: plan.resolve(v, service.name) for k, v in envfile.load(path).items()})
    env.update(plan.env(service.name))
    port = plan.ports.get(service.name)
    if service.kind != "worker" and port is not None:
        env["PORT"] = str(port)
    if "PYTHONUNBUFFERED" not in service.env:
        env["PYTHONUNBUFFERED"] = "1"  # Python children would otherwise hold their output in a buffer
    env.update(marker_env(plan.state_dir))
    env[SERVICE_VAR] = service.name
    return env


def service_cwd(service, plan) -> Path:
    cwd = plan.project.root / (service.workdir or ".")
    if not cwd.is_dir():
        raise LocaldError(f"service {service.name}: workdir {service.workdir} is not a directory (looked for {cwd})")
    return cwd


def command_of(service, plan) -> tuple[str | list[str], bool]:
    """(command, shell): a string runs through /bin/sh, an array is the argv itself. A `site` without a
    command serves its `path` with Python's own http.server on its port."""
    if service.kind == "site" and not service.command:
        directory = plan.project.root / (getattr(service, "path", None) or ".")
        if not directory.is_dir():
            raise LocaldError(f"service {service.name}: path {service.path} is not a directory (looked for {directory})")
        port = plan.ports.get(service.name)
        if port is None:
            raise LocaldError(f"service {service.name}: a site needs a port")
        return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(directory)], False
    if not service.command:
        raise LocaldError(f"service {service.name}: no command to run")
    if isinstance(service.command, str):
        return service.command, True
    return list(service.command), False
