"""Helpers for the proxy tests: a private proxy per test (its own directories and ports, so tests never
meet the user's real proxy), real backend processes, and requests that name their host."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from stack import wait_until

BACKEND = Path(__file__).with_name("proxy_backend.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ProxyEnv:
    """XDG directories and ports of a private proxy, set in os.environ (the CLI and proxy inherit them)."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch):
        self.root = root
        self.http_port, self.https_port = free_port(), free_port()
        for var, sub in (("XDG_RUNTIME_DIR", "run"), ("XDG_STATE_HOME", "state"), ("XDG_CONFIG_HOME", "config")):
            monkeypatch.setenv(var, str(root / sub))
        monkeypatch.setenv("LOCALD_HTTP_PORT", str(self.http_port))
        monkeypatch.setenv("LOCALD_HTTPS_PORT", str(self.https_port))
        monkeypatch.setenv("LOCALD_PROXY_LINGER", "1")
        monkeypatch.delenv("LOCALD_PROXY", raising=False)

    @property
    def runtime(self) -> Path:
        return self.root / "run" / "locald"

    @property
    def ca(self) -> Path:
        return self.root / "config" / "locald" / "ca" / "ca.pem"

    def info(self) -> dict:
        try:
            return json.loads((self.runtime / "proxy.json").read_text())
        except (OSError, ValueError):
            return {}

    def pid(self) -> int | None:
        pid = self.info().get("pid")
        return pid if pid and alive(pid) else None

    def log(self) -> str:
        try:
            return (self.runtime / "proxy.log").read_text()
        except OSError:
            return ""

    def stop(self) -> None:
        pid = self.pid()
        if pid:
            os.kill(pid, signal.SIGTERM)
            wait_until(lambda: not alive(pid), 10, what="the proxy to stop")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def proxy_env(monkeypatch):
    # A short path: the control socket's path must fit in 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="lpx"))
    env = ProxyEnv(root, monkeypatch)
    yield env
    env.stop()
    subprocess.run(["rm", "-rf", str(root)])


class Backend:
    def __init__(self, name: str = "backend", port: int | None = None):
        self.name = name
        self.port = port or free_port()
        self.proc = subprocess.Popen([sys.executable, str(BACKEND), str(self.port), name], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        assert "listening" in line, line

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def backends():
    made: list[Backend] = []

    def make(name: str = "backend", port: int | None = None) -> Backend:
        made.append(Backend(name, port))
        return made[-1]

    yield make
    for b in made:
        b.stop()


def request(port: int, host: str, path: str = "/echo", method: str = "GET", body=None, headers=None,
            timeout: float = 30) -> tuple[int, dict, bytes]:
    """One request to 127.0.0.1:`port` with `Host: host` (glibc here does not resolve *.localhost)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def echo(port: int, host: str, **kw) -> dict:
    status, _, body = request(port, host, **kw)
    assert status == 200, body[:500]
    return json.loads(body)
