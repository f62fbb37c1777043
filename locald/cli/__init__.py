"""The `locald` command line: parse arguments, call the library, format the outcome. Nothing else."""

from __future__ import annotations

import sys

import click

from .. import __version__
from ..errors import LocaldError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Obj:
    def __init__(self, file: str):
        self.file = file


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="locald")
@click.option("-f", "--file", "file", default="locald.toml", show_default=True, metavar="PATH",
              envvar="LOCALD_FILE", help="The locald.toml to use.")
@click.pass_context
def cli(ctx: click.Context, file: str) -> None:
    """Run a development stack of host processes and Docker containers from one locald.toml.

    \b
    Quick start:
      locald validate        check locald.toml, every mistake at its line
      locald up              start everything in dependency order, stream the logs
      locald down            stop everything (from any terminal)
    """
    ctx.obj = Obj(file)


from . import config_cmds, stack_cmds  # noqa: E402,F401  (registers commands)
from . import import_cmds  # noqa: E402,F401  (registers `import compose`)
from . import compose_cmds  # noqa: E402,F401  (registers `export compose`)
from . import proxy_cmds  # noqa: E402,F401  (registers `trust`)
from . import swarm_cmds  # noqa: E402,F401  (registers `deploy swarm`; --target swarm, status/down --swarm)
from . import dashboard_cmds  # noqa: E402,F401  (registers `dashboard`)


def main() -> None:
    try:
        cli.main(prog_name="locald", standalone_mode=True)
    except LocaldError as exc:
        click.echo(f"locald: {exc}", err=True)
        sys.exit(exc.exit_code)
