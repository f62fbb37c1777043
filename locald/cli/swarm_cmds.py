"""Swarm on the command line: `deploy swarm`, and `--target swarm` / `--swarm` on the commands that
other modules define (`export compose`, `status`, `down`), added here so the swarm stays in one room."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Callable

import click

from . import Obj, cli
from .compose_cmds import export_group

STACK_HELP = "The swarm stack's name (default: the project's name, as Compose would write it)."


def _project(obj: Obj):
    from ..config import load_project

    return load_project(obj.file)


def _warn(note: str) -> None:
    click.echo(f"locald: warning: {note}", err=True)


@cli.group("deploy")
def deploy_group() -> None:
    """Deploy the container services to a cluster."""


@deploy_group.command("swarm")
@click.option("--stack", metavar="NAME", default=None, help=STACK_HELP)
@click.option("--resolve-image", type=click.Choice(["always", "changed", "never"]), default="always",
              show_default=True, help="Passed to `docker stack deploy`: `never` runs the images each node "
                                      "already has, without asking a registry.")
@click.option("--timeout", type=click.FloatRange(min=1), default=300.0, show_default=True, metavar="SECONDS",
              help="How long each service may take to be ready.")
@click.option("--jobs", is_flag=True, help="Run one-shots as swarm jobs (`mode: replicated-job`; engine API 1.41 "
                                            "and docker CLI 23). Off by default: removing a job leaves its "
                                            "finished task behind (moby/moby#44312).")
@click.pass_obj
def deploy_swarm(obj: Obj, stack: str | None, resolve_image: str, timeout: float, jobs: bool) -> None:
    """Deploy the container services as a Docker Swarm stack, in dependency order.

    A service is added only once what it depends on is started, healthy or completed (as its
    `depends_on` asks) on the swarm, from the engine's task states. A service waited on with
    `completed_successfully` runs once (restart_policy none) and must exit 0 first. Ports are
    published in host mode. Host processes stay on the host: start them with `locald up`.
    """
    from ..swarm.deploy import deploy

    project = _project(obj)
    name, built = deploy(project, stack, resolve_image=resolve_image, timeout=timeout, jobs=jobs,
                         on_note=_warn, on_event=_show_event)
    processes = [s.name for s in project.processes]
    n = len(built.services)
    click.echo(f"deployed stack {name} ({n} service{'s' if n != 1 else ''})"
               + (f"; left on the host: {', '.join(processes)}" if processes else ""))


def _show_event(event) -> None:
    when = f" ({event.seconds:.1f}s)" if event.ready else ""
    click.echo(f"[{event.wave}/{event.waves}] {event.service}: {event.state}{when}", err=True)


# --- swarm variants of other modules' commands ---------------------------------------------------------

def _extend(command: click.Command, options: list[click.Option], chosen: Callable[[dict], bool],
            run: Callable[..., None]) -> None:
    """Add `options` to `command`; when `chosen(their values)`, `run(obj, their values, other args)` answers
    instead of the command."""
    command.params.extend(options)
    original = command.callback
    names = [o.name for o in options]

    @functools.wraps(original)
    def callback(*args, **kwargs):
        extra = {n: kwargs.pop(n) for n in names}
        if chosen(extra):
            return run(click.get_current_context().obj, extra, **kwargs)
        return original(*args, **kwargs)

    command.callback = callback


def _stack_option() -> click.Option:
    return click.Option(["--stack"], metavar="NAME", default=None, help=STACK_HELP + " Implies --swarm.")


def _swarm_option(what: str) -> click.Option:
    return click.Option(["--swarm"], is_flag=True, help=f"{what} the stack deployed by `locald deploy swarm`.")


def _export_swarm(obj: Obj, extra: dict, output: str | None) -> None:
    from ..swarm.build import export_text

    project = _project(obj)
    target = Path(output) if output and output != "-" else None
    text, notes = export_text(project, target, extra["stack"])
    for note in notes:
        _warn(note)
    if target is None:
        click.echo(text, nl=False)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    click.echo(f"wrote {target} (a swarm stack of {len(project.containers)} container services)", err=True)


def _check_target(extra: dict) -> bool:
    if extra["stack"] and extra["target"] != "swarm":
        raise click.UsageError("--stack needs --target swarm")
    return extra["target"] == "swarm"


_extend(export_group.commands["compose"],
        [click.Option(["--target"], type=click.Choice(["compose", "swarm"]), default="compose", show_default=True,
                      help="`swarm`: a stack file for `docker stack deploy` (deploy sections, host-mode ports, "
                           "one-shots; every key Swarm cannot keep is named on stderr)."),
         click.Option(["--stack"], metavar="NAME", default=None, help="--target swarm: the stack name in the "
                                                                      "file's deploy hint.")],
        _check_target, _export_swarm)


def _status_swarm(obj: Obj, extra: dict, as_json: bool) -> None:
    from ..swarm.manage import status_rows

    name, rows = status_rows(_project(obj), extra["stack"])
    if as_json:
        click.echo(json.dumps({"stack": name, "services": rows}, indent=2))
        return
    headers = ["NAME", "KIND", "STATUS", "NODE", "PORTS"]
    table = [[r["name"], r["kind"], r["status"] + (f" ({r['failed_tasks']} failed tasks)" if r["failed_tasks"] else ""),
              r["node"] or "-", ", ".join(r["ports"]) or "-"] for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
    click.echo(f"stack {name}")
    for row in [headers, *table]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    for r in rows:
        if r["error"]:
            click.echo(f"{r['name']}: last failed task: {r['error']}")


_extend(cli.commands["status"], [_swarm_option("Show"), _stack_option()],
        lambda extra: bool(extra["swarm"] or extra["stack"]), _status_swarm)


def _down_swarm(obj: Obj, extra: dict) -> None:
    from ..swarm.build import stack_name
    from ..swarm.cluster import STACK_LABEL
    from ..swarm.manage import down

    project = _project(obj)
    removed = down(project, extra["stack"])
    if removed is None:
        click.echo(f"stack {stack_name(project, extra['stack'])} is not deployed")
        return
    click.echo(f"removed stack {removed.stack}")
    if removed.volumes:
        click.echo(f"kept its volumes (they hold data; `docker volume rm` deletes them): {', '.join(removed.volumes)}",
                   err=True)
    if removed.orphan_tasks:
        _warn(f"the swarm still lists {len(removed.orphan_tasks)} finished job task(s) of {removed.stack} "
              "(moby/moby#44312); they go when the node leaves the swarm")
    if removed.orphan_nodes:
        _warn(f"their finished containers stay on {', '.join(removed.orphan_nodes)}: there, "
              f"`docker container prune --filter label={STACK_LABEL}={removed.stack}` removes them")


_extend(cli.commands["down"], [_swarm_option("Remove"), _stack_option()],
        lambda extra: bool(extra["swarm"] or extra["stack"]), _down_swarm)
