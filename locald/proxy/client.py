"""A project's side of the proxy: one connection that holds its routes for as long as it is open.

The supervisor opens it before anything starts (so `${services.X.public_url}` knows the proxy's port),
claims its hosts once the plan is complete, reports each service's state as it changes, and answers
the proxy's questions about a service (status and last log lines, for the 503 page). When the proxy
goes away, a background thread starts a new one and registers the same routes again.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import threading
from pathlib import Path
from typing import Callable

from ..errors import LocaldError
from . import daemon
from .naming import public_url
from .routes import HostTaken, Route

OFF_VALUES = ("0", "off", "false", "no")
RETRY_SECONDS = 1.0
CLAIM_TIMEOUT = 10.0


def enabled() -> bool:
    """Named URLs are on unless LOCALD_PROXY says off."""
    return os.environ.get("LOCALD_PROXY", "").strip().lower() not in OFF_VALUES


class Registration:
    def __init__(self, project: str, root: Path, describe: Callable[[str], dict] | None = None,
                 echo: Callable[[str], None] | None = None, avoid: frozenset[int] = frozenset()):
        """`describe(service)` → {"status", "health", "log": [lines]}; `echo` reports what happens later
        (the proxy restarted); `avoid`: this project's fixed ports, which a proxy it starts must leave free."""
        self.project = project
        self.root = str(root)
        self.describe = describe
        self.echo = echo or (lambda text: None)
        self.avoid = avoid
        self.routes: list[Route] = []
        self.ports: dict[str, int] = {}
        self._sock: socket.socket | None = None
        self._reader = None
        self._write = threading.Lock()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._replies: queue.Queue = queue.Queue()

    # --- public -------------------------------------------------------------------------------------

    def open(self) -> dict[str, int]:
        """Connect, starting the proxy if none runs. The proxy's ports: {"http": n, "https": n}."""
        try:
            self._connect()
        except LocaldError:  # we may have met a proxy on its way out: the next one will answer
            self._connect()
        return self.ports

    def claim(self, routes: list[Route]) -> None:
        """Register these routes (HostTaken when another project serves one of the hosts), then keep
        them registered until close(). Called again (a stack converging to an edit), it replaces them."""
        self.routes = routes
        if self._thread is not None and self._thread.is_alive():
            self._claim_through_listener()
            return
        try:
            self._claim()
        except HostTaken:
            raise
        except LocaldError:  # the proxy went away since open(): once more, with a new one
            self._connect()
            self._claim()
        self._thread = threading.Thread(target=self._listen, daemon=True, name="proxy-registration")
        self._thread.start()

    def set_state(self, service: str, state: str) -> None:
        changed = False
        for route in self.routes:
            if route.service == service and route.state != state:
                route.state = state
                changed = True
        if changed:
            try:
                self._send({"op": "state", "service": service, "state": state})
            except OSError:
                pass  # the proxy is gone: the listener registers again, with this state

    def urls(self, scheme: str = "http") -> dict[str, str]:
        """service → its named URL."""
        return {r.service: public_url(r.host, scheme, self.ports[scheme]) for r in self.routes}

    def close(self) -> None:
        """Remove the routes (by closing the connection) and stop re-registering."""
        self._closed.set()
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    # --- the connection -----------------------------------------------------------------------------

    def _connect(self) -> None:
        if self._sock is not None:
            self._sock.close()
        sock = daemon.connect(self.avoid)
        self._sock, self._reader = sock, sock.makefile("rb")
        reply = self._ask({"op": "info"})
        self.ports = {"http": int(reply["http_port"]), "https": int(reply["https_port"])}

    def _claim_message(self) -> dict:
        return {"op": "claim", "project": self.project, "root": self.root, "routes": [r.as_dict() for r in self.routes]}

    def _claim(self) -> None:
        self._ask(self._claim_message())

    def _claim_through_listener(self) -> None:
        """A claim while the listener thread owns the connection's reading side: it hands us the reply."""
        self._send(self._claim_message())
        try:
            reply = self._replies.get(timeout=CLAIM_TIMEOUT)
        except queue.Empty:
            raise LocaldError(f"the proxy did not answer within {CLAIM_TIMEOUT:g}s") from None
        if "error" in reply:
            raise HostTaken(reply["error"])

    def _send(self, message: dict) -> None:
        data = json.dumps(message).encode() + b"\n"
        with self._write:
            self._sock.sendall(data)

    def _ask(self, message: dict) -> dict:
        """A request and its reply; only used while no listener thread reads the connection."""
        try:
            self._send(message)
            line = self._reader.readline()
        except OSError:
            line = b""
        if not line:
            raise LocaldError(f"the proxy closed the connection (log: {daemon.path(daemon.LOG)})")
        reply = json.loads(line)
        if "error" in reply:
            raise (HostTaken if message.get("op") == "claim" else LocaldError)(reply["error"])
        return reply

    def _listen(self) -> None:
        while not self._closed.is_set():
            try:
                line = self._reader.readline()
            except (OSError, ValueError):
                line = b""
            if not line:
                if self._closed.is_set() or not self._register_again():
                    return
                continue
            message = json.loads(line)
            if message.get("op") == "describe":
                self._answer(message)
            elif "op" not in message:  # the reply to a claim made while we listen
                self._replies.put(message)

    def _answer(self, message: dict) -> None:
        try:
            info = self.describe(message.get("service")) if self.describe else {}
        except Exception as exc:  # a status lookup must never break the registration
            info = {"status": f"unknown ({exc})"}
        try:
            self._send({"re": message.get("id"), **info})
        except OSError:
            pass

    def _register_again(self) -> bool:
        """The proxy went away: start another and claim the same hosts. False: give up (closed, or
        another project took a host meanwhile)."""
        old_ports = dict(self.ports)
        while not self._closed.is_set():
            try:
                self._connect()
                self._claim()
            except HostTaken as exc:
                self.echo(f"named URLs lost: {exc}")
                return False
            except (LocaldError, OSError, ValueError, KeyError):
                self._closed.wait(RETRY_SECONDS)
                continue
            if self._closed.is_set():  # close() ran meanwhile and may have missed this connection
                self._sock.close()
                return False
            moved = "" if self.ports == old_ports else f" (now on port {self.ports['http']})"
            self.echo(f"the named-URL proxy restarted; routes registered again{moved}")
            return True
        return False


def join(project, names: list[str], say: Callable[[str], None], exposed_ports=None) -> Registration | None:
    """This run's registration with the user's proxy (started when none runs), made before the plan so
    that `${services.X.public_url}` knows the proxy's port. None, with a word why when it matters, when
    named URLs are off, nothing selected can have a route, or the proxy cannot start: the stack then
    runs on its direct URLs."""
    from .naming import may_route

    if not enabled() or not may_route(project, names, exposed_ports):
        return None
    registration = Registration(project.name, project.root, echo=say, avoid=_fixed_ports(project))
    try:
        registration.open()
    except LocaldError as exc:
        say(f"named URLs are off for this run: {exc}")
        registration.close()
        return None
    return registration


def warm(project, names: list[str]) -> None:
    """Start the proxy now, without waiting, when the run will surely need it and none runs: its start
    (about 0.3 s, mostly importing aiohttp) then overlaps the supervisor's own, and `join` finds it up.
    Containers whose port only their image knows are judged later, by `join`."""
    from .naming import may_route

    if enabled() and may_route(project, names):
        try:
            if not daemon.is_running():
                daemon.spawn(_fixed_ports(project))
        except (LocaldError, OSError):
            pass  # `join` tries again and says why named URLs are off


def _fixed_ports(project) -> frozenset[int]:
    """The project's own fixed ports, which a proxy it starts must leave free."""
    return frozenset(s.port for s in project.services.values() if s.port)
