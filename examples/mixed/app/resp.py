"""Just enough of the Redis protocol for the example (stdlib only)."""

import os
import socket
from urllib.parse import urlparse


def connect() -> socket.socket:
    url = urlparse(os.environ["REDIS_URL"])
    return socket.create_connection((url.hostname, url.port or 6379), timeout=5)


def command(sock: socket.socket, *args: str) -> str:
    payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
    sock.sendall(payload.encode())
    reply = sock.recv(65536).decode()
    if reply.startswith("$-1"):
        return ""
    if reply.startswith("$"):
        return reply.split("\r\n")[1]
    if reply.startswith("-"):
        raise RuntimeError(reply.strip())
    return reply[1:].strip()
