"""Who holds a TCP port: for "port 5432 is already in use by postgres (pid 812)" messages."""

from __future__ import annotations

import errno
import os

from ..errors import LocaldError
from ..plan import bind_error


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                next(fh)
                for line in fh:
                    parts = line.split()
                    local, state, inode = parts[1], parts[3], parts[9]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                        inodes.add(inode)
        except (OSError, StopIteration, IndexError, ValueError):
            continue
    return inodes


def _pid_with_socket(inodes: set[str]) -> int | None:
    targets = {f"socket:[{i}]" for i in inodes}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            for fd in os.scandir(f"/proc/{entry.name}/fd"):
                if os.readlink(fd.path) in targets:
                    return int(entry.name)
        except OSError:
            continue
    return None


def _container_publishing(port: int) -> str | None:
    from .containers import engine

    try:
        out = engine.run(["ps", "--filter", f"publish={port}", "--format", "{{.Names}}"], timeout=5).stdout.strip()
    except (OSError, LocaldError):  # no docker CLI, or the engine does not answer: nobody to name
        return None
    return out.splitlines()[0] if out else None


def describe_holder(port: int) -> str | None:
    """'container web-1', 'python3 (pid 4242)', or None when it cannot be found."""
    inodes = _listening_inodes(port)
    pid = _pid_with_socket(inodes) if inodes else None
    if pid is None:
        container = _container_publishing(port)
        return f"container {container}" if container else None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        cmd = "?"
    if os.path.basename(cmd.split(" ")[0]) == "docker-proxy":
        container = _container_publishing(port)
        if container:
            return f"container {container}"
    return f"{cmd[:80]} (pid {pid})"


def busy_port_problem(service) -> str | None:
    """Why the service's fixed `port` cannot be used, in one sentence; None when it is free (or it
    has no fixed port)."""
    if service.port is None:
        return None
    error = bind_error(service.port)
    if error is None:
        return None
    if error.errno == errno.EACCES:
        if service.is_container:
            return None  # the engine publishes it, with its own privileges
        return (f"port {service.port} of service '{service.name}' needs privileges to listen on (ports below 1024 "
                "are reserved for root on this system): choose a port of 1024 or more, or remove `port` "
                "to let locald pick one")
    holder = describe_holder(service.port)
    return (f"port {service.port} of service '{service.name}' is already in use" + (f" by {holder}" if holder else "")
            + ". Stop it, or change `port` in locald.toml (remove it to let locald pick one).")
