"""`locald dashboard`: where the page is. The named-URL proxy serves it when it runs; otherwise this
command serves it itself, on 127.0.0.1, until Ctrl-C."""

from __future__ import annotations

import asyncio
import errno
import signal
import socket
from typing import Callable

from ..errors import LocaldError
from . import HOST


def proxy_url() -> str | None:
    """The dashboard's URL on the running proxy, or None when no proxy runs."""
    from ..proxy import daemon
    from ..proxy.naming import public_url

    info = daemon.info()
    return public_url(HOST, "http", int(info["http_port"])) + "/" if info.get("http_port") else None


def serve(port: int, ready: Callable[[str], None]) -> None:
    """Serve the dashboard on 127.0.0.1:`port` (0: any free port) until SIGINT/SIGTERM; `ready(url)`
    once it listens."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise LocaldError(f"port {port} is in use: choose another with --port, or 0 for any") from None
        raise LocaldError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    asyncio.run(_serve(sock, ready))


async def _serve(sock: socket.socket, ready: Callable[[str], None]) -> None:
    from aiohttp import web

    from .server import Dashboard

    dashboard = Dashboard()
    runner = web.ServerRunner(web.Server(dashboard, handler_cancellation=True, access_log=None),
                              handle_signals=False)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    ready(f"http://127.0.0.1:{sock.getsockname()[1]}/")
    try:
        await stop.wait()
    finally:
        await dashboard.close()
        await runner.cleanup()
