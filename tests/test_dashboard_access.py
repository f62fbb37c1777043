"""Who may see the dashboard and who may act through it, on a real server (`locald dashboard --port 0`):
another OS user gets nothing (not even with the token), a foreign Host (DNS rebinding) or Origin is
refused, and an action needs both the page's Origin and the token."""

from __future__ import annotations

import http.client
import os
import stat

from dashboard_helpers import act, call, dashboard_server, read_token  # noqa: F401  (fixture)
from proxy_helpers import proxy_env  # noqa: F401  (fixture)
from test_security import as_user, stranger  # noqa: F401  (fixture)

from locald.dashboard.access import token_path


def test_the_page_carries_the_token_for_this_user_and_comes_with_strict_headers(dashboard_server):  # noqa: F811
    status, page = call(dashboard_server.port)
    assert status == 200
    assert f'<meta name="locald-token" content="{read_token()}">' in page
    conn = http.client.HTTPConnection("127.0.0.1", dashboard_server.port, timeout=10)
    conn.request("GET", "/", headers={"Host": dashboard_server.host})
    headers = conn.getresponse().headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store"
    conn.close()
    assert stat.S_IMODE(token_path().stat().st_mode) == 0o600
    assert stat.S_IMODE(token_path().parent.stat().st_mode) == 0o700


def test_every_name_of_this_server_is_accepted_and_any_other_host_refused(dashboard_server):  # noqa: F811
    port = dashboard_server.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"locald.localhost:{port}", f"[::1]:{port}",
                 f"LOCALD.localhost.:{port}"):
        assert call(port, host=host)[0] == 200, host
    for host in (f"evil.example:{port}", "127.0.0.1", f"127.0.0.1:{port + 1}", f"shop.localhost:{port}", ""):
        status, text = call(port, host=host)
        assert status == 403 and "wrong Host" in text, host
    assert call(port, "/events", host=f"rebound.example:{port}")[0] == 403


def test_static_files_are_only_the_shipped_ones(dashboard_server):  # noqa: F811
    port = dashboard_server.port
    status, script = call(port, "/static/app.js")
    assert status == 200 and "EventSource" in script
    assert call(port, "/static/vendor/ansi_up.js")[0] == 200
    for path in ("/static/../server.py", "/static/%2e%2e/server.py", "/static/vendor/ansi_up.LICENSE", "/nope"):
        assert call(port, path)[0] == 404, path


def test_cross_origin_reads_and_writes_are_refused(dashboard_server):  # noqa: F811
    port, own = dashboard_server.port, dashboard_server.origin
    assert call(port, "/events", headers={"Origin": "http://evil.example"})[0] == 403
    assert call(port, "/", headers={"Sec-Fetch-Site": "cross-site"})[0] == 403
    # A preflight from another origin is never approved, so a browser never sends the token there.
    assert call(port, "/api/action", "OPTIONS", headers={"Origin": "http://evil.example",
                                                       "Access-Control-Request-Method": "POST"})[0] == 403
    # The token alone is not enough: the Origin must be the page's own, and present.
    status, body = act(dashboard_server, "0" * 16, "restart", "web", Origin="http://evil.example")
    assert status == 403 and "cross-origin" in body["text"]
    status, body = act(dashboard_server, "0" * 16, "restart", "web", Origin=None)
    assert status == 403 and "Origin" in body["text"]
    status, body = act(dashboard_server, "0" * 16, "restart", "web", Origin=f"{own}.evil.example")
    assert status == 403
    # Right Origin, no token or a wrong one.
    status, body = act(dashboard_server, "0" * 16, "restart", "web", X_Locald_Token=None)
    assert status == 403 and "X-Locald-Token" in body["text"]
    status, body = act(dashboard_server, "0" * 16, "restart", "web", X_Locald_Token="guess")
    assert status == 403
    # Both right: the request reaches the action (here: a project that does not run).
    assert act(dashboard_server, "0" * 16, "restart", "web")[0] == 404
    log = dashboard_server.stop()
    assert "refused POST /api/action: cross-origin request (Origin http://evil.example)" in log


def test_another_os_user_gets_nothing_even_with_the_token(dashboard_server, stranger):  # noqa: F811
    port, origin, token, token_file = dashboard_server.port, dashboard_server.origin, read_token(), str(token_path())

    def as_other() -> dict:
        seen = {"uid": os.getuid()}
        seen["page"] = call(port, timeout=10)
        seen["events"] = call(port, "/events", timeout=10)[0]
        seen["act"] = call(port, "/api/action", "POST", headers={"Origin": origin, "X-Locald-Token": token},
                           body={"project": "0" * 16, "action": "restart", "service": "web"}, timeout=10)[0]
        try:
            open(token_file).read()
            seen["token"] = "read"
        except PermissionError:
            seen["token"] = "denied"
        return seen

    uid, gid = stranger
    seen = as_user(uid, gid, as_other)
    assert seen["uid"] == uid != os.geteuid()
    status, text = seen["page"]
    assert status == 403 and f"belongs to uid {os.geteuid()}" in text and f"uid {uid}" in text
    assert token not in text
    assert (seen["events"], seen["act"], seen["token"]) == (403, 403, "denied")
    # and this user, meanwhile, still gets in
    assert call(port)[0] == 200
