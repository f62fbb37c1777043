"""Published ports, in whatever form the export document holds them, as Swarm's long syntax in host mode.

Host mode, not the routing mesh (ingress): a locald stack runs one replica per service, so the mesh's
load balancing buys nothing, and the mesh needs IPVS and overlay traffic, which some kernels lack
(measured on our CI machines: ingress ports never answer there, host-mode ports do). The price: a
port answers on the node that runs the task, not on every node (`locald status --swarm` says which).
Swarm cannot bind an address: a `127.0.0.1:` binding is dropped and reported (see stackfile.py).
"""

from __future__ import annotations

from typing import Any

from ..errors import LocaldError

MODE = "host"
PROTOCOLS = ("tcp", "udp", "sctp")


def host_mode(service: str, spec: Any) -> tuple[list[dict], str | None]:
    """The long-syntax entries for one `ports` item, and the host address it asked for (None: none)."""
    if isinstance(spec, dict):
        target, published = spec.get("target"), spec.get("published")
        protocol, address = spec.get("protocol") or "tcp", spec.get("host_ip")
        if target is None:
            raise LocaldError(f"service '{service}': a published port needs `target` (the port inside the container)")
        targets = _range(service, str(target))
        publisheds = _range(service, str(published)) if published not in (None, "") else None
    else:
        address, published_text, target_text, protocol = _split(service, str(spec))
        targets = _range(service, target_text)
        publisheds = _range(service, published_text) if published_text else None
    if publisheds is not None and len(publisheds) != len(targets):
        raise LocaldError(f"service '{service}': port {spec!r} maps {len(publisheds)} host ports "
                          f"onto {len(targets)} container ports")
    if protocol not in PROTOCOLS:
        raise LocaldError(f"service '{service}': unknown protocol {protocol!r} in port {spec!r}")
    entries = []
    for i, target in enumerate(targets):
        entry: dict[str, Any] = {"target": target}
        if publisheds is not None:
            entry["published"] = publisheds[i]
        entry.update(protocol=protocol, mode=MODE)
        entries.append(entry)
    return entries, address or None


def _split(service: str, text: str) -> tuple[str | None, str | None, str, str]:
    """'[ADDRESS:][HOST:]CONTAINER[/PROTOCOL]' → (address, host, container, protocol)."""
    text, _, protocol = text.partition("/")
    address = None
    if text.startswith("["):  # [::1]:8080:80
        end = text.find("]")
        if end < 0:
            raise LocaldError(f"service '{service}': cannot read the port {text!r}")
        address, text = text[1:end], text[end + 2:]
        host, _, container = text.rpartition(":")
        return address, host or None, container, protocol or "tcp"
    parts = text.split(":")
    if len(parts) == 1:
        return None, None, parts[0], protocol or "tcp"
    if len(parts) == 2:
        return None, parts[0] or None, parts[1], protocol or "tcp"
    if len(parts) == 3:
        return parts[0] or None, parts[1] or None, parts[2], protocol or "tcp"
    raise LocaldError(f"service '{service}': cannot read the port {text!r}")


def _range(service: str, text: str) -> list[int]:
    first, _, last = text.partition("-")
    try:
        low, high = int(first), int(last or first)
    except ValueError:
        raise LocaldError(f"service '{service}': {text!r} is not a port number or range") from None
    if not 0 < low <= high <= 65535:
        raise LocaldError(f"service '{service}': {text!r} is not a port number or range")
    return list(range(low, high + 1))
