"""The proxy's route table: host → (route, owner). A project claims its hosts all at once or not at all;
an owner (one registration connection) loses every route when it goes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import LocaldError

# Before the supervisor has started a service there is nothing to try; afterwards the proxy tries the
# backend and shows the 503 page only when nothing answers (a restart or crash between two updates).
NOT_STARTED = ("waiting", "stopping", "stopped")


@dataclass
class Route:
    host: str
    service: str
    port: int
    state: str = "waiting"
    target: str = "localhost"  # where the service listens: IPv4 or IPv6 loopback, whichever answers

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Route":
        return cls(host=str(data["host"]).lower(), service=str(data["service"]), port=int(data["port"]),
                   state=str(data.get("state", "waiting")), target=str(data.get("target", "localhost")))


class HostTaken(LocaldError):
    pass


class RouteTable:
    def __init__(self) -> None:
        self._by_host: dict[str, tuple[Route, Any]] = {}

    def claim(self, owner: Any, routes: list[Route]) -> None:
        """Give `owner` exactly these routes. `owner` has `project` and `root` (for the conflict message)."""
        from ..dashboard import HOST as DASHBOARD

        seen: dict[str, str] = {}
        for route in routes:
            if route.host == DASHBOARD:
                raise HostTaken(f"{DASHBOARD} is where locald's dashboard answers; give this project another "
                                "`domain` under [project] (or another `name`)")
            if route.host in seen:
                raise HostTaken(f"services '{seen[route.host]}' and '{route.service}' would both answer on "
                                f"{route.host}; rename one of them")
            seen[route.host] = route.service
            held = self._by_host.get(route.host)
            if held and held[1] is not owner:
                other = held[1]
                raise HostTaken(f"{route.host} is already served by project '{other.project}' ({other.root}); "
                                "stop that project, or give this one its own `domain` under [project]")
        self.release(owner)
        for route in routes:
            self._by_host[route.host] = (route, owner)

    def release(self, owner: Any) -> int:
        gone = [host for host, (_, o) in self._by_host.items() if o is owner]
        for host in gone:
            del self._by_host[host]
        return len(gone)

    def set_state(self, owner: Any, service: str, state: str) -> None:
        for route, o in self._by_host.values():
            if o is owner and route.service == service:
                route.state = state

    def lookup(self, host: str) -> tuple[Route, Any] | None:
        return self._by_host.get(host)

    def entries(self) -> list[tuple[Route, Any]]:
        """(route, owner) of every host, sorted by host."""
        return [self._by_host[host] for host in sorted(self._by_host)]

    def __len__(self) -> int:
        return len(self._by_host)
