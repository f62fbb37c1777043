"""Lifecycle commands: up/start, down/stop, status, logs, restart, run."""

from __future__ import annotations

import json
import sys

import click

from . import Obj, cli


def _project(obj: Obj):
    from ..config import load_project

    return load_project(obj.file)


def _running_project(obj: Obj):
    """The project, or — while an edit of locald.toml does not validate — the one its running stack
    applied last, so that status, logs, restart and down still work (with a word about the file)."""
    from ..errors import ConfigError
    from ..runtime.status import last_applied

    try:
        return _project(obj)
    except ConfigError as exc:
        project = last_applied(obj.file)
        if project is None:
            raise
        count = len(exc.problems)
        click.echo(f"locald: {obj.file} has {count} problem{'s' if count != 1 else ''} (`locald validate` lists "
                   f"{'them' if count != 1 else 'it'}); using what the running stack applied last", err=True)
        return project


def _printer(no_color: bool):
    from ..runtime.output import Printer

    return Printer(sys.stdout, colour=False if no_color else None)


UP_HELP = """Start the stack (or SERVICES and what they depend on) in dependency order.

\b
Attached (default): one merged, coloured log; Ctrl-C stops everything, a second Ctrl-C kills it.
It also ends once every service has ended and none will restart: exit status 0 when all ended
with 0, else the code of the first that did not.
Detached (-d): returns once every service is ready; a background supervisor keeps it running
and `locald down` (from any terminal) stops it.

\b
Edits apply themselves: while the stack runs, saving locald.toml (or an env file it names)
validates it and restarts only the services whose resolved definition changed, starts the added
ones and stops the removed ones (a file with mistakes changes nothing). `up` on a stack that
already runs does the same at once and prints what it applied; attached, it then follows the logs
and its Ctrl-C stops only the following (the stack keeps running: `locald down` stops it).
"""


@cli.command(help=UP_HELP)
@click.argument("services", nargs=-1)
@click.option("-d", "--detach", is_flag=True, help="Return once ready; keep running in the background.")
@click.option("--no-color", is_flag=True, help="Plain log prefixes even on a terminal.")
@click.option("--no-reload", is_flag=True, help="Do not follow edits of locald.toml while running.")
@click.option("--restart-dependents", is_flag=True,
              help="On a running stack: also restart what depends on a changed service.")
@click.pass_obj
def up(obj: Obj, services: tuple[str, ...], detach: bool, no_color: bool, no_reload: bool,
       restart_dependents: bool) -> None:
    from ..runtime import supervisor
    from ..runtime.state import supervisor_running

    project = _project(obj)  # a file with mistakes stops here: nothing changes, every problem is printed
    supervisor.selection(project, list(services))  # unknown names fail here, not in the background
    if supervisor_running(project.state_dir):
        summary = supervisor.converge_running(project, list(services), restart_dependents)
        click.echo(summary, err=True)
        if detach:
            _print_status(project)
            return
        _follow_logs(project, no_color)
        click.echo(f"{project.name} keeps running: `locald down` stops it", err=True)
        return
    if detach:
        proc = supervisor.spawn_detached(project, list(services), reload=not no_reload)
        code = supervisor.wait_detached(project, proc, lambda m: click.echo(m, err=True))
        if code == 0:
            _print_status(project)
        sys.exit(code)
    sys.exit(supervisor.run(project, list(services), _printer(no_color), reload=not no_reload))


def _follow_logs(project, no_color: bool) -> None:
    from ..runtime.logs import follow_until_interrupted

    follow_until_interrupted(project, [], 0, _printer(no_color))


cli.add_command(up, "start")  # the seed's name for it


@cli.command("_supervise", hidden=True)
@click.argument("services", nargs=-1)
@click.option("--no-reload", is_flag=True)
@click.pass_obj
def supervise(obj: Obj, services: tuple[str, ...], no_reload: bool) -> None:
    """The background supervisor of `up -d` (internal)."""
    from ..runtime import supervisor

    sys.exit(supervisor.run(_project(obj), list(services), None, detached=True, reload=not no_reload))


@cli.command()
@click.pass_obj
def down(obj: Obj) -> None:
    """Stop everything: processes, containers, the network (from any terminal)."""
    from ..runtime import supervisor

    project = _running_project(obj)
    if supervisor.stop(project, echo=lambda m: click.echo(m, err=True)):
        click.echo(f"stopped {project.name}")
    else:
        click.echo(f"{project.name} is not running")


cli.add_command(down, "stop")  # the seed's name for it


def _print_status(project, as_json: bool = False) -> None:
    from ..runtime.status import config_age, stack_status

    rows = stack_status(project)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    headers = ["NAME", "KIND", "STATUS", "HEALTH", "PORT", "URL"]
    table = [[r["name"], r["kind"], r["status"] + (f" ({r['restarts']} restarts)" if r["restarts"] else ""),
              r["health"], str(r["port"] or "-"), r["public_url"] or r["url"] or "-"] for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
    for row in [headers, *table]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    age = config_age(project)
    if age is not None:
        click.echo(f"{project.file.name} applied {_ago(age)}", err=True)


def _ago(seconds: float) -> str:
    if seconds < 60:
        return f"{int(seconds)}s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    return f"{seconds / 3600:.1f} h ago"


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def status(obj: Obj, as_json: bool) -> None:
    """Show every service: NAME KIND STATUS HEALTH PORT URL (the named URL when the proxy serves it;
    --json gives both: `url`, the direct one, and `public_url`)."""
    _print_status(_running_project(obj), as_json)


@cli.command()
@click.argument("services", nargs=-1)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("-n", "--tail", type=click.IntRange(min=0), default=None, help="Only the last N lines of each service.")
@click.option("--no-color", is_flag=True, help="Plain prefixes even on a terminal.")
@click.pass_obj
def logs(obj: Obj, services: tuple[str, ...], follow: bool, tail: int | None, no_color: bool) -> None:
    """Show the logs of SERVICES (default: all): processes' from .locald/logs, containers' from Docker."""
    from ..runtime.logs import follow_until_interrupted, show
    from ..runtime.supervisor import unknown_services

    project = _running_project(obj)
    unknown_services(project, services)
    if follow:
        follow_until_interrupted(project, list(services), tail, _printer(no_color))
    else:
        show(project, list(services), False, tail, _printer(no_color))


@cli.command()
@click.argument("services", nargs=-1, required=True)
@click.pass_obj
def restart(obj: Obj, services: tuple[str, ...]) -> None:
    """Restart SERVICES of the running stack."""
    from ..runtime.control import request
    from ..runtime.supervisor import unknown_services

    project = _running_project(obj)
    unknown_services(project, services)
    request(project.state_dir, {"action": "restart", "services": list(services)})
    click.echo(f"restarted {', '.join(services)}")


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("service")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def run(obj: Obj, service: str, command: tuple[str, ...]) -> None:
    """Run a one-off COMMAND with SERVICE's environment: locald run web -- python manage.py shell

    For a container service, the command runs in a new container of that service.
    """
    from ..runtime.oneoff import exec_in_service

    exec_in_service(_project(obj), service, list(command))
