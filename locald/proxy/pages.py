"""The proxy's own pages: 404 for a host nobody serves, 503 for a service that is not answering yet."""

from __future__ import annotations

from html import escape

REFRESH_SECONDS = 2

_STYLE = ("body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:3rem auto;padding:0 1rem;color:#222}"
          "h1{font-size:1.4rem}code,pre{font:13px/1.4 ui-monospace,monospace}"
          "pre{background:#f4f4f4;padding:1rem;overflow:auto;white-space:pre-wrap}"
          "td{padding:.15rem 1rem .15rem 0}.muted{color:#777}")


def _page(title: str, body: str, refresh: bool = False) -> str:
    meta = f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' if refresh else ""
    return (f'<!doctype html><html><head><meta charset="utf-8">{meta}<title>{escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body>{body}</body></html>\n")


def not_found(host: str, hosts: list[tuple[str, str, str]]) -> str:
    """`hosts`: (URL, project, service) of every route."""
    if hosts:
        rows = "".join(f'<tr><td><a href="{escape(url)}">{escape(url)}</a></td><td>{escape(project)}</td>'
                       f'<td class="muted">{escape(service)}</td></tr>' for url, project, service in hosts)
        listing = f"<p>The hosts that answer here:</p><table>{rows}</table>"
    else:
        listing = "<p>No locald project is running.</p>"
    return _page(f"No service at {host}", f"<h1>No locald service answers on <code>{escape(host)}</code></h1>"
                 f"{listing}<p class=\"muted\">locald proxy</p>")


def unavailable(host: str, project: str, service: str, status: str, log: list[str], why: str = "") -> str:
    lines = "\n".join(log[-20:])
    tail = (f"<p>Its last output:</p><pre>{escape(lines)}</pre>" if lines else "<p class=\"muted\">No output yet.</p>")
    why_html = f"<p>{escape(why)}</p>" if why else ""
    return _page(f"{service}: {status}", f"<h1><code>{escape(service)}</code> of {escape(project)} is "
                 f"{escape(status)}</h1>{why_html}{tail}<p class=\"muted\">{escape(host)} · this page reloads "
                 f"every {REFRESH_SECONDS} seconds</p>", refresh=True)


def bad_gateway(host: str, service: str, why: str) -> str:
    return _page(f"{service}: bad gateway", f"<h1><code>{escape(service)}</code> did not answer properly</h1>"
                 f"<p>{escape(why)}</p><p class=\"muted\">{escape(host)}</p>")
