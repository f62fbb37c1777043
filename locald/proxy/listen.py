"""Which ports the proxy listens on, bound before anything is announced.

80/443 when this user may bind them, else 8080/8443, else any free port; `LOCALD_HTTP_PORT` /
`LOCALD_HTTPS_PORT` (one port, or a list tried in order) override that. The chosen ports are sticky:
a proxy started later tries them first, so the URLs a user bookmarked stay valid. Loopback only:
127.0.0.1, and ::1 where this machine has IPv6.
"""

from __future__ import annotations

import errno
import json
import os
import socket

from ..errors import LocaldError
from ..runtime.private import write_private
from . import dirs

DEFAULTS = {"http": (80, 8080), "https": (443, 8443)}
ENV = {"http": "LOCALD_HTTP_PORT", "https": "LOCALD_HTTPS_PORT"}
STICKY_FILE = "proxy-ports.json"


def _parse(variable: str, raw: str) -> list[int]:
    try:
        ports = [int(p) for p in raw.replace(" ", "").split(",") if p]
    except ValueError:
        ports = []
    if not ports or not all(1 <= p <= 65535 for p in ports):
        raise LocaldError(f"{variable} must be a port number or a comma-separated list of them, not {raw!r}")
    return ports


def candidates(scheme: str, sticky: int | None, env=os.environ) -> tuple[list[int], bool]:
    """(ports to try in order, whether the user chose them)."""
    raw = env.get(ENV[scheme], "").strip()
    if raw:
        return _parse(ENV[scheme], raw), True
    ports = [sticky] if sticky else []
    return ports + [p for p in DEFAULTS[scheme] if p not in ports], False


def bind(port: int) -> list[socket.socket]:
    """Listening sockets on 127.0.0.1 and ::1 for `port` (0: any free one, the same on both)."""
    sockets = [_listener(socket.AF_INET, "127.0.0.1", port)]
    port = sockets[0].getsockname()[1]
    try:
        sockets.append(_listener(socket.AF_INET6, "::1", port))
    except OSError as exc:
        if exc.errno not in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):  # no IPv6 here: IPv4 alone is fine
            sockets[0].close()
            raise
    return sockets


def _listener(family: int, address: str, port: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # rebind at once after a restart
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((address, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def choose(scheme: str, sticky: int | None, avoid: frozenset[int] = frozenset()) -> list[socket.socket]:
    """Bound sockets on the first port of the candidates that this user may bind. `avoid`: ports the
    project starting the proxy needs for its own services."""
    ports, chosen_by_user = candidates(scheme, sticky)
    tried = []
    for port in ports:
        if port in avoid and not chosen_by_user:
            continue
        try:
            return bind(port)
        except OSError as exc:
            tried.append(f"{port} ({_why(port, exc)})")
    if not chosen_by_user:
        return bind(0)
    raise LocaldError(f"the proxy cannot listen for {scheme} on {', '.join(tried)}; "
                      f"set {ENV[scheme]} to a free port")


def _why(port: int, exc: OSError) -> str:
    if exc.errno == errno.EACCES:
        return "needs privileges"
    if exc.errno == errno.EADDRINUSE:
        from ..runtime.ports import describe_holder

        holder = describe_holder(port)
        return f"used by {holder}" if holder else "in use"
    return exc.strerror or str(exc)


def load_sticky() -> dict[str, int]:
    try:
        data = json.loads((dirs.state_dir() / STICKY_FILE).read_text())
        return {k: int(v) for k, v in data.items() if k in DEFAULTS}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def save_sticky(ports: dict[str, int]) -> None:
    """Remember ports locald picked itself (a port from the environment is the user's, not ours)."""
    keep = {scheme: port for scheme, port in ports.items() if not os.environ.get(ENV[scheme], "").strip()}
    if keep:
        write_private(dirs.state_dir() / STICKY_FILE, json.dumps({**load_sticky(), **keep}))
