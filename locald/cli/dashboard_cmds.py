"""`locald dashboard`: the URL of the web page that shows every running project of this user."""

from __future__ import annotations

import click

from . import cli

DASHBOARD_HELP = """Show the dashboard: every running locald project of yours on one live web page.

\b
With the named-URL proxy running (any `locald up` with an HTTP service starts it), the page is at
http://locald.localhost:PORT and this command prints that URL. Otherwise (or with --port) this
command serves the page itself on 127.0.0.1 until Ctrl-C. Only your OS user can open it; restart,
stop and start also need the page's own token, so no other user or web site can press them.
"""


def _projects_line() -> str:
    from ..dashboard import registry

    names = [e.name for e in registry.running()]
    if not names:
        return "no locald project is running yet: the page shows them as they start"
    return f"{len(names)} running project{'s' if len(names) != 1 else ''}: {', '.join(names)}"


def _show(url: str, open_browser: bool) -> None:
    click.echo(url)
    click.echo(_projects_line(), err=True)
    if open_browser:
        import webbrowser

        if not webbrowser.open(url):
            click.echo("no browser could be started here: open the URL yourself", err=True)


@cli.command(help=DASHBOARD_HELP)
@click.option("--open", "open_browser", is_flag=True, help="Open the page in your browser.")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Serve the page from this command on 127.0.0.1:PORT (0: any free port) even when the "
                   "proxy runs.")
def dashboard(open_browser: bool, port: int | None) -> None:
    from ..dashboard import standalone

    url = standalone.proxy_url() if port is None else None
    if url:
        _show(url, open_browser)
        return
    standalone.serve(port or 0, lambda here: (_show(here, open_browser),
                                              click.echo("serving the dashboard until Ctrl-C", err=True)))
