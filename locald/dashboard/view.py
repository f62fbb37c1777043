"""What the page draws, from what a project's supervisor, state.json and the engine say (pure).

One row per service: kind, status, health and the last health-check output, restarts, start time (the
page counts the uptime), port, direct and named URL, and, for a crashed service, its exit code and last
lines. A tone per row (ok, busy, bad, off) colours both the row and its node in the graph. The graph is
laid out in layers: a service one column right of the last of its dependencies (graph.levels).
"""

from __future__ import annotations

from typing import Iterable, Mapping

from ..graph import Graph

BAD = frozenset(("failed", "crash-looping", "unhealthy", "dead"))
BUSY = frozenset(("waiting", "starting", "started", "restarting", "stopping", "created", "removing", "paused"))
RUNNING = frozenset(("running", "starting", "healthy", "unhealthy", "ready", "started"))
STOPPED = frozenset(("stopped", "stopping"))
CRASH_LINES = 12

NODE_WIDTH, NODE_HEIGHT, GAP_X, GAP_Y, MARGIN = 168, 44, 72, 18, 12


def tone(status: str, health: str | None, exit_code: int | None) -> str:
    if status in BAD or health == "unhealthy" or crashed(status, exit_code):
        return "bad"
    if status in BUSY or health == "starting":
        return "busy"
    if status in RUNNING or (status == "exited" and exit_code == 0):
        return "ok"
    return "off"


def crashed(status: str, exit_code: int | None) -> bool:
    """Its last run ended with an error, and nobody stopped it on purpose."""
    return exit_code not in (None, 0) and status not in STOPPED


def service_row(name: str, described: Mapping, live: Mapping, recorded: Mapping, public_url: str | None,
                facts: Mapping, tail: Iterable[str]) -> dict:
    """`described`: the supervisor's `describe` for this service; `live`: its `status` entry; `recorded`:
    its entry in state.json; `facts`: the engine's details of its container (containers only)."""
    status = live.get("state") or recorded.get("status") or "stopped"
    health = live.get("health")
    exit_code = live.get("exit_code") if live.get("exit_code") is not None else facts.get("exit_code")
    started_at = live.get("started_at") or facts.get("started_at")
    broken = crashed(status, exit_code)
    return {
        "name": name,
        "kind": described.get("kind") or recorded.get("kind") or "?",
        "status": status,
        "health": health,
        "health_output": live.get("health_output") or facts.get("health_output"),
        "restarts": live.get("restarts") or facts.get("restarts") or 0,
        "started_at": started_at if status in RUNNING else None,
        "pid": live.get("pid"),
        "port": described.get("port"),
        "url": described.get("url"),
        "public_url": public_url,
        "exit_code": exit_code,
        "message": live.get("message") or "",
        "tone": tone(status, health, exit_code),
        "crashed": broken,
        "last_lines": list(tail)[-CRASH_LINES:] if broken else [],
    }


def layout(description: Mapping[str, Mapping]) -> dict:
    """Nodes at (x, y) in columns of dependency levels, and one edge per dependency (from the
    dependency to the service that waits for it, with the condition it waits for)."""
    graph = Graph({name: [d["name"] for d in info.get("depends_on", ())] for name, info in description.items()})
    row: dict[str, float] = {}
    nodes = []
    levels = graph.levels()
    for column, level in enumerate(levels):
        # Fewer crossings: a service next to the mean row of what it depends on (stable for ties).
        def weight(name: str) -> float:
            deps = [row[d] for d in graph.dependencies(name) if d in row]
            return sum(deps) / len(deps) if deps else 0.0

        for index, name in enumerate(sorted(level, key=weight) if column else level):
            row[name] = index
            nodes.append({"name": name, "x": MARGIN + column * (NODE_WIDTH + GAP_X),
                          "y": MARGIN + index * (NODE_HEIGHT + GAP_Y)})
    edges = [{"from": d["name"], "to": name, "condition": d.get("condition") or "started",
              "required": d.get("required", True)}
             for name, info in description.items() for d in info.get("depends_on", ()) if d["name"] in description]
    tallest = max((len(level) for level in levels), default=0)
    return {"nodes": nodes, "edges": edges, "node_width": NODE_WIDTH, "node_height": NODE_HEIGHT,
            "width": 2 * MARGIN + len(levels) * NODE_WIDTH + max(len(levels) - 1, 0) * GAP_X,
            "height": 2 * MARGIN + tallest * NODE_HEIGHT + max(tallest - 1, 0) * GAP_Y}
