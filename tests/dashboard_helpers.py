"""Helpers for the dashboard tests: a dashboard server of its own (`locald dashboard --port 0`) in the
private directories of proxy_helpers.ProxyEnv, requests that name their Host and Origin, the event
stream read as a page would, and headless Chromium driven by Selenium."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from proxy_helpers import proxy_env  # noqa: F401  (fixture)

LOCALD = [sys.executable, "-m", "locald"]
# A host service that prints a line whenever a file named `say-NAME` appears next to it.
SERVE = textwrap.dedent("""
    import http.server, os, threading, time
    def listen_for_words():
        while True:
            try:
                words = open("say-" + os.environ["NAME"]).read()
                os.remove("say-" + os.environ["NAME"])
                print(words, flush=True)
            except FileNotFoundError:
                time.sleep(0.02)
    threading.Thread(target=listen_for_words, daemon=True).start()
    print(f"\\033[1;34m{os.environ['NAME']}\\033[0m listening on port {os.environ['PORT']}", flush=True)
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
        def log_message(self, *args):
            pass
    http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
""")


def processes(api_depends_on: str = "[]") -> str:
    """locald.toml services: `api` and `web` (SERVE; web waits for api to be healthy), and a `jobs`
    worker after web that fails with exit code 3 once a file named `fail` appears."""
    return f"""
        [services.api]
        command = "{sys.executable} serve.py"
        env = {{ NAME = "api" }}
        depends_on = {api_depends_on}

        [services.web]
        command = "{sys.executable} serve.py"
        env = {{ NAME = "web" }}
        depends_on = {{ api = "healthy" }}

        [services.jobs]
        type = "worker"
        command = "sh -c 'echo picking up jobs; while [ ! -e fail ]; do sleep 0.05; done; echo lost the queue >&2; exit 3'"
        depends_on = ["web"]
        """


CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-proxy-server", "--window-size=1400,1150")


class Server:
    """`locald dashboard --port 0`, serving until stopped."""

    def __init__(self):
        self.proc = subprocess.Popen([*LOCALD, "dashboard", "--port", "0"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), self.url + self.proc.stderr.read()
        self.port = int(self.url.rsplit(":", 1)[1].strip("/"))
        self.host = f"127.0.0.1:{self.port}"
        self.origin = f"http://{self.host}"

    def stop(self) -> str:
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err


@pytest.fixture
def dashboard_server(proxy_env):  # noqa: F811
    server = Server()
    yield server
    server.stop()


def call(port: int, path: str = "/", method: str = "GET", host: str | None = None, headers: dict | None = None,
         body: dict | str | None = None, timeout: float = 30) -> tuple[int, str]:
    """One request to 127.0.0.1:`port`; (status, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = json.dumps(body) if isinstance(body, dict) else body
        conn.request(method, path, body=data,
                     headers={"Host": f"127.0.0.1:{port}" if host is None else host, **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def read_token() -> str:
    """This user's token, as a script of theirs reads it (made on first use, by whoever comes first)."""
    from locald.dashboard.access import token

    return token()


def act(server: Server, project: str, action: str, service: str | None = None, **headers) -> tuple[int, dict]:
    """A dashboard action as the page sends it (own Origin, the token) unless `headers` say otherwise
    (a header given as None is left out)."""
    sent = {"Origin": server.origin, "X-Locald-Token": read_token(), "Content-Type": "application/json",
            **{k.replace("_", "-"): v for k, v in headers.items()}}
    status, text = call(server.port, "/api/action", "POST", headers={k: v for k, v in sent.items() if v is not None},
                        body={"project": project, "action": action, "service": service}, timeout=300)
    try:
        return status, json.loads(text)
    except ValueError:
        return status, {"text": text}


class Events:
    """The dashboard's event stream, read as a page reads it: the latest `state` and every log line."""

    def __init__(self, port: int, host: str | None = None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.conn.request("GET", "/events", headers={"Host": host or f"127.0.0.1:{port}"})
        self.response = self.conn.getresponse()
        assert self.response.status == 200, self.response.read()
        self.state: dict = {}
        self.lines: list[list] = []

    def _next(self) -> None:
        event, data = None, []
        while True:
            line = self.response.fp.readline().decode()
            if not line:
                raise AssertionError("the event stream ended")
            line = line.rstrip("\n")
            if not line:
                break
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        payload = json.loads("\n".join(data))
        if event == "state":
            self.state = payload
        elif event == "logs":
            self.lines.extend(payload)

    def until(self, predicate, timeout: float = 60, what: str = "the dashboard to show it"):
        """Read events until predicate(self) is true; its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate(self)
            if value:
                return value
            self._next()
        raise AssertionError(f"timed out waiting for {what}; last state: {json.dumps(self.state)[:3000]}")

    def rows(self, project_name: str) -> dict[str, dict]:
        for project in self.state.get("projects", []):
            if project["name"] == project_name:
                return {row["name"]: row for row in project["services"]}
        return {}

    def project(self, project_name: str) -> dict | None:
        return next((p for p in self.state.get("projects", []) if p["name"] == project_name), None)

    def close(self) -> None:
        self.conn.close()


# --- a browser -------------------------------------------------------------------------------------------

@pytest.fixture
def browser():
    """Headless Chromium from Debian (scripts/setup-browser installs it) through its own chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for tool in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not Path(tool).exists():
            pytest.fail(f"{tool} is missing: run scripts/setup-browser (scripts/test does)")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="ldchrome")
    for flag in (*CHROME_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        subprocess.run(["rm", "-rf", profile])
