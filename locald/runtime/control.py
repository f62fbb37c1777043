"""The control channel between the CLI and a running supervisor (restart, status; later the
dashboard's actions): one JSON request line, one JSON reply line, on a Unix socket.

Who may talk: only the OS user the supervisor runs as, and `same_user` is the one place that
decides it. The kernel tells each side who holds the other end of a Unix socket (SO_PEERCRED, taken
at connect/listen time, not forgeable), so the server drops any other user's connection before
reading a byte, and the client refuses a server run by someone else. Chosen over a 0600 socket file
in the 0700 state dir because the check does not depend on file modes, umask or the file system
(some hold no sockets), has no 108-byte path limit and no socket to unlink after a crash; it also
answers per connection, which is what forwarded dashboard actions will need.

The abstract name is random (a name derived from the path could be bound first by another user) and
written to `.locald/control` (0600). It is no secret (/proc/net/unix lists it): the peer check is the
guard. After a crash the name answers nothing, which the client reports as "not running".

Bounded: one selector thread reads every connection (no thread per connection); a request is at
most MAX_REQUEST bytes and must arrive within READ_TIMEOUT; at most MAX_CONNECTIONS are open (the
longest-waiting one is dropped for a newcomer); WORKERS handlers run at a time. A client that goes
away or sends garbage costs a closed socket or an error reply, never a traceback.
"""

from __future__ import annotations

import errno
import json
import traceback
import os
import secrets
import selectors
import socket
import struct
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from ..errors import LocaldError
from .private import not_yours, write_private

ADDRESS_FILE = "control"
MAX_REQUEST = 64 * 1024
MAX_REPLY = 64 * 1024 * 1024  # a status of thousands of services, with room to spare
MAX_CONNECTIONS = 64
WORKERS = 4
READ_TIMEOUT = 10.0  # for the whole request to arrive
WRITE_TIMEOUT = 10.0  # for the reply to leave
NOT_RUNNING = "this project is not running (start it with `locald up`)"


# --- who is on the other end ---------------------------------------------------------------------

def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a connected Unix socket (kernel-verified)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


def same_user(sock: socket.socket) -> bool:
    """The one rule for who may control a supervisor: the same OS user (effective uid) as this side."""
    try:
        return peer_uid(sock) == os.geteuid()
    except OSError:
        return False


# --- client --------------------------------------------------------------------------------------

def _address(state_dir: Path) -> str:
    try:
        name = (state_dir / ADDRESS_FILE).read_text().strip()
    except FileNotFoundError:
        raise LocaldError(NOT_RUNNING) from None
    except PermissionError:
        raise not_yours(state_dir) from None
    if not name:
        raise LocaldError(NOT_RUNNING)
    return "\0" + name


def request(state_dir: Path, command: dict, timeout: float = 120.0) -> dict:
    """Send one command to the supervisor and return its reply; LocaldError (one sentence) when no
    supervisor listens, it belongs to another user, it does not answer, or it answers an error."""
    data = json.dumps(command).encode() + b"\n"
    if len(data) > MAX_REQUEST:
        raise LocaldError(f"request too large for the supervisor ({len(data)} bytes, at most {MAX_REQUEST})")
    address = _address(state_dir)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except (ConnectionRefusedError, FileNotFoundError):
            raise LocaldError(NOT_RUNNING) from None
        if not same_user(sock):
            raise LocaldError(f"the supervisor of this project runs as another user (uid {peer_uid(sock)}): "
                              "only that user can control it")
        try:
            sock.sendall(data)
            line = _read_line(sock, MAX_REPLY)
        except socket.timeout:
            raise LocaldError(f"the supervisor did not answer within {timeout:g}s") from None
        except OSError as exc:
            raise LocaldError(f"lost the connection to the supervisor ({exc.strerror or exc})") from None
    if line is None:
        raise LocaldError("the supervisor closed the connection without answering")
    try:
        reply = json.loads(line)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        raise LocaldError("the supervisor sent an unreadable answer")
    if "error" in reply:
        raise LocaldError(reply["error"])
    return reply


def _read_line(sock: socket.socket, limit: int) -> bytes | None:
    """Bytes up to the first newline; None when the peer closes first or sends more than `limit`."""
    buf = bytearray()
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        end = chunk.find(b"\n")
        if end >= 0:
            return bytes(buf + chunk[:end])
        buf += chunk
        if len(buf) > limit:
            return None


# --- server --------------------------------------------------------------------------------------

class _Pending:
    __slots__ = ("buf", "deadline")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.deadline = time.monotonic() + READ_TIMEOUT


class ControlServer:
    """Serves requests until close(); `handler(command) -> dict` may raise LocaldError."""

    def __init__(self, state_dir: Path, handler: Callable[[dict], dict]):
        self.handler = handler
        self.sock, self.address = _bind_random()
        self.sock.listen(128)
        self.sock.setblocking(False)
        self._address_file = state_dir / ADDRESS_FILE
        write_private(self._address_file, self.address[1:])
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.sock, selectors.EVENT_READ)
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._pending: OrderedDict[socket.socket, _Pending] = OrderedDict()  # oldest first
        self._busy = 0  # requests handed to the pool, not answered yet
        self._busy_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="control")
        self._closed = False
        self._thread = threading.Thread(target=self._loop, daemon=True, name="control")
        self._thread.start()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for conn in list(self._pending):
            conn.close()
        self._pending.clear()
        for s in (self.sock, self._wake_r, self._wake_w):
            s.close()
        self._selector.close()
        try:
            self._address_file.unlink()
        except OSError:
            pass

    # --- the selector loop -----------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._closed:
            wait = 1.0
            if self._pending:
                oldest = next(iter(self._pending.values()))
                wait = max(0.0, min(wait, oldest.deadline - time.monotonic()))
            for key, _ in self._selector.select(wait):
                if key.fileobj is self._wake_r:
                    return
                if key.fileobj is self.sock:
                    self._accept()
                else:
                    self._read(key.fileobj)
            self._expire()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return
            except OSError:  # out of file descriptors: make room, try again on the next turn
                if self._pending:
                    self._drop(next(iter(self._pending)))
                else:
                    time.sleep(0.05)
                return
            if not same_user(conn):
                conn.close()
                continue
            if len(self._pending) + self._busy >= MAX_CONNECTIONS:
                if not self._pending:
                    conn.close()  # every slot is answering a request: try later
                    continue
                self._drop(next(iter(self._pending)))
            conn.setblocking(False)
            self._pending[conn] = _Pending()
            self._selector.register(conn, selectors.EVENT_READ)

    def _read(self, conn: socket.socket) -> None:
        pending = self._pending.get(conn)
        if pending is None:
            return
        try:
            chunk = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client went away before finishing its request
            self._drop(conn)
            return
        pending.buf += chunk
        end = pending.buf.find(b"\n")
        if end < 0 and len(pending.buf) <= MAX_REQUEST:
            return
        self._selector.unregister(conn)
        del self._pending[conn]
        with self._busy_lock:
            self._busy += 1
        if 0 <= end <= MAX_REQUEST:
            self._pool.submit(self._answer, conn, bytes(pending.buf[:end]))
        else:
            self._pool.submit(self._reply, conn, {"error": f"request larger than {MAX_REQUEST} bytes"})

    def _expire(self) -> None:
        now = time.monotonic()
        while self._pending:
            conn, pending = next(iter(self._pending.items()))
            if pending.deadline > now:
                return
            self._drop(conn)

    def _drop(self, conn: socket.socket) -> None:
        self._selector.unregister(conn)
        del self._pending[conn]
        conn.close()

    # --- answering (pool threads) ----------------------------------------------------------------

    def _answer(self, conn: socket.socket, line: bytes) -> None:
        try:
            command = json.loads(line)
        except (ValueError, RecursionError):
            command = None
        if not isinstance(command, dict):
            self._reply(conn, {"error": "bad request: expected one JSON object on one line"})
            return
        try:
            reply = self.handler(command)
        except LocaldError as exc:
            reply = {"error": str(exc)}
        except Exception as exc:  # a bug must not kill the supervisor; its traceback goes to our log
            traceback.print_exc()
            reply = {"error": f"internal error: {exc!r}"}
        self._reply(conn, reply)

    def _reply(self, conn: socket.socket, reply: dict) -> None:
        try:
            try:
                data = json.dumps(reply).encode() + b"\n"
            except (TypeError, ValueError) as exc:
                data = json.dumps({"error": f"internal error: {exc!r}"}).encode() + b"\n"
            conn.setblocking(True)
            conn.settimeout(WRITE_TIMEOUT)
            conn.sendall(data)
        except OSError:
            pass  # the client went away: nothing to tell it
        finally:
            conn.close()
            with self._busy_lock:
                self._busy -= 1


def _bind_random() -> tuple[socket.socket, str]:
    """A listening socket on a fresh random abstract name (nobody can have taken it in advance)."""
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        address = f"\0locald-{secrets.token_hex(12)}"
        try:
            sock.bind(address)
            return sock, address
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE:
                raise LocaldError(f"cannot open the control channel: {exc.strerror or exc}") from None
