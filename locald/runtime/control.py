"""A tiny request/response channel between the CLI and a running supervisor (restart, status).

An abstract Unix socket (Linux): no file to clean up after a crash and no 108-byte path limit;
its name is derived from the project's state directory, so any terminal finds it.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from pathlib import Path
from typing import Callable

from ..errors import LocaldError


def address(state_dir: Path) -> str:
    digest = hashlib.sha1(str(state_dir.resolve()).encode()).hexdigest()[:20]
    return f"\0locald-{digest}"


def request(state_dir: Path, command: dict, timeout: float = 120.0) -> dict:
    """Send one command to the supervisor; LocaldError when none is listening."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address(state_dir))
    except (ConnectionRefusedError, FileNotFoundError):
        sock.close()
        raise LocaldError("this project is not running (start it with `locald up`)") from None
    with sock, sock.makefile("rwb") as fh:
        fh.write(json.dumps(command).encode() + b"\n")
        fh.flush()
        line = fh.readline()
    reply = json.loads(line or b"{}")
    if "error" in reply:
        raise LocaldError(reply["error"])
    return reply


class ControlServer:
    """Serves requests on a daemon thread; `handler(command) -> dict` may raise LocaldError."""

    def __init__(self, state_dir: Path, handler: Callable[[dict], dict]):
        self.handler = handler
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(address(state_dir))
        self.sock.listen(8)
        threading.Thread(target=self._serve, daemon=True, name="control").start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as fh:
            try:
                command = json.loads(fh.readline() or b"{}")
                reply = self.handler(command)
            except LocaldError as exc:
                reply = {"error": str(exc)}
            except Exception as exc:  # a bug must not kill the supervisor
                reply = {"error": f"internal error: {exc!r}"}
            try:
                fh.write(json.dumps(reply).encode() + b"\n")
                fh.flush()
            except OSError:
                pass

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
