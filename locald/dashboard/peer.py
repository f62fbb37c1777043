"""Who is at the other end of a loopback TCP connection.

TCP has no SO_PEERCRED, but both ends of a connection between two local processes are sockets of this
machine, and the kernel lists each one in /proc/net/tcp (or tcp6) with the uid that owns it. The client's
socket is the row whose local address is our peer's address and whose remote address is ours.
"""

from __future__ import annotations

import ipaddress
import sys

TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
TIME_WAIT = "06"  # a closed connection's leftover row: it may share the address pair with a new one


def _address(text: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    """`0100007F:1F90` → (127.0.0.1, 8080): the address in 32-bit words of host byte order, then the port."""
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    if sys.byteorder == "little":
        raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return _plain(ipaddress.ip_address(raw)), int(port, 16)


def _plain(address):
    """An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, a dual-stack socket) as the IPv4 address it is."""
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _endpoint(sockaddr) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    host = str(sockaddr[0]).split("%")[0]  # drop an IPv6 scope id
    return _plain(ipaddress.ip_address(host)), int(sockaddr[1])


def uid_of_peer(peer, local) -> int | None:
    """The uid owning the other end of our connection (`peer`, `local`: the socket's peername and
    sockname), or None when no local socket matches (a client in another network namespace, or gone)."""
    client, server = _endpoint(peer), _endpoint(local)
    for table in TABLES:
        try:
            with open(table) as fh:
                next(fh, None)  # the header
                for line in fh:
                    fields = line.split()
                    if len(fields) < 8 or fields[3] == TIME_WAIT:
                        continue
                    if _address(fields[1]) == client and _address(fields[2]) == server:
                        return int(fields[7])
        except OSError:
            continue
    return None
