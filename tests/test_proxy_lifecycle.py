"""Named URLs through the real CLI: `locald up` registers its HTTP services with the user's proxy,
`status` and the ready line show the named URLs, `down` removes them, crashes leave no stale route.
Each test runs a private proxy (own directories, free ports: see proxy_helpers.ProxyEnv)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

from proxy_helpers import alive, proxy_env, request  # noqa: F401  (fixture)
from stack import wait_until

PY = sys.executable

# A host service that says who it is, what Host it saw and the SEE_* variables locald gave it.
SERVE = textwrap.dedent("""
    import http.server, json, os, sys, time
    print("booting", os.environ["NAME"], flush=True)
    time.sleep(float(os.environ.get("BOOT", "0")))
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"service": os.environ["NAME"], "host": self.headers["Host"],
                               "see": {k: v for k, v in os.environ.items() if k.startswith("SEE_")}}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
""")


def services(**extra_env) -> str:
    return f"""
        [services.web]
        command = "{PY} serve.py"
        env = {{ NAME = "web", SEE_API = "${{services.api.public_url}}", SEE_DOMAIN = "${{services.web.domain}}", SEE_DIRECT = "${{services.api.url}}" }}

        [services.api]
        command = "{PY} serve.py"
        env = {{ NAME = "api" }}

        [services.jobs]
        type = "worker"
        command = "sleep 300"
        """


def make(stack_factory, sub: str, toml: str = ""):
    s = stack_factory(toml or services(), sub)
    (s.root / "serve.py").write_text(SERVE)
    return s


def get(port: int, host: str) -> tuple[int | None, dict | str]:
    """(status, JSON or text); (None, "") while no proxy listens yet."""
    try:
        status, _, body = request(port, host, "/")
    except ConnectionRefusedError:
        return None, ""
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode()


def curl(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", *args, url], capture_output=True, text=True, timeout=30)


def test_two_projects_side_by_side_then_down(stack_factory, proxy_env):
    a, b = make(stack_factory, "a"), make(stack_factory, "b")
    port = proxy_env.http_port
    up = a.locald("up", "-d", check=True)
    b.locald("up", "-d", check=True)
    try:
        for s in (a, b):
            # curl resolves *.localhost to loopback by itself, as browsers do
            out = curl(f"http://{s.name}.localhost:{port}/")
            assert out.returncode == 0, out.stderr
            seen = json.loads(out.stdout)
            assert seen["service"] == "web" and seen["host"] == f"{s.name}.localhost:{port}"
            assert get(port, f"api.{s.name}.localhost") == (200, {"service": "api", "host": f"api.{s.name}.localhost",
                                                                   "see": {}})
        web = json.loads(curl(f"http://{a.name}.localhost:{port}/").stdout)
        rows = a.status()
        assert web["see"] == {"SEE_API": f"http://api.{a.name}.localhost:{port}", "SEE_DOMAIN": f"{a.name}.localhost",
                              "SEE_DIRECT": rows["api"]["url"]}
        assert rows["web"]["public_url"] == f"http://{a.name}.localhost:{port}"
        assert rows["web"]["url"] == f"http://localhost:{rows['web']['port']}"
        assert rows["jobs"]["public_url"] is None and rows["jobs"]["url"] is None  # a worker gets no route
        table = a.locald("status", check=True).stdout
        assert f"http://api.{a.name}.localhost:{port}" in table
        assert f"http://{a.name}.localhost:{port}" in up.stdout  # `up -d` ends with the status table
        ready = [l for l in (a.state_dir / "supervisor.log").read_text().splitlines() if "ready:" in l][-1]
        assert f"web http://{a.name}.localhost:{port} (http://localhost:{rows['web']['port']})" in ready
        # HTTPS through the same proxy, with the user's local CA
        out = curl(f"https://api.{b.name}.localhost:{proxy_env.https_port}/", "--cacert", str(proxy_env.ca))
        assert out.returncode == 0 and json.loads(out.stdout)["service"] == "api", out.stderr
        proxy = proxy_env.pid()

        a.locald("down", check=True)
        status, page = get(port, f"{a.name}.localhost")
        assert status == 404 and f"{b.name}.localhost" in page and f"{a.name}.localhost:" not in page
        assert get(port, f"{b.name}.localhost")[0] == 200  # the other project keeps the proxy
        assert proxy_env.pid() == proxy
    finally:
        b.locald("down")
    wait_until(lambda: not alive(proxy), 15, what="the proxy to leave with the last project")


def test_the_503_page_while_a_service_starts(stack_factory, proxy_env):
    s = make(stack_factory, "p", f"""
        [services.web]
        command = "{PY} serve.py"
        env = {{ NAME = "web", BOOT = "4" }}
        """)
    up = s.up_attached()
    try:
        host = f"{s.name}.localhost"
        page = wait_until(lambda: (lambda r: r[1] if r[0] == 503 and "booting web" in r[1] else None)(
            get(proxy_env.http_port, host)), 20, what="the 503 page with the service's output")
        assert "<code>web</code> of " + s.name + " is" in page and 'http-equiv="refresh"' in page
        assert wait_until(lambda: get(proxy_env.http_port, host)[0] == 200, 30, what="the service to answer")
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(60)
    assert get(proxy_env.http_port, f"{s.name}.localhost")[0] == 404


def test_a_host_served_by_another_project_stops_the_second_up(stack_factory, proxy_env):
    a = make(stack_factory, "a")
    b = make(stack_factory, "b")
    for s in (a, b):  # two checkouts that claim the same domain
        s.file.write_text(s.file.read_text().replace(f'name = "{s.name}"', f'name = "{s.name}"\ndomain = "shop.localhost"'))
    a.locald("up", "-d", check=True)
    try:
        second = b.locald("up", "-d")
        assert second.returncode == 1
        assert f"shop.localhost is already served by project '{a.name}' ({a.root})" in second.stderr + second.stdout
        b.assert_nothing_left()
        assert get(proxy_env.http_port, "shop.localhost")[1]["service"] == "web"
    finally:
        a.locald("down")


def test_a_killed_proxy_is_replaced_and_a_killed_supervisor_leaves_no_route(stack_factory, proxy_env):
    s = make(stack_factory, "p")
    s.locald("up", "-d", check=True)
    host = f"{s.name}.localhost"
    try:
        first = proxy_env.pid()
        os.kill(first, signal.SIGKILL)
        # the running supervisor starts another proxy and registers again at once
        wait_until(lambda: proxy_env.pid() not in (None, first), 20, what="a new proxy")
        wait_until(lambda: get(proxy_env.http_port, host)[0] == 200, 20, what="the route to come back")
        assert "routes registered again" in (s.state_dir / "supervisor.log").read_text()

        os.kill(s.supervisor_pid(), signal.SIGKILL)  # the supervisor dies: its services may live on...
        wait_until(lambda: get(proxy_env.http_port, host)[0] == 404, 20, what="the dead run's route to go")
        # ...but the next `up` cleans them up, and its own routes answer
        s.locald("up", "-d", check=True)
        assert get(proxy_env.http_port, host)[1]["service"] == "web"
    finally:
        s.locald("down")


def test_a_taken_port_falls_back_and_the_url_says_so(stack_factory, proxy_env, monkeypatch):
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    monkeypatch.setenv("LOCALD_HTTP_PORT", f"{held.getsockname()[1]},{proxy_env.http_port}")
    s = make(stack_factory, "p")
    try:
        up = s.locald("up", "-d", check=True)
        assert f"http://{s.name}.localhost:{proxy_env.http_port}" in up.stdout
        assert get(proxy_env.http_port, f"{s.name}.localhost")[0] == 200
    finally:
        s.locald("down")
        held.close()


def test_a_proxy_that_cannot_start_leaves_the_direct_urls(stack_factory, proxy_env, monkeypatch):
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    monkeypatch.setenv("LOCALD_HTTP_PORT", str(held.getsockname()[1]))
    s = make(stack_factory, "p")
    try:
        s.locald("up", "-d", check=True)
        assert s.status()["web"]["public_url"] is None
        log = (s.state_dir / "supervisor.log").read_text()
        assert (f"named URLs are off for this run: the proxy did not start: the proxy cannot listen for http on "
                f"{held.getsockname()[1]}") in log
    finally:
        s.locald("down")
        held.close()


def test_named_urls_can_be_turned_off(stack_factory, proxy_env, monkeypatch):
    monkeypatch.setenv("LOCALD_PROXY", "off")
    s = make(stack_factory, "p")
    try:
        s.locald("up", "-d", check=True)
        rows = s.status()
        assert rows["web"]["public_url"] is None
        web = json.loads(curl(rows["web"]["url"] + "/").stdout)
        assert web["see"]["SEE_API"] == rows["api"]["url"]  # public_url falls back to the direct URL
        assert proxy_env.pid() is None
    finally:
        s.locald("down")


def test_a_container_by_name(engine_stack_factory, proxy_env):
    perl = ("$s=IO::Socket::INET->new(LocalPort=>8080,Listen=>5,ReuseAddr=>1) or die;"
            "while($c=$s->accept){while(<$c>){last if /^\\r?$/}"
            "print $c qq(HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nhello from a container\\n);close $c}")
    s = engine_stack_factory(f"""
        [services.site]
        image = "debian:bookworm-slim"
        container_port = 8080
        command = ["perl", "-MIO::Socket::INET", "-e", {json.dumps(perl)}]
        health_check = {{ type = "tcp" }}
        """)
    try:
        s.locald("up", "-d", check=True)
        out = curl(f"http://site.{s.name}.localhost:{proxy_env.http_port}/")
        assert out.stdout == "hello from a container\n", out.stderr
        assert s.status()["site"]["public_url"] == f"http://site.{s.name}.localhost:{proxy_env.http_port}"
    finally:
        s.locald("down")


def test_a_run_that_will_route_warms_the_proxy_without_waiting_for_it(stack_factory, proxy_env, monkeypatch):
    """`up` starts the proxy first thing (its ~0.3 s start then overlaps the supervisor's), returning at
    once; a stack with nothing to route starts none."""
    from locald.config import load_project
    from locald.proxy.client import warm

    monkeypatch.setenv("LOCALD_PROXY_LINGER", "60")  # the warm proxy must still be there when `up` comes
    quiet = stack_factory('[services.w]\ntype = "worker"\ncommand = "sleep 1"\n', "quiet")
    warm(load_project(quiet.file), ["w"])
    assert proxy_env.pid() is None and not (proxy_env.runtime / "proxy.log").exists()

    s = make(stack_factory, "p")
    warm(load_project(s.file), ["web", "api", "jobs"])
    assert proxy_env.pid() is None, "warm waited for the proxy to answer"
    pid = wait_until(proxy_env.pid, 20, what="the warmed proxy to listen")
    try:
        s.locald("up", "-d", check=True)
        assert proxy_env.pid() == pid, "up started a second proxy next to the warm one"
        assert s.status()["web"]["public_url"] == f"http://{s.name}.localhost:{proxy_env.http_port}"
    finally:
        s.locald("down")
