"""`locald export compose`: the container side of the stack as a plain compose file."""

from __future__ import annotations

from pathlib import Path

import click

from . import Obj, cli


@cli.group("export")
def export_group() -> None:
    """Write the stack in another tool's format."""


@export_group.command("compose")
@click.option("-o", "--output", metavar="FILE", default=None,
              help="Write the compose file here (paths in it are made relative to its directory); "
                   "default: standard output.")
@click.pass_obj
def export_compose_cmd(obj: Obj, output: str | None) -> None:
    """Export the container services as a compose file for teammates.

    Full container config, fixed host ports (bound to 127.0.0.1), paths relative to the file, no
    locald labels. Host processes cannot live in a compose file: they are left out, and stderr lists
    them and the dependency edges dropped. `docker compose -f FILE up -d --wait` starts the rest.
    """
    from ..compose.export import export_project
    from ..config import load_project

    project = load_project(obj.file)
    target = Path(output) if output and output != "-" else None
    text, warnings = export_project(project, target)
    for warning in warnings:
        click.echo(f"locald: warning: {warning}", err=True)
    if target is None:
        click.echo(text, nl=False)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    n = len(project.containers)
    click.echo(f"wrote {target} ({n} container service{'s' if n != 1 else ''})", err=True)
