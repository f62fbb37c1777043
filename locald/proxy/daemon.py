"""Find the user's proxy, or start it. Everything lives in the private runtime directory:

    proxy.sock   the control socket (registrations)      proxy.lock   held by the running proxy (flock)
    proxy.json   its pid and ports, while it runs        proxy.log    what it printed

The flock, not a pid file, says whether one runs: the kernel drops it when the proxy dies, even by
SIGKILL. Two `locald up` starting it at once start two; the second finds the lock taken and leaves.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..errors import LocaldError
from ..runtime.cleanup import MARKER, PROCESS_MARKER, SUPERVISOR_MARKER
from ..runtime.private import open_append
from . import dirs

SOCKET, LOCK, INFO, LOG = "proxy.sock", "proxy.lock", "proxy.json", "proxy.log"
START_TIMEOUT = 20.0
LOG_LIMIT = 1 << 20
# A project's processes (and its supervisor's children) carry these markers; `locald down` of that
# project kills whatever has them. The proxy serves every project: it must carry none.
_MARKERS = (MARKER, SUPERVISOR_MARKER, PROCESS_MARKER)
AVOID_VAR = "LOCALD_PROXY_AVOID"  # ports the project starting the proxy needs for itself
EXIT_BUSY = 3  # the proxy's exit status when another one holds the lock


def path(name: str) -> Path:
    return dirs.runtime_dir() / name


def is_running() -> bool:
    try:
        with open(path(LOCK), "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fh, fcntl.LOCK_UN)
            return False
    except BlockingIOError:
        return True


def info() -> dict:
    """The running proxy's {"pid", "http_port", "https_port"}, or {} when none runs."""
    if not is_running():
        return {}
    try:
        return json.loads(path(INFO).read_text())
    except (OSError, ValueError):
        return {}


def try_connect() -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path(SOCKET)))
        return sock
    except OSError:
        sock.close()
        return None


def connect(avoid: frozenset[int] = frozenset(), timeout: float = START_TIMEOUT) -> socket.socket:
    """A connection to the running proxy; starts one first when none answers."""
    sock = try_connect()
    if sock:
        return sock
    proc = spawn(avoid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock = try_connect()
        if sock:
            return sock
        if proc.poll() is not None and not is_running():
            if proc.returncode != EXIT_BUSY:
                raise LocaldError(f"the proxy did not start: {log_tail(1)} (log: {path(LOG)})")
            proc = spawn(avoid)  # it lost the race to a proxy that was just leaving: try again
        time.sleep(0.02)
    raise LocaldError(f"the proxy for named URLs did not answer within {timeout:g}s (log: {path(LOG)})")


def spawn(avoid: frozenset[int] = frozenset()) -> subprocess.Popen:
    """Start `python -m locald.proxy` in its own session, so no terminal's Ctrl-C reaches it."""
    env = {k: v for k, v in os.environ.items() if k not in _MARKERS}
    if avoid:
        env[AVOID_VAR] = ",".join(str(p) for p in sorted(avoid))
    log_path = path(LOG)
    if log_path.exists() and log_path.stat().st_size > LOG_LIMIT:
        log_path.replace(log_path.with_suffix(".log.1"))
    with open_append(log_path) as log:
        proc = subprocess.Popen([sys.executable, "-m", "locald.proxy"], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=log, start_new_session=True, cwd=dirs.runtime_dir(), env=env)
    threading.Thread(target=proc.wait, daemon=True, name="proxy-reaper").start()  # no zombie if it exits first
    return proc


def log_tail(lines: int = 3) -> str:
    """The proxy's last words, without the log's time and pid prefix."""
    try:
        tail = path(LOG).read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "(no log)"
    return "\n  ".join(line.split("] ", 1)[-1] for line in tail)


def request(message: dict, timeout: float = 5.0) -> dict | None:
    """One request to a running proxy (never starts one); None when none runs."""
    sock = try_connect()
    if sock is None:
        return None
    with sock, sock.makefile("rwb") as fh:
        sock.settimeout(timeout)
        fh.write(json.dumps(message).encode() + b"\n")
        fh.flush()
        line = fh.readline()
    return json.loads(line) if line else None
