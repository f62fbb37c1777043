"""A real HTTP service for the proxy tests (run as its own process): `python proxy_backend.py PORT NAME`.

    /echo            JSON: name, method, path, headers, the peer port, body length and sha256 (read streamed)
    /sse?go=FILE     an event, then (once FILE exists) a second one: proves nothing holds the first back
    /bytes?n=N       N bytes, streamed
    /wait?s=S        answers after S seconds (a long poll)
    /ws              WebSocket: says hello, then echoes text and binary; "close 4001" closes with that code
    /cookies         two Set-Cookie headers
    /broken          starts a chunked body, then drops the connection
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys

from aiohttp import WSMsgType, web

NAME = sys.argv[2] if len(sys.argv) > 2 else "backend"


async def echo(request: web.Request) -> web.Response:
    digest, size = hashlib.sha256(), 0
    async for chunk in request.content.iter_any():
        digest.update(chunk)
        size += len(chunk)
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return web.json_response({"name": NAME, "method": request.method, "path": request.path_qs,
                              "headers": {k: v for k, v in request.headers.items()},
                              "peer_port": peer[1] if peer else None, "size": size, "sha256": digest.hexdigest()})


async def sse(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    await response.write(b"data: first\n\n")
    go = request.query["go"]
    for _ in range(600):
        if os.path.exists(go):
            break
        await asyncio.sleep(0.05)
    await response.write(b"data: second\n\n")
    await response.write_eof()
    return response


async def many_bytes(request: web.Request) -> web.StreamResponse:
    n = int(request.query["n"])
    block = b"x" * (1 << 20)
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    response.content_length = n
    await response.prepare(request)
    while n > 0:
        await response.write(block[: min(n, len(block))])
        n -= len(block)
    await response.write_eof()
    return response


async def wait(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query["s"]))
    return web.Response(text="waited\n")


async def ws(request: web.Request) -> web.WebSocketResponse:
    socket = web.WebSocketResponse(protocols=("chat",))
    await socket.prepare(request)
    await socket.send_str(f"hello from {NAME}")
    async for msg in socket:
        if msg.type == WSMsgType.TEXT and msg.data.startswith("close "):
            await socket.close(code=int(msg.data.split()[1]))
        elif msg.type == WSMsgType.TEXT:
            await socket.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await socket.send_bytes(msg.data)
    return socket


async def cookies(request: web.Request) -> web.Response:
    response = web.Response(text="cookies\n")
    response.headers.add("Set-Cookie", "a=1; Path=/")
    response.headers.add("Set-Cookie", "b=2; Path=/")
    return response


async def broken(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    await response.prepare(request)
    await response.write(b"the beginning of a body")
    await asyncio.sleep(0.2)
    request.transport.close()  # no final chunk: the body is cut short
    return response


app = web.Application()
app.add_routes([web.route("*", "/echo", echo), web.get("/sse", sse), web.get("/bytes", many_bytes),
                web.get("/wait", wait), web.get("/ws", ws), web.get("/cookies", cookies),
                web.get("/broken", broken)])

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=lambda *a: print("listening", flush=True),
                access_log=None)
