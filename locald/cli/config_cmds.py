"""`locald validate` and `locald schema`."""

from __future__ import annotations

import json
import sys

import click

from . import Obj, cli


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one object with every problem, for editors and tools.")
@click.pass_obj
def validate(obj: Obj, fmt: str) -> None:
    """Check locald.toml against the schema and for semantic mistakes.

    Prints every problem as FILE:LINE:COL: $.json.path: message and exits 1, or a one-line summary.
    """
    from ..config import check_file

    checked = check_file(obj.file)
    if fmt == "json":
        summary = None
        if checked.project:
            summary = _summary(checked.project)
        click.echo(json.dumps({"file": checked.file, "valid": not checked.problems, "summary": summary,
                               "problems": [p.as_dict() for p in checked.problems]}, indent=2))
    elif checked.problems:
        for p in checked.problems:
            click.echo(str(p), err=True)
        n = len(checked.problems)
        click.echo(f"{n} problem{'s' if n != 1 else ''} in {checked.file}", err=True)
    else:
        click.echo(f"ok: {_summary(checked.project)}")
    sys.exit(1 if checked.problems else 0)


def _summary(project) -> str:
    n, p, c = len(project.services), len(project.processes), len(project.containers)
    def plural(k, word):
        return f"{k} {word}{'' if k == 1 else ('es' if word.endswith('s') else 's')}"
    return f"{plural(n, 'service')} ({plural(p, 'process')}, {plural(c, 'container')})"


@cli.command()
def schema() -> None:
    """Print the JSON Schema of locald.toml (draft-07, as editors read it)."""
    from ..config.schema import schema_text

    click.echo(schema_text(), nl=False)
