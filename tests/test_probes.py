"""Readiness probes against real sockets, a real HTTP server and real commands."""

from __future__ import annotations

import http.server
import socket
import sys
import threading
import time

import pytest

from locald.config.model import build_service
from locald.errors import LocaldError
from locald.plan import free_port
from locald.runtime.processes.probes import CommandProbe, HttpProbe, TcpProbe, make_probe


@pytest.fixture
def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture(scope="module")
def web():
    """An HTTP server answering /ok 200, /moved 302, /broken 500."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            code = {"/ok": 200, "/moved": 302}.get(self.path, 500)
            self.send_response(code)
            if code == 302:
                self.send_header("Location", "/nowhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_tcp(listener):
    assert TcpProbe(listener)()
    closed = free_port()
    probe = TcpProbe(closed, timeout=1)
    assert not probe()
    assert "refused" in probe.last_error.lower()
    assert probe.describe() == f"accept TCP connections on port {closed}"


def test_http(web, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # a probe must never go through a proxy
    assert HttpProbe(web, "/ok")()
    assert HttpProbe(web, "moved")()  # 3xx counts, and is not followed
    broken = HttpProbe(web, "/broken")
    assert not broken()
    assert broken.last_error == "HTTP 500"
    down = HttpProbe(free_port(), "/ok", timeout=1)
    assert not down()
    assert down.describe().startswith("answer HTTP 2xx/3xx at http://localhost:")


def test_http_does_not_hang_on_a_silent_server(listener):
    start = time.monotonic()
    probe = HttpProbe(listener, timeout=0.3)  # accepts, never answers
    assert not probe()
    assert time.monotonic() - start < 2


def test_command_uses_env_and_cwd(tmp_path):
    (tmp_path / "ready").write_text("")
    env = {"PATH": "/usr/bin:/bin", "WANTED": "yes"}
    assert CommandProbe('test "$WANTED" = yes && test -f ready', env, tmp_path)()
    assert CommandProbe(("test", "-f", "ready"), env, tmp_path)()
    failing = CommandProbe("echo not yet; exit 3", env, tmp_path)
    assert not failing()
    assert failing.last_error == "exit code 3: not yet"
    missing = CommandProbe(("no-such-command-here",), env, tmp_path)
    assert not missing()


def test_command_timeout_kills_it(tmp_path):
    marker = tmp_path / "survived"
    probe = CommandProbe(f"sleep 5; touch {marker}", {"PATH": "/usr/bin:/bin"}, tmp_path, timeout=0.3)
    start = time.monotonic()
    assert not probe()
    assert time.monotonic() - start < 2
    assert "timed out" in probe.last_error
    time.sleep(0.2)
    assert not marker.exists()


def test_make_probe_defaults(tmp_path):
    web = build_service("web", {"command": "serve"})
    assert isinstance(make_probe(web, 5000, {}, tmp_path), TcpProbe)  # exec: a port to accept on
    site = build_service("docs", {"type": "site"})
    assert isinstance(make_probe(site, 5001, {}, tmp_path), TcpProbe)
    worker = build_service("w", {"type": "worker", "command": "work"})
    assert make_probe(worker, None, {}, tmp_path) is None  # ready = started


def test_make_probe_configured(tmp_path):
    http_check = build_service("web", {"command": "x", "health_check": {"type": "http", "path": "/healthz"}})
    probe = make_probe(http_check, 5000, {}, tmp_path)
    assert isinstance(probe, HttpProbe) and probe.port == 5000 and probe.path == "/healthz"
    other_port = build_service("web", {"command": "x", "health_check": {"type": "tcp", "port": 9090}})
    assert make_probe(other_port, 5000, {}, tmp_path).port == 9090
    command = build_service("w", {"type": "worker", "command": "x", "health_check": "test -f ready"})
    probe = make_probe(command, None, {"A": "1"}, tmp_path)
    assert isinstance(probe, CommandProbe) and probe.env == {"A": "1"} and probe.cwd == tmp_path
    no_port = build_service("w", {"type": "worker", "command": "x", "health_check": {"type": "http"}})
    with pytest.raises(LocaldError, match="needs a port"):
        make_probe(no_port, None, {}, tmp_path)


def test_command_probe_with_python(tmp_path):
    probe = CommandProbe((sys.executable, "-c", "import os, sys; sys.exit(os.environ['X'] != '1')"),
                         {"X": "1"}, tmp_path)
    assert probe()
