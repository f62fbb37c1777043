"""A project's stack: the plan (no port probing, teammates' ports), the export document, the stack file.

The export document is taken from `export_compose` itself (its YAML read back), so the stack file is,
to the byte, a transformation of what `locald export compose` writes, and its warnings (host processes
left out, edges and env that point at them) are the export's own.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..compose.export import export_compose, export_plan
from ..compose.fileformat import dump_yaml
from ..config.model import Project
from ..errors import LocaldError
from ..plan import Plan, compose_project_name
from .stackfile import Stack, to_stack

HEADER = ("# Exported by `locald export compose --target swarm` from {file}: a Docker Swarm stack of the\n"
          "# container services{processes}.\n"
          "# `locald deploy swarm` deploys it in dependency order;\n"
          "# all at once (no order): docker stack deploy -c {name} {stack}\n")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
MAX_SERVICE_NAME = 63  # a swarm service name is a DNS label


def stack_of(plan: Plan, base_dir: Path, jobs: bool = False) -> tuple[Stack, list[str]]:
    """The stack and every note for the user: the export's warnings, then what Swarm could not keep.
    base_dir: where the stack file is written (its relative paths start there)."""
    import yaml

    text, warnings = export_compose(plan, base_dir=base_dir)
    stack = to_stack(yaml.safe_load(text), jobs=jobs)
    return stack, warnings + list(stack.notes)


def stack_name(project: Project, given: str | None) -> str:
    """--stack, or the compose project name of locald.toml's project name."""
    name = given or compose_project_name(project)
    if not _NAME.match(name):
        raise LocaldError(f"invalid stack name {name!r}: use lowercase letters, digits, '-' and '_', "
                          "starting with a letter or digit")
    longest = max((s.name for s in project.containers), key=len, default=None)
    if longest is not None and len(name) + 1 + len(longest) > MAX_SERVICE_NAME:
        raise LocaldError(f"stack name too long: the swarm names its services STACK_SERVICE, at most "
                          f"{MAX_SERVICE_NAME} characters, and {name}_{longest} has {len(name) + 1 + len(longest)}; "
                          "choose a shorter --stack")
    return name


def export_text(project: Project, output: Path | None, stack: str | None) -> tuple[str, list[str]]:
    """`export compose --target swarm`: the stack file's text and the notes for stderr."""
    name = stack_name(project, stack)
    built, notes = stack_of(export_plan(project), output.resolve().parent if output else project.root)
    processes = [s.name for s in project.processes]
    header = HEADER.format(file=project.file.name, name=output.name if output else "stack.yaml", stack=name,
                           processes=f"; left on the host: {', '.join(processes)}" if processes else "")
    return header + dump_yaml(built.document), notes
