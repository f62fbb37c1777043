"""The dashboard's aiohttp handler, for aiohttp's low-level server: the proxy's (Front sends it every
request for locald.localhost) or the one `locald dashboard` runs when no proxy does.

    GET  /              the page (with this user's action token inside)
    GET  /static/NAME   its script, style and the vendored ANSI renderer
    GET  /events        server-sent events: `state` and `logs` (hub.py)
    POST /api/action    {"project": key, "action": "restart|stop|start|restart-stack", "service": name}

Every request passes access.refuse_read, a POST also access.refuse_write: a refusal is a 403 with one
sentence, and a line in the server's log.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
from pathlib import Path

from aiohttp import web

from ..errors import LocaldError
from ..proxy.forward import host_of
from . import HOST, access, registry
from .hub import Hub

log = logging.getLogger("locald.dashboard")
STATIC = Path(__file__).with_name("static")
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
SERVICE_ACTIONS = ("restart", "stop", "start")
STACK_ACTIONS = ("restart-stack",)
ACTION_TIMEOUT = {"restart-stack": 900.0}  # waits for every service to be ready again
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self'; "
                               "style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _static_files() -> dict[str, Path]:
    """URL path → file, for every file shipped under static/ (nothing else can be asked for)."""
    return {"/static/" + p.relative_to(STATIC).as_posix(): p for p in STATIC.rglob("*")
            if p.is_file() and p.suffix in TYPES}


class Dashboard:
    def __init__(self) -> None:
        self.hub = Hub()
        self.static = _static_files()
        self._token: str | None = None

    @property
    def token(self) -> str:
        """Read (or made) on first use: a proxy must start even where the dashboard cannot."""
        if self._token is None:
            self._token = access.token()
        return self._token

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        write = request.method == "POST"
        why = access.refuse_write(request, self.token) if write else access.refuse_read(request)
        if why:
            log.warning("dashboard: refused %s %s: %s", request.method, request.path, why)
            return web.Response(status=403, text=f"locald dashboard: {why}\n", headers=SECURITY_HEADERS)
        path = request.path
        if write:
            return await self.action(request) if path == "/api/action" else self.not_found()
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, text="only GET and POST\n", headers={**SECURITY_HEADERS, "Allow": "GET, POST"})
        if path == "/":
            return self.page()
        if path == "/events":
            return await self.events(request)
        if path in self.static:
            file = self.static[path]
            return web.Response(body=file.read_bytes(), content_type=TYPES[file.suffix], charset="utf-8",
                                headers=SECURITY_HEADERS)
        return self.not_found()

    async def close(self) -> None:
        await self.hub.close()

    # --- pages -------------------------------------------------------------------------------------

    def page(self) -> web.Response:
        text = (STATIC / "index.html").read_text().replace("__TOKEN__", html.escape(self.token))
        return web.Response(text=text, content_type="text/html", headers=SECURITY_HEADERS)

    @staticmethod
    def not_found() -> web.Response:
        return web.Response(status=404, text="no such page\n", headers=SECURITY_HEADERS)

    async def events(self, request: web.BaseRequest) -> web.StreamResponse:
        response = web.StreamResponse(headers={**SECURITY_HEADERS, "Content-Type": "text/event-stream",
                                               "X-Accel-Buffering": "no"})
        await response.prepare(request)
        page = self.hub.join()
        try:
            while (data := await page.queue.get()) is not None:
                await response.write(data)
        except ConnectionResetError:
            pass  # the page went away
        finally:
            self.hub.leave(page)
        return response

    # --- actions -----------------------------------------------------------------------------------

    async def action(self, request: web.BaseRequest) -> web.Response:
        try:
            body = await request.json()
            key, action, service = body.get("project"), body.get("action"), body.get("service")
        except (ValueError, AttributeError):
            return _answer(400, error="expected a JSON object")
        if action in SERVICE_ACTIONS and isinstance(service, str):
            command = {"action": action, "services": [service]}
        elif action in STACK_ACTIONS:
            command = {"action": action}
        else:
            return _answer(400, error=f"unknown action {action!r} (or no service named)")
        entry = next((e for e in await asyncio.to_thread(registry.running) if e.key == key), None)
        if entry is None:
            return _answer(404, error="that project is not running any more")
        from ..runtime.control import request as control

        log.info("dashboard: %s %s of %s", action, service or "", entry.name)
        try:
            await asyncio.to_thread(control, entry.state_dir, command, ACTION_TIMEOUT.get(action, 120.0))
        except LocaldError as exc:
            return _answer(409, error=str(exc))
        finally:
            self.hub.poke()
        return _answer(200, ok=True)


def _answer(status: int, **body) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        headers=SECURITY_HEADERS)


class Front:
    """The proxy's handler with the dashboard in front of it: locald.localhost is the dashboard's,
    every other host goes to `forward`."""

    def __init__(self, forward):
        self.forward = forward
        self.dashboard = Dashboard()

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        if host_of(request) == HOST:
            return await self.dashboard(request)
        return await self.forward(request)

    async def close(self) -> None:
        await self.dashboard.close()
