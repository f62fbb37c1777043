"""The named-URL proxy on its own: a real proxy process, real backends, real sockets.

Each test gets a private proxy (its own XDG directories and free ports); registrations come from the
real client API, as a supervisor makes them."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from locald.proxy.client import Registration
from locald.proxy.routes import HostTaken, Route
from proxy_helpers import alive, backends, echo, free_port, proxy_env, request  # noqa: F401  (fixtures)
from stack import wait_until


def register(project: str, routes: list[Route], describe=None, root: str = "/src") -> Registration:
    reg = Registration(project, Path(root) / project, describe=describe)
    reg.open()
    reg.claim(routes)
    return reg


def ready(host: str, service: str, port: int) -> Route:
    return Route(host=host, service=service, port=port, state="ready")


def test_two_projects_by_host_with_forwarded_headers(proxy_env, backends):
    shop, api, blog = backends("shop-web"), backends("shop-api"), backends("blog-web")
    a = register("shop", [ready("shop.localhost", "web", shop.port), ready("api.shop.localhost", "api", api.port)])
    b = register("blog", [ready("blog.localhost", "web", blog.port)])
    port = proxy_env.http_port
    try:
        assert echo(port, "shop.localhost")["name"] == "shop-web"
        assert echo(port, "api.shop.localhost")["name"] == "shop-api"
        seen = echo(port, f"blog.localhost:{port}", headers={"X-Forwarded-For": "6.6.6.6"})
        assert seen["name"] == "blog-web"
        assert seen["headers"]["Host"] == f"blog.localhost:{port}"  # passed through as the browser sent it
        assert seen["headers"]["X-Forwarded-For"] == "127.0.0.1"  # what a client claims is not trusted
        assert seen["headers"]["X-Forwarded-Proto"] == "http"
        assert seen["headers"]["X-Forwarded-Host"] == f"blog.localhost:{port}"
        # curl resolves *.localhost itself, as browsers do
        out = subprocess.run(["curl", "-sS", f"http://api.shop.localhost:{port}/echo"], capture_output=True,
                             text=True, check=True).stdout
        assert json.loads(out)["name"] == "shop-api"
        _, get_headers, get_body = request(port, "shop.localhost", "/cookies")
        status, head_headers, head_body = request(port, "shop.localhost", "/cookies", method="HEAD")
        assert (status, head_body) == (200, b"") and head_headers["Content-Length"] == str(len(get_body))
        status, _, body = request(port, "nope.localhost")
        assert status == 404
        page = body.decode()
        for host in ("shop.localhost", "api.shop.localhost", "blog.localhost"):
            assert f"http://{host}:{port}/" in page
    finally:
        a.close()
        b.close()


def test_a_host_belongs_to_one_project(proxy_env, backends):
    web = backends()
    first = register("shop", [ready("shop.localhost", "web", web.port)], root="/home/ann")
    try:
        with pytest.raises(HostTaken) as err:
            register("shop", [ready("shop.localhost", "web", web.port)], root="/home/ann/other-checkout")
        assert "shop.localhost is already served by project 'shop' (/home/ann/shop)" in str(err.value)
        assert "domain" in str(err.value)
        assert echo(proxy_env.http_port, "shop.localhost")["name"] == "backend"  # the first keeps it
    finally:
        first.close()


def test_the_dashboards_host_is_nobodys_route(proxy_env, backends):
    web = backends()
    with pytest.raises(HostTaken, match="locald.localhost is where locald's dashboard answers"):
        register("locald", [ready("locald.localhost", "web", web.port)])


def test_keep_alive_on_both_sides(proxy_env, backends):
    import http.client

    web = backends()
    reg = register("shop", [ready("shop.localhost", "web", web.port)])
    try:
        conn = http.client.HTTPConnection("127.0.0.1", proxy_env.http_port, timeout=10)
        peers, sockets = [], []
        for _ in range(3):
            conn.request("GET", "/echo", headers={"Host": "shop.localhost"})
            resp = conn.getresponse()
            assert not resp.will_close
            peers.append(json.loads(resp.read())["peer_port"])
            sockets.append(conn.sock)
        conn.close()
        assert sockets[0] is sockets[1] is sockets[2]  # the client's connection was kept
        assert len(set(peers)) == 1  # and the proxy reused its pooled connection to the service
    finally:
        reg.close()


def test_server_sent_events_are_not_held_back(proxy_env, backends, tmp_path):
    import http.client

    web = backends()
    reg = register("shop", [ready("shop.localhost", "web", web.port)])
    go = tmp_path / "go"
    try:
        conn = http.client.HTTPConnection("127.0.0.1", proxy_env.http_port, timeout=20)
        conn.request("GET", f"/sse?go={go}", headers={"Host": "shop.localhost"})
        resp = conn.getresponse()
        assert resp.getheader("Content-Type") == "text/event-stream"
        # The service sends "second" only after we have read "first": a buffering proxy deadlocks here.
        assert resp.readline() == b"data: first\n"
        go.touch()
        assert resp.read().endswith(b"data: second\n\n")
        conn.close()
    finally:
        reg.close()


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_100_megabytes_each_way_are_streamed(proxy_env, backends, tmp_path):
    web = backends()
    reg = register("shop", [ready("shop.localhost", "web", web.port)])
    size = 100 * 1024 * 1024
    big = tmp_path / "big"
    with open(big, "wb") as fh:
        block = os.urandom(1 << 20)
        for _ in range(100):
            fh.write(block)
    want = hashlib.sha256(big.read_bytes()).hexdigest()
    port = proxy_env.http_port
    try:
        before = _peak_rss_kb(proxy_env.pid())
        out = subprocess.run(["curl", "-sS", "--data-binary", f"@{big}", "-H", "Content-Type: application/x-blob",
                              f"http://shop.localhost:{port}/echo"], capture_output=True, text=True, check=True).stdout
        seen = json.loads(out)
        assert (seen["size"], seen["sha256"]) == (size, want)
        assert seen["headers"]["Content-Length"] == str(size)
        down = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download} %{http_code}",
                               f"http://shop.localhost:{port}/bytes?n={size}"], capture_output=True, text=True,
                              check=True).stdout
        assert down == f"{size} 200"
        grew_mb = (_peak_rss_kb(proxy_env.pid()) - before) / 1024
        assert grew_mb < 40, f"the proxy's peak memory grew by {grew_mb:.0f} MB: it held a body"
    finally:
        reg.close()


def test_websocket_both_ways(proxy_env, backends):
    from aiohttp import ClientSession, WSMsgType

    web = backends("ws-backend")
    reg = register("shop", [ready("chat.shop.localhost", "chat", web.port)])

    async def talk() -> list:
        got = []
        async with ClientSession() as session:
            async with session.ws_connect(f"http://127.0.0.1:{proxy_env.http_port}/ws", protocols=["chat"],
                                          headers={"Host": "chat.shop.localhost"}) as ws:
                got.append(ws.protocol)
                got.append((await ws.receive()).data)  # the service speaks first
                await ws.send_str("ping text")
                got.append((await ws.receive()).data)
                await ws.send_bytes(b"\x00\x01binary")
                got.append((await ws.receive()).data)
                await ws.send_str("close 4001")
                msg = await ws.receive()
                got.append((msg.type, ws.close_code))
        return got

    try:
        got = asyncio.run(asyncio.wait_for(talk(), 20))
        assert got == ["chat", "hello from ws-backend", "ping text", b"\x00\x01binary", (WSMsgType.CLOSE, 4001)]
    finally:
        reg.close()


def test_a_long_poll_is_not_cut(proxy_env, backends):
    web = backends()
    reg = register("shop", [ready("shop.localhost", "web", web.port)])
    try:
        status, _, body = request(proxy_env.http_port, "shop.localhost", "/wait?s=4", timeout=60)
        assert (status, body) == (200, b"waited\n")
        from locald.proxy.forward import CONNECT_TIMEOUT  # only connecting has a limit, never reading
        from aiohttp import ClientTimeout

        assert CONNECT_TIMEOUT > 0 and ClientTimeout(total=None, sock_read=None).total is None
    finally:
        reg.close()


def test_set_cookie_headers_pass_and_are_not_kept(proxy_env, backends):
    web = backends()
    reg = register("shop", [ready("shop.localhost", "web", web.port)])
    port = proxy_env.http_port
    try:
        out = subprocess.run(["curl", "-sS", "-i", f"http://shop.localhost:{port}/cookies"], capture_output=True,
                             text=True, check=True).stdout
        assert "Set-Cookie: a=1; Path=/" in out and "Set-Cookie: b=2; Path=/" in out
        # the proxy's one client serves everyone: a cookie it saw must never go to the next browser
        assert "Cookie" not in echo(port, "shop.localhost")["headers"]
    finally:
        reg.close()


def test_a_body_cut_short_reaches_the_client_cut_short(proxy_env, backends):
    web = backends()
    reg = register("shop", [ready("shop.localhost", "web", web.port)])
    try:
        out = subprocess.run(["curl", "-sS", f"http://shop.localhost:{proxy_env.http_port}/broken"],
                             capture_output=True, text=True)
        assert out.stdout.startswith("the beginning of a body")
        assert out.returncode == 18, out  # "transfer closed": never a short body that looks whole
        assert echo(proxy_env.http_port, "shop.localhost")["name"] == "backend"  # and the proxy carries on
    finally:
        reg.close()


async def _hammer_then_hang_up(port: int, host: str, connections: int, seconds: float) -> int:
    """Like wrk: keep-alive connections asking as fast as they can, all closed when time is up, with
    requests still on their way. Returns how many answers came back."""
    answers = 0
    request = f"GET /echo HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()

    async def one(deadline: float) -> None:
        nonlocal answers
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                writer.write(request)
                if asyncio.get_running_loop().time() > deadline:
                    return  # hang up with this request unanswered
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                answers += 1
        finally:
            writer.close()

    deadline = asyncio.get_running_loop().time() + seconds
    await asyncio.gather(*(one(deadline) for _ in range(connections)))
    return answers


def test_clients_that_leave_early_are_no_error(proxy_env, backends):
    web = backends()
    reg = register("shop", [ready("shop.localhost", "web", web.port)])
    try:
        for _ in range(6):  # the race (a hang-up just as the answer comes) needs many tries to show
            assert asyncio.run(_hammer_then_hang_up(proxy_env.http_port, "shop.localhost", 200, 0.5)) > 0
        time.sleep(0.5)
        assert echo(proxy_env.http_port, "shop.localhost")["name"] == "backend"
        assert "Error handling request" not in proxy_env.log()
    finally:
        reg.close()


def test_503_page_while_a_service_is_not_answering(proxy_env, backends):
    port_free = free_port()
    lines = ["compiling…", "<script>alert(1)</script>"]
    reg = register("shop", [Route("shop.localhost", "web", port_free, state="waiting"),
                            Route("api.shop.localhost", "api", port_free, state="started")],
                   describe=lambda s: {"status": "starting" if s == "web" else "restarting", "log": lines})
    try:
        status, headers, body = request(proxy_env.http_port, "shop.localhost")
        page = body.decode()
        assert status == 503
        assert headers["Retry-After"] == "2" and 'http-equiv="refresh"' in page
        assert "<code>web</code> of shop is starting" in page
        assert "compiling…" in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        # started but nothing listens (a crash between two status updates): the proxy asks, and says so
        status, _, body = request(proxy_env.http_port, "api.shop.localhost")
        assert status == 503 and "is restarting" in body.decode()
        assert f"nothing answers on port {port_free}" in body.decode()
        # once it listens and is ready, the same host answers
        web = backends("late", port=port_free)
        reg.set_state("web", "ready")
        assert echo(proxy_env.http_port, "shop.localhost")["name"] == "late"
        web.stop()
    finally:
        reg.close()


REGISTRAR = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from locald.proxy.client import Registration
    from locald.proxy.routes import Route
    reg = Registration("doomed", Path("/src/doomed"))
    reg.open()
    reg.claim([Route("doomed.localhost", "web", int(sys.argv[1]), state="ready")])
    print("registered", flush=True)
    time.sleep(600)
""")


def test_routes_die_with_the_registering_process(proxy_env, backends):
    web = backends()
    proc = subprocess.Popen([sys.executable, "-c", REGISTRAR, str(web.port)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "registered\n"
        assert echo(proxy_env.http_port, "doomed.localhost")["name"] == "backend"
        proc.send_signal(signal.SIGKILL)  # no goodbye: the kernel closes its connection
        proc.wait()
        wait_until(lambda: request(proxy_env.http_port, "doomed.localhost")[0] == 404, 10,
                   what="the dead registration's route to go")
        assert web.proc.poll() is None  # the service itself still runs: only the route is gone
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_proxy_is_replaced_and_routes_come_back(proxy_env, backends):
    web = backends()
    said = []
    reg = Registration("shop", Path("/src/shop"), echo=said.append)
    reg.open()
    reg.claim([ready("shop.localhost", "web", web.port)])
    try:
        first = proxy_env.pid()
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: proxy_env.pid() not in (None, first), 30, what="a new proxy")
        wait_until(lambda: request(proxy_env.http_port, "shop.localhost")[0] == 200, 30,
                   what="the route registered again")
        assert said == ["the named-URL proxy restarted; routes registered again"]
    finally:
        reg.close()


def test_the_proxy_leaves_when_no_project_uses_it(proxy_env, backends):
    web = backends()
    a = register("shop", [ready("shop.localhost", "web", web.port)])
    b = register("blog", [ready("blog.localhost", "web", web.port)])
    pid = proxy_env.pid()
    a.close()
    time.sleep(2)  # longer than the linger: one project still uses it
    assert alive(pid)
    assert request(proxy_env.http_port, "shop.localhost")[0] == 404
    assert request(proxy_env.http_port, "blog.localhost")[0] == 200
    b.close()
    wait_until(lambda: not alive(pid), 15, what="the proxy to exit")
    assert not (proxy_env.runtime / "proxy.json").exists()
    assert not (proxy_env.runtime / "proxy.sock").exists()


def test_a_taken_port_falls_back_to_the_next(proxy_env, monkeypatch, backends):
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    taken = held.getsockname()[1]
    monkeypatch.setenv("LOCALD_HTTP_PORT", f"{taken},{proxy_env.http_port}")
    web = backends()
    try:
        reg = register("shop", [ready("shop.localhost", "web", web.port)])
        assert reg.ports["http"] == proxy_env.http_port
        assert reg.urls() == {"web": f"http://shop.localhost:{proxy_env.http_port}"}
        assert echo(proxy_env.http_port, "shop.localhost")["name"] == "backend"
        reg.close()
    finally:
        held.close()


def test_the_port_it_picked_is_sticky(proxy_env, monkeypatch, backends):
    """Without LOCALD_HTTP_PORT, a new proxy tries the port the last one used before 80 and 8080."""
    sticky_http, sticky_https = free_port(), free_port()
    state = proxy_env.root / "state" / "locald"
    state.mkdir(parents=True)
    (state / "proxy-ports.json").write_text(json.dumps({"http": sticky_http, "https": sticky_https}))
    monkeypatch.delenv("LOCALD_HTTP_PORT")
    monkeypatch.delenv("LOCALD_HTTPS_PORT")
    reg = register("shop", [])
    try:
        assert reg.ports == {"http": sticky_http, "https": sticky_https}
    finally:
        reg.close()


def test_https_with_the_local_ca(proxy_env, backends):
    web = backends()
    reg = register("shop", [ready("shop.localhost", "web", web.port), ready("api.shop.localhost", "api", web.port)])
    port = proxy_env.https_port
    try:
        for host in ("shop.localhost", "api.shop.localhost"):
            out = subprocess.run(["curl", "-sS", "--cacert", str(proxy_env.ca), f"https://{host}:{port}/echo"],
                                 capture_output=True, text=True)
            assert out.returncode == 0, out.stderr
            seen = json.loads(out.stdout)
            assert seen["headers"]["X-Forwarded-Proto"] == "https"
            assert seen["headers"]["Host"] == f"{host}:{port}"
        # without the CA, curl refuses: the certificate really comes from our CA
        out = subprocess.run(["curl", "-sS", f"https://shop.localhost:{port}/echo"], capture_output=True, text=True)
        assert out.returncode == 60
        # a host nobody serves gets no certificate of its own
        out = subprocess.run(["curl", "-sS", "--cacert", str(proxy_env.ca), "--resolve", f"evil.test:{port}:127.0.0.1",
                              f"https://evil.test:{port}/"], capture_output=True, text=True)
        assert out.returncode == 60 and "evil.test" in out.stderr
        ca_dir = proxy_env.ca.parent
        assert (ca_dir / "ca-key.pem").stat().st_mode & 0o777 == 0o600
        assert ca_dir.stat().st_mode & 0o777 == 0o700
        assert proxy_env.runtime.stat().st_mode & 0o777 == 0o700
    finally:
        reg.close()


OTHER_USER = "locald-test-other"


def _other_user() -> tuple[int, int]:
    import pwd

    try:
        entry = pwd.getpwnam(OTHER_USER)
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", OTHER_USER], check=True,
                       capture_output=True)
        entry = pwd.getpwnam(OTHER_USER)
    return entry.pw_uid, entry.pw_gid


def _as_other_user(uid: int, gid: int, socket_path: Path, message: dict) -> str:
    """Connect and send `message` from a child that dropped to another OS user (it cannot exec our
    Python, so it forks and keeps using the interpreter it has). What happened, as text."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no pytest, no exceptions escaping
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(5)
            sock.connect(str(socket_path))
            try:
                sock.sendall(json.dumps(message).encode() + b"\n")
            except BrokenPipeError:
                pass  # the proxy may have refused and closed already: its answer is still there to read
            result = "reply " + sock.recv(4096).decode()
        except OSError as exc:
            result = f"oserror {exc.errno}"
        os.write(write_end, result.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as fh:
        result = fh.read().decode()
    os.waitpid(pid, 0)
    return result


def test_only_this_os_user_may_register(proxy_env, backends):
    import errno

    uid, gid = _other_user()
    web = backends()
    reg = register("shop", [ready("shop.localhost", "web", web.port)])
    socket_path = proxy_env.runtime / "proxy.sock"
    claim = {"op": "claim", "project": "evil", "root": "/tmp",
             "routes": [{"host": "evil.localhost", "service": "web", "port": web.port, "state": "ready"}]}
    try:
        # the socket sits in a 0700 directory: another user cannot even reach it
        assert _as_other_user(uid, gid, socket_path, claim) == f"oserror {errno.EACCES}"
        # and were the directory open, the proxy itself still refuses by the peer's uid (SO_PEERCRED)
        for directory in (proxy_env.root, proxy_env.runtime.parent, proxy_env.runtime):
            directory.chmod(0o711)
        socket_path.chmod(0o666)
        result = _as_other_user(uid, gid, socket_path, claim)
        assert result.startswith("reply ") and f"uid {uid} may not use it" in result
        assert request(proxy_env.http_port, "evil.localhost")[0] == 404
        assert echo(proxy_env.http_port, "shop.localhost")["name"] == "backend"
    finally:
        proxy_env.runtime.chmod(0o700)
        socket_path.chmod(0o600)
        reg.close()
