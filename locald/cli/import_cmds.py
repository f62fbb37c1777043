"""`locald import compose`: a compose project → locald.toml."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..errors import LocaldError
from . import Obj, cli


@cli.group("import")
def import_group() -> None:
    """Bring an existing configuration into locald.toml."""


@import_group.command("compose")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("-o", "--output", metavar="PATH", default=None,
              help="Where to write the locald.toml (default: the -f file, locald.toml); `-` prints it.")
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
@click.pass_obj
def import_compose_cmd(obj: Obj, files: tuple[str, ...], output: str | None, force: bool) -> None:
    """Turn compose files into a locald.toml that means the same thing.

    FILES are merged in order as `docker compose -f A -f B` merges them (none: compose.yaml,
    docker-compose.yml, … and the override file, as Docker Compose finds them). Docker Compose
    itself reads them (`docker compose config`), so `extends`, `include`, anchors, profiles (all of
    them) and ${VAR:-default} behave exactly as in `docker compose up`. Keys locald has no
    equivalent for are kept verbatim in each service's `compose` table, so nothing is lost.

    Secrets stay out of locald.toml: env files stay `env_file` references, `${KEY}` (and a variable
    without a value) stays a variable Compose reads when the container starts, and an environment
    value made from other variables is left out with a note. Variables used elsewhere (an image
    tag, a port) are resolved now from this shell and the project's .env; each is named on stderr
    with where it came from.
    """
    from ..compose.importer import import_compose

    output = output or obj.file
    to_stdout = output == "-"
    target = None if to_stdout else Path(output)
    if target is not None and target.exists() and not force:
        raise LocaldError(f"{output} already exists: pass --force to overwrite it, or -o PATH to write elsewhere")
    out_dir = Path.cwd() if target is None else target.resolve().parent
    imported = import_compose(files, out_dir=out_dir, workdir=os.getcwd())

    for warning in imported.warnings:
        click.echo(f"compose: {warning}", err=True)
    for variable, origin in imported.resolved.items():
        click.echo(f"resolved ${{{variable}}} from {origin}", err=True)
    for name, notes in imported.notes.items():
        for note in notes:
            click.echo(f"{name}: {note}", err=True)
    if to_stdout:
        click.echo(imported.text, nl=False)
        return
    target.write_text(imported.text, encoding="utf-8")
    n = len(imported.doc["services"])
    click.echo(f"wrote {output}: {n} service{'s' if n != 1 else ''} "
               f"({', '.join(imported.doc['services'])}); `locald validate` accepts it", err=True)
