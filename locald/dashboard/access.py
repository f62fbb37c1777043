"""Who may see the dashboard, and who may act through it.

Reading (the page, its event stream: logs hold secrets) needs all of:
  - a Host that names this server: locald.localhost, localhost, 127.0.0.1 or [::1], with the port the
    connection came in on (a DNS-rebound name is refused);
  - a client socket owned by this OS user (peer.py), so another local user gets nothing;
  - no sign of another site: an Origin, when sent, must be the page's own, and Sec-Fetch-Site must not
    say cross-site.
Acting (restart, stop, start) also needs the page's own Origin (present: browsers always send it on
POST) and the token, which reaches a page only inside the HTML served under the rules above and is
otherwise readable only by this user (a 0600 file in the private runtime directory). A page of
another site can neither read the token nor send it: the browser withholds cross-origin responses,
and a custom header forces a preflight this server never approves.
"""

from __future__ import annotations

import hmac
import os
import secrets
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from ..proxy import dirs
from ..runtime.private import FILE_MODE, open_private
from . import HOST
from .peer import uid_of_peer

TOKEN_FILE = "dashboard.token"
TOKEN_HEADER = "X-Locald-Token"
NAMES = frozenset((HOST, "localhost", "127.0.0.1", "[::1]"))
DEFAULT_PORTS = {"http": 80, "https": 443}


def token_path() -> Path:
    return dirs.runtime_dir() / TOKEN_FILE


def token() -> str:
    """This user's dashboard token, made on first use. Made aside and linked into place, so two servers
    starting together agree on one and nobody ever reads half of it."""
    path = token_path()
    while True:
        try:
            fd = open_private(path, os.O_RDONLY)
        except FileNotFoundError:
            _create(path)
            continue
        with os.fdopen(fd) as fh:
            return fh.read().strip()


def _create(path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            os.fchmod(fh.fileno(), FILE_MODE)
            fh.write(secrets.token_urlsafe(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another server made it first: use theirs
    finally:
        os.unlink(tmp)


def _split_host(host: str, scheme: str) -> tuple[str, int | None]:
    """`Locald.Localhost:8080` → ("locald.localhost", 8080); no port → the scheme's default."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host.partition("]")
        name, port = name + "]", rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    if not port:
        return name.rstrip("."), DEFAULT_PORTS.get(scheme)
    return name.rstrip("."), int(port) if port.isdigit() else None


def _own_origin(request) -> tuple[str, str, int | None]:
    return (request.scheme, *_split_host(request.host or "", request.scheme))


def _origin_of(value: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(value)
        netloc = parts.netloc
    except ValueError:
        return None
    return (parts.scheme, *_split_host(netloc, parts.scheme)) if parts.scheme and netloc else None


def refuse_read(request) -> str | None:
    """Why this request may not even read (None: it may)."""
    transport = request.transport
    if transport is None:
        return "the connection is gone"
    local = transport.get_extra_info("sockname")
    name, port = _split_host(request.host or "", request.scheme)
    if name not in NAMES or port != local[1]:
        return f"wrong Host {request.host!r}: open the URL `locald dashboard` prints"
    uid = uid_of_peer(transport.get_extra_info("peername"), local)
    if uid != os.geteuid():
        return f"this dashboard belongs to uid {os.geteuid()}; the connection is " + (
            f"uid {uid}'s" if uid is not None else "nobody's this machine knows")
    origin = request.headers.get("Origin")
    if origin is not None and _origin_of(origin) != _own_origin(request):
        return f"cross-origin request (Origin {origin})"
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return f"cross-site request (Sec-Fetch-Site {request.headers['Sec-Fetch-Site']})"
    return None


def refuse_write(request, expected_token: str) -> str | None:
    """Why this request may not act (None: it may). Reading rules first."""
    why = refuse_read(request)
    if why:
        return why
    if "Origin" not in request.headers:
        return "an action needs the page's Origin header"
    sent = request.headers.get(TOKEN_HEADER, "")
    if not hmac.compare_digest(sent.encode(), expected_token.encode()):
        return f"missing or wrong {TOKEN_HEADER}"
    return None
