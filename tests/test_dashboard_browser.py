"""The dashboard in a real browser (headless Chromium + Selenium) on a real mixed stack: host processes
and a redis:7 container, served by the named-URL proxy at http://locald.localhost:PORT. Every row with
the status `locald status` gives, one graph node per service and one edge per dependency, a printed log
line on the page within a second, a crash highlighted, restart by a click (a new pid), and actions
refused without the token or from another origin. The run leaves docs/dashboard.png."""

from __future__ import annotations

import http.server
import threading
import time
import uuid
from pathlib import Path

import pytest
from dashboard_helpers import SERVE, browser, processes  # noqa: F401  (fixture)
from proxy_helpers import free_port, proxy_env  # noqa: F401  (fixture)
from stack import wait_until

SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "dashboard.png"

TOML = """
    [services.cache]
    image = "redis:7"
    health_check = { command = "redis-cli ping", interval = "300ms", start_period = "20s" }
""" + processes('["cache"]')
DEPENDENCIES = {("cache", "api"), ("api", "web"), ("web", "jobs")}


def rows(driver) -> dict[str, dict]:
    """service → the data attributes of its row (one script call: no stale elements between reads)."""
    return driver.execute_script("""
        const out = {};
        for (const tr of document.querySelectorAll("tr.service"))
            out[tr.dataset.service] = {...tr.dataset};
        return out;""")


def post_from_page(driver, body: dict, token: bool) -> int:
    """An action sent by the page's own script, with or without the token; the HTTP status."""
    return driver.execute_async_script("""
        const [body, withToken, done] = arguments;
        const headers = {"Content-Type": "application/json"};
        if (withToken) headers["X-Locald-Token"] = document.querySelector('meta[name="locald-token"]').content;
        fetch("/api/action", {method: "POST", headers, body: JSON.stringify(body)}).then(r => done(r.status));
        """, body, token)


class OtherSite:
    """A page on another origin (http://127.0.0.1:PORT) that tries to restart a service."""

    def __init__(self):
        self.page = b""
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(site.page)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def mixed(engine_stack_factory, proxy_env):  # noqa: F811
    stack = engine_stack_factory(TOML)
    (stack.root / "serve.py").write_text(SERVE)
    stack.locald("up", "-d", check=True, timeout=240)
    return stack


def test_the_dashboard_in_a_browser(mixed, proxy_env, browser):  # noqa: F811
    stack, driver = mixed, browser
    url = f"http://locald.localhost:{proxy_env.http_port}/"
    shown = stack.locald("dashboard", check=True)
    assert shown.stdout.strip() == url and f"1 running project: {stack.name}" in shown.stderr
    driver.get(url)

    # Every service, with the status `locald status` reports
    expected = {name: row["status"] for name, row in stack.status().items()}
    assert set(expected) == {"cache", "api", "web", "jobs"}
    wait_until(lambda: {n: r["status"] for n, r in rows(driver).items()} == expected, 20,
               what=f"the rows to show {expected} (they show {rows(driver)})")
    assert rows(driver)["cache"]["kind"] == "container" and rows(driver)["api"]["kind"] == "exec"

    # The graph: one node per service, one edge per dependency
    nodes = driver.execute_script("return [...document.querySelectorAll('svg g.node')].map(n => n.dataset.service)")
    edges = driver.execute_script(
        "return [...document.querySelectorAll('svg g.edge')].map(e => [e.dataset.from, e.dataset.to])")
    assert sorted(nodes) == sorted(expected)
    assert {tuple(e) for e in edges} == DEPENDENCIES and len(edges) == len(DEPENDENCIES)

    # A line printed by a process is on the page within a second of reaching its log
    words = f"hello from the test {uuid.uuid4().hex[:8]}"
    (stack.root / "say-api").write_text(words)
    stack.wait_log("api", words, timeout=10)
    printed = time.monotonic()
    wait_until(lambda: words in driver.find_element("id", "log-lines").text, 1.0, 0.02,
               what="the printed line on the page within 1 s")
    print(f"log line on the page {time.monotonic() - printed:.3f}s after it reached the log file")

    # ANSI colours rendered (by ansi_up), not shown as escape codes
    colour = driver.execute_script("""
        const line = [...document.querySelectorAll('#log-lines .line')].find(l => l.textContent.includes('listening'));
        const span = line && line.querySelector('.text span');
        return span ? getComputedStyle(span).color : null;""")
    assert colour and colour != "rgb(230, 237, 243)"
    assert "\x1b[" not in driver.find_element("id", "log-lines").text

    # The filter box keeps only matching lines
    driver.find_element("id", "log-filter").send_keys(words)
    wait_until(lambda: driver.execute_script(
        "return [...document.querySelectorAll('#log-lines .line')].filter(l => !l.hidden).length") == 1, 5)
    driver.find_element("id", "log-filter").clear()
    driver.execute_script("document.getElementById('log-filter').dispatchEvent(new Event('input'))")

    # A crash: highlighted with its exit code and last lines
    (stack.root / "fail").touch()
    wait_until(lambda: rows(driver).get("jobs", {}).get("tone") == "bad", 10, what="jobs shown as crashed")
    crash = driver.find_element("css selector", "tr.crash[data-service='jobs']").text
    assert "exited with code 3" in crash and "lost the queue" in crash and "picking up jobs" in crash

    # Restart by a click: the process gets a new pid, and the page shows it
    old_pid = rows(driver)["api"]["pid"]
    assert old_pid and int(old_pid) == stack.status()["api"]["pid"]
    driver.find_element("css selector", "tr.service[data-service='api'] button[data-action='restart']").click()
    new_pid = wait_until(lambda: rows(driver)["api"]["pid"] not in ("", old_pid) and rows(driver)["api"]["pid"], 30,
                         what="a new pid for api")
    assert int(new_pid) == stack.status()["api"]["pid"]

    # An action without the token is refused; with it (same page, same origin) it goes through
    key = driver.execute_script("return document.querySelector('section.project').dataset.key")
    assert post_from_page(driver, {"project": key, "action": "restart", "service": "web"}, token=False) == 403
    assert "missing or wrong X-Locald-Token" in proxy_env.log()
    # A restarted container is a new container: its lines keep coming (`docker compose logs -f` would
    # have stayed with the old one)
    assert post_from_page(driver, {"project": key, "action": "restart", "service": "cache"}, token=True) == 200
    wait_until(lambda: driver.execute_script("""
        return [...document.querySelectorAll('#log-lines .line')].filter(l => l.dataset.source.endsWith('/cache')
               && l.textContent.includes('Ready to accept connections')).length""") == 2, 30,
               what="the new container's lines")

    # Another site's page: a simple cross-origin POST (no token) and one that brings a stolen token
    web_pid = stack.status()["web"]["pid"]
    token = driver.execute_script("return document.querySelector('meta[name=\"locald-token\"]').content")
    site = OtherSite()
    try:
        site.page = f"""<!doctype html><script>
            const target = "{url}api/action", body = JSON.stringify({{project: "{key}", action: "restart", service: "web"}});
            fetch(target, {{method: "POST", mode: "no-cors", body}}).finally(() => {{
              fetch(target, {{method: "POST", headers: {{"X-Locald-Token": "{token}", "Content-Type": "application/json"}}, body}})
                .then(() => document.title = "sent", () => document.title = "blocked");
            }});
            </script>""".encode()
        driver.get(site.url)
        wait_until(lambda: driver.title in ("sent", "blocked"), 10, what="the other site's requests")
        assert driver.title == "blocked"  # the browser never sent the token: its preflight was refused
    finally:
        site.close()
    log = proxy_env.log()
    assert f"refused POST /api/action: cross-origin request (Origin {site.url.rstrip('/')})" in log
    assert f"refused OPTIONS /api/action: cross-origin request (Origin {site.url.rstrip('/')})" in log
    assert stack.status()["web"]["pid"] == web_pid

    # The picture for the README, from this run
    driver.get(url)
    wait_until(lambda: rows(driver).get("jobs", {}).get("tone") == "bad" and
               len(driver.find_elements("css selector", "#log-lines .line")) > 10, 20)
    driver.execute_script("document.getElementById('log-source').value = ''")
    time.sleep(0.5)  # uptimes filled in, log scrolled to its end
    SCREENSHOT.parent.mkdir(exist_ok=True)
    assert driver.save_screenshot(str(SCREENSHOT))

    stack.locald("down", check=True)
    stack.assert_nothing_left(engine=True)
