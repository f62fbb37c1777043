"""The proxy process (`python -m locald.proxy`): HTTP and HTTPS listeners on loopback, and a control
socket where running projects register their routes.

A registration is one connection: its routes exist while it is open, so a supervisor that dies (even
by SIGKILL: the kernel closes its socket) takes them along, and a proxy that dies loses them all (the
supervisors see the connection close and register again with the next proxy). Only this OS user may
register: the socket sits in a 0700 directory, and each connection's peer uid is checked (SO_PEERCRED).
With no registration left for LINGER seconds, the proxy exits.
"""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import json
import logging
import os
import signal
import socket
import struct
import sys
import time

from ..errors import LocaldError
from ..runtime.private import write_private
from . import daemon, dirs, listen
from .routes import HostTaken, Route, RouteTable

log = logging.getLogger("locald.proxy")
LINGER = float(os.environ.get("LOCALD_PROXY_LINGER", "3"))  # seconds without registrations before it exits
MAX_LINE = 1 << 20


def peer_uid(sock: socket.socket) -> int:
    pid, uid, gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return uid


class Registration:
    """One connected project (the server's side of client.Registration)."""

    def __init__(self, writer: asyncio.StreamWriter):
        self.writer = writer
        self.project = "?"
        self.root = "?"
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}

    def send(self, message: dict) -> None:
        self.writer.write(json.dumps(message).encode() + b"\n")

    async def describe(self, service: str, timeout: float) -> dict:
        """The service's status and last log lines, asked of its supervisor; {} when it does not answer."""
        ident = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        try:
            self.send({"id": ident, "op": "describe", "service": service})
            return await asyncio.wait_for(future, timeout)
        except (asyncio.TimeoutError, ConnectionError):
            return {}
        finally:
            self._waiting.pop(ident, None)

    def answered(self, message: dict) -> None:
        future = self._waiting.get(message.get("re"))
        if future and not future.done():
            future.set_result(message)


class Control:
    def __init__(self, table: RouteTable, ports: dict[str, int], stop: asyncio.Event):
        self.table = table
        self.ports = ports
        self.stop = stop
        self.connections = 0
        self._idle: asyncio.TimerHandle | None = None
        self.idle()

    def idle(self) -> None:
        if self._idle is None and self.connections == 0:
            self._idle = asyncio.get_running_loop().call_later(LINGER, self._leave)

    def _leave(self) -> None:
        log.info("no project uses the proxy any more: exiting")
        self.stop.set()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self._idle:
            self._idle.cancel()
            self._idle = None
        registration = Registration(writer)
        try:
            uid = peer_uid(writer.get_extra_info("socket"))
            if uid != os.getuid():
                log.warning("refused a connection from uid %s", uid)
                registration.send({"error": f"this proxy belongs to uid {os.getuid()}; uid {uid} may not use it"})
                return
            while line := await reader.readline():
                self.handle(registration, json.loads(line))
                await writer.drain()
        except (ConnectionError, ValueError, asyncio.LimitOverrunError) as exc:
            log.info("registration of %s ended: %r", registration.project, exc)
        finally:
            if self.table.release(registration):
                log.info("%s: routes removed", registration.project)
            self.connections -= 1
            writer.close()
            self.idle()

    def handle(self, registration: Registration, message) -> None:
        if not isinstance(message, dict):
            registration.send({"error": "a request is a JSON object"})
            return
        if "re" in message:
            registration.answered(message)
            return
        op = message.get("op")
        if op == "info":
            registration.send({"pid": os.getpid(), **{f"{k}_port": v for k, v in self.ports.items()},
                               "routes": [{**r.as_dict(), "project": o.project} for r, o in self.table.entries()]})
        elif op == "claim":
            registration.project = str(message.get("project", "?"))
            registration.root = str(message.get("root", "?"))
            try:
                self.table.claim(registration, [Route.from_dict(r) for r in message.get("routes", [])])
            except HostTaken as exc:
                registration.send({"error": str(exc)})
                return
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                registration.send({"error": f"malformed routes: {exc!r}"})
                return
            log.info("%s: %s", registration.project,
                     ", ".join(r.host for r, o in self.table.entries() if o is registration) or "no routes")
            registration.send({"ok": True})
        elif op == "state":
            self.table.set_state(registration, str(message.get("service")), str(message.get("state")))
        else:
            registration.send({"error": f"unknown request {op!r}"})


async def serve() -> int:
    from aiohttp import web

    from ..dashboard import HOST as DASHBOARD
    from ..dashboard.server import Front
    from .ca import LocalCA, ServerCertificates
    from .forward import Forwarder

    runtime = dirs.runtime_dir()
    lock = open(runtime / daemon.LOCK, "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return daemon.EXIT_BUSY
    avoid = frozenset(int(p) for p in os.environ.get(daemon.AVOID_VAR, "").split(",") if p.isdigit())
    sticky = listen.load_sticky()
    http = listen.choose("http", sticky.get("http"), avoid)
    https = listen.choose("https", sticky.get("https"), avoid | {http[0].getsockname()[1]})
    ports = {"http": http[0].getsockname()[1], "https": https[0].getsockname()[1]}
    listen.save_sticky(ports)

    stop = asyncio.Event()
    table = RouteTable()
    certificates = ServerCertificates(LocalCA.load_or_create(), dirs.private(runtime / "certs"),
                                      known=lambda host: host == DASHBOARD or table.lookup(host) is not None)
    forwarder = Forwarder(table, ports)
    await forwarder.start()
    front = Front(forwarder)  # the dashboard answers on locald.localhost, every other host is forwarded
    runner = web.ServerRunner(web.Server(front, handler_cancellation=True, access_log=None,
                                         auto_decompress=False, max_line_size=65536, max_field_size=65536),
                              handle_signals=False)
    await runner.setup()
    for sock in http:
        await web.SockSite(runner, sock).start()
    for sock in https:
        await web.SockSite(runner, sock, ssl_context=certificates.context).start()

    control = Control(table, ports, stop)
    socket_path = runtime / daemon.SOCKET
    socket_path.unlink(missing_ok=True)  # a dead proxy's: we hold the lock, nobody else serves it
    unix = await asyncio.start_unix_server(control.serve, str(socket_path), limit=MAX_LINE)
    socket_path.chmod(0o600)
    info = runtime / daemon.INFO
    write_private(info, json.dumps({"pid": os.getpid(), "http_port": ports["http"], "https_port": ports["https"],
                                    "started": time.time()}))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(signum, stop.set)
    log.info("listening on http %s, https %s (pid %s)", ports["http"], ports["https"], os.getpid())
    await stop.wait()

    unix.close()
    socket_path.unlink(missing_ok=True)
    info.unlink(missing_ok=True)
    await front.close()  # open dashboard pages are told to go: nothing holds the runner's shutdown
    await runner.cleanup()
    await forwarder.close()
    return 0


def _run(coroutine):
    """uvloop when it is installed (it serves about a third more requests per second), else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s proxy[%(process)d] %(message)s", datefmt="%Y-%m-%d %H:%M:%S")
    try:
        code = _run(serve())
    except LocaldError as exc:
        log.error("%s", exc)
        code = 1
    sys.exit(code)
