"""`locald trust`: the local CA behind https://*.localhost into the system's trust store, or out."""

from __future__ import annotations

import click

from . import cli

TRUST_HELP = """Trust the local CA that signs the named URLs' HTTPS certificates.

\b
Every `locald up` serves its HTTP services at http(s)://NAME.localhost through one proxy per user;
its certificates come from a CA created for you in ~/.config/locald/ca. This command installs that
CA in the system's trust store (Debian/Ubuntu: /usr/local/share/ca-certificates, then
update-ca-certificates; through sudo when you are not root) and prints how to add it to Firefox
and Chromium, which keep their own store. --uninstall takes it out again.
"""


@cli.command(help=TRUST_HELP)
@click.option("--uninstall", is_flag=True, help="Remove the CA from the system's trust store.")
def trust(uninstall: bool) -> None:
    from ..proxy import trust as store

    for line in store.uninstall() if uninstall else store.install():
        click.echo(line)
