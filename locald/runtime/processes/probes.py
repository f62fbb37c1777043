"""Readiness probes for host processes. A probe is a callable returning True when the service is ready;
it also says what it checks (`describe`) and why it last failed (`last_error`), for error messages.

The default, when no health_check is configured: services that serve a port (`exec`, `site`) are ready
once the port accepts TCP connections; workers have no probe (ready = started). For host processes a
TCP accept is real evidence (unlike a container's published port, where docker-proxy accepts early).
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
from typing import Mapping

from ...errors import LocaldError

HOST = "localhost"  # resolves to ::1 and 127.0.0.1: a server bound to either family is found
PORT_KINDS = ("exec", "site")
STARTING_INTERVAL = 0.25  # while a service is starting, probes are at most this far apart


class Probe:
    timeout: float = 5.0

    def __init__(self) -> None:
        self.last_error = ""

    def __call__(self) -> bool:
        try:
            ok, self.last_error = self.check()
        except OSError as exc:
            ok, self.last_error = False, exc.strerror or str(exc)
        return ok

    def check(self) -> tuple[bool, str]:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class TcpProbe(Probe):
    def __init__(self, port: int, timeout: float = 5.0):
        super().__init__()
        self.port, self.timeout = port, timeout

    def check(self) -> tuple[bool, str]:
        with socket.create_connection((HOST, self.port), timeout=self.timeout):
            return True, ""

    def describe(self) -> str:
        return f"accept TCP connections on port {self.port}"


class HttpProbe(Probe):
    def __init__(self, port: int, path: str = "/", timeout: float = 5.0):
        super().__init__()
        self.port, self.path, self.timeout = port, path if path.startswith("/") else "/" + path, timeout

    def check(self) -> tuple[bool, str]:
        # http.client, not urllib: no proxy from the environment, no redirect following.
        conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        try:
            conn.request("GET", self.path, headers={"User-Agent": "locald-probe"})
            status = conn.getresponse().status
        except (http.client.HTTPException, OSError) as exc:
            return False, str(exc) or type(exc).__name__
        finally:
            conn.close()
        return 200 <= status < 400, f"HTTP {status}"

    def describe(self) -> str:
        return f"answer HTTP 2xx/3xx at http://{HOST}:{self.port}{self.path}"


class CommandProbe(Probe):
    def __init__(self, command: str | tuple[str, ...], env: Mapping[str, str], cwd: str | os.PathLike | None,
                 timeout: float = 5.0):
        super().__init__()
        self.command, self.env, self.cwd, self.timeout = command, dict(env), cwd, timeout

    def check(self) -> tuple[bool, str]:
        shell = isinstance(self.command, str)
        proc = subprocess.Popen(self.command if shell else list(self.command), shell=shell, env=self.env,
                                cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.communicate()
            return False, f"timed out after {self.timeout:g}s"
        finally:
            if proc.poll() is None:  # interrupted: never leave the probe running
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        text = out.decode("utf-8", "replace").strip().splitlines()
        tail = f": {text[-1][:200]}" if text else ""
        return proc.returncode == 0, f"exit code {proc.returncode}{tail}"

    def describe(self) -> str:
        shown = self.command if isinstance(self.command, str) else " ".join(self.command)
        return f"pass its health check `{shown}`"


def make_probe(service, port: int | None, env: Mapping[str, str], cwd) -> Probe | None:
    """The readiness probe of a host-process service, or None when "started" is all there is to wait for.
    `port` is the service's host port from the plan; `env`/`cwd` are the service's (for command probes)."""
    check = service.health_check
    if check is None:
        if service.kind in PORT_KINDS and port is not None:
            return TcpProbe(port, timeout=1.0)
        return None
    if check.type == "command":
        if not check.command:
            raise LocaldError(f"service {service.name}: its command health check has no command")
        return CommandProbe(check.command, env, cwd, check.timeout)
    probe_port = check.port or port
    if probe_port is None:
        raise LocaldError(f"service {service.name}: a {check.type} health check needs a port; "
                          f"set `health_check.port` (a {service.kind} has no port of its own)")
    if check.type == "http":
        return HttpProbe(probe_port, check.path, check.timeout)
    return TcpProbe(probe_port, check.timeout)
