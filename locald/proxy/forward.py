"""Forward one request to the service behind its host: HTTP with streamed bodies both ways (SSE and
100 MB uploads flow through without being held), and WebSocket frames both ways.

`Host` goes through unchanged; X-Forwarded-For/Proto/Host describe the client (we are the edge, so
what a client claims in them is replaced, not trusted). No timeout on reading: a long poll waits as
long as the service does.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import ClientConnectorError, ClientError, ClientSession, ClientTimeout, DummyCookieJar, TCPConnector
from aiohttp import WSMsgType, WSServerHandshakeError, web
from multidict import CIMultiDict
from yarl import URL

from . import pages
from .routes import NOT_STARTED, Route, RouteTable

log = logging.getLogger("locald.proxy")

HOP_BY_HOP = frozenset(("connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
                        "te", "trailer", "transfer-encoding", "upgrade", "expect"))
WS_OWN = frozenset(("sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
                    "sec-websocket-protocol", "sec-websocket-accept"))
CONNECT_TIMEOUT = 10.0
DESCRIBE_TIMEOUT = 1.0
SMALL_BODY = 64 * 1024


def host_of(request: web.BaseRequest) -> str:
    """The Host header without its port, lowercased, without a trailing dot."""
    host = (request.host or "").lower()
    if host.startswith("["):
        host = host[: host.find("]") + 1]
    elif ":" in host:
        host = host.rsplit(":", 1)[0]
    return host.rstrip(".")


def _hop_by_hop(headers) -> frozenset[str]:
    """Fixed hop-by-hop headers plus those the message's own Connection header names."""
    named = {t.strip().lower() for v in headers.getall("Connection", ()) for t in v.split(",")}
    return HOP_BY_HOP | named


def upstream_headers(request: web.BaseRequest, skip: frozenset[str] = frozenset()) -> CIMultiDict:
    drop = _hop_by_hop(request.headers) | skip
    headers = CIMultiDict((k, v) for k, v in request.headers.items()
                          if k.lower() not in drop and not k.lower().startswith("x-forwarded-"))
    headers["X-Forwarded-For"] = request.remote or ""
    headers["X-Forwarded-Proto"] = request.scheme
    headers["X-Forwarded-Host"] = request.host or ""
    return headers


def _small(request: web.BaseRequest, upstream) -> bool:
    """A whole body that is short and announced by its length: read it, then answer at once. Anything
    else (chunked, streamed, large, or no body by definition) streams."""
    length = upstream.content_length
    return (length is not None and length <= SMALL_BODY and request.method != "HEAD"
            and upstream.status not in (204, 304))


def is_websocket(request: web.BaseRequest) -> bool:
    return (request.headers.get("Upgrade", "").lower() == "websocket"
            and "upgrade" in request.headers.get("Connection", "").lower())


class Forwarder:
    """The aiohttp handler of both listeners. `ports`: {"http": n, "https": n} for the 404 page's links."""

    def __init__(self, table: RouteTable, ports: dict[str, int]):
        self.table = table
        self.ports = ports
        self.session: ClientSession | None = None

    async def start(self) -> None:
        self.session = ClientSession(
            connector=TCPConnector(limit=0, ttl_dns_cache=60),
            timeout=ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT, sock_read=None),
            auto_decompress=False,  # bodies pass as the service encoded them
            cookie_jar=DummyCookieJar(),  # one client serves every browser: it must never keep a cookie
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            read_bufsize=2**18)

    async def close(self) -> None:
        if self.session:
            await self.session.close()

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        host = host_of(request)
        found = self.table.lookup(host)
        if found is None:
            return self.not_found(request, host)
        route, owner = found
        if route.state in NOT_STARTED:
            return await self.unavailable(host, route, owner)
        if is_websocket(request):
            return await self.websocket(request, host, route, owner)
        return await self.forward(request, host, route, owner)

    # --- HTTP ---------------------------------------------------------------------------------------

    async def forward(self, request: web.BaseRequest, host: str, route: Route, owner) -> web.StreamResponse:
        url = URL(f"http://{route.target}:{route.port}{request.raw_path}", encoded=True)
        body = request.content if request.body_exists else None
        if body is not None and request.headers.get("Expect", "").lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # as aiohttp's own expect handler
            request.writer.output_size = 0
        try:
            upstream = await self.session.request(request.method, url, headers=upstream_headers(request),
                                                  data=body, allow_redirects=False)
        except (ClientConnectorError, asyncio.TimeoutError):
            return await self.unavailable(host, route, owner, why=f"nothing answers on port {route.port}")
        except ClientError as exc:
            return web.Response(status=502, text=pages.bad_gateway(host, route.service, str(exc) or repr(exc)),
                                content_type="text/html")
        async with upstream:
            drop = _hop_by_hop(upstream.headers)
            headers = CIMultiDict((k, v) for k, v in upstream.headers.items() if k.lower() not in drop)
            if _small(request, upstream):  # one write for headers and body: a third more requests per second
                try:
                    body = await upstream.read()
                except ClientError as exc:
                    return web.Response(status=502, text=pages.bad_gateway(host, route.service, repr(exc)),
                                        content_type="text/html")
                return web.Response(status=upstream.status, reason=upstream.reason, headers=headers, body=body)
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=headers)
            try:
                await response.prepare(request)
                async for chunk in upstream.content.iter_any():  # as it arrives: SSE is never held back
                    await response.write(chunk)
                await response.write_eof()
            except ConnectionResetError:  # the client left (aiohttp's own reset error is one too): fine
                pass
            except ClientError as exc:
                log.info("%s: the service broke off its response: %r", host, exc)
                if request.transport is not None:  # the client must see a broken body, not a short one
                    request.transport.close()
            return response

    # --- WebSocket ----------------------------------------------------------------------------------

    async def websocket(self, request: web.BaseRequest, host: str, route: Route, owner) -> web.StreamResponse:
        url = URL(f"ws://{route.target}:{route.port}{request.raw_path}", encoded=True)
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        try:
            upstream = await self.session.ws_connect(url, headers=upstream_headers(request, WS_OWN), protocols=offered,
                                                     autoping=False, compress=0, max_msg_size=0)
        except WSServerHandshakeError as exc:
            return web.Response(status=exc.status, text=f"the service refused the WebSocket: {exc.message}\n")
        except (ClientConnectorError, asyncio.TimeoutError):
            return await self.unavailable(host, route, owner, why=f"nothing answers on port {route.port}")
        client = web.WebSocketResponse(protocols=[upstream.protocol] if upstream.protocol else (),
                                       autoping=False, compress=False, max_msg_size=0)
        await client.prepare(request)
        pumps = [asyncio.ensure_future(_pump(client, upstream)), asyncio.ensure_future(_pump(upstream, client))]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await upstream.close()
            await client.close()
        return client

    # --- pages --------------------------------------------------------------------------------------

    def not_found(self, request: web.BaseRequest, host: str) -> web.Response:
        scheme = request.scheme
        port = self.ports[scheme]
        suffix = "" if port == {"http": 80, "https": 443}[scheme] else f":{port}"
        hosts = [(f"{scheme}://{route.host}{suffix}/", owner.project, route.service)
                 for route, owner in self.table.entries()]
        return web.Response(status=404, text=pages.not_found(host, hosts), content_type="text/html")

    async def unavailable(self, host: str, route: Route, owner, why: str = "") -> web.Response:
        info = await owner.describe(route.service, DESCRIBE_TIMEOUT)
        status = info.get("status") or route.state
        if info.get("health") and info["health"] not in status:
            status += f" ({info['health']})"
        page = pages.unavailable(host, owner.project, route.service, status, info.get("log", []), why)
        return web.Response(status=503, text=page, content_type="text/html",
                            headers={"Retry-After": str(pages.REFRESH_SECONDS), "Cache-Control": "no-store"})


async def _pump(source, sink) -> None:
    """Frames from one side to the other until `source` closes; then close `sink` with the same code."""
    async for msg in source:
        if msg.type == WSMsgType.TEXT:
            await sink.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await sink.send_bytes(msg.data)
        elif msg.type == WSMsgType.PING:
            await sink.ping(msg.data)
        elif msg.type == WSMsgType.PONG:
            await sink.pong(msg.data)
        elif msg.type == WSMsgType.ERROR:
            break
    await sink.close(code=source.close_code or 1000)
