"""What `locald status` shows: one row per service, from the running supervisor or the engine."""

from __future__ import annotations

from ..config.model import Project
from ..errors import LocaldError
from ..plan import make_plan
from .control import request
from .state import read_state, supervisor_running


def stack_status(project: Project) -> list[dict]:
    plan = make_plan(project, check_free=False)
    state = read_state(plan.state_dir)
    running = supervisor_running(plan.state_dir)
    live: dict[str, dict] = {}
    selected: set[str] = set()
    if running:
        try:
            live = request(plan.state_dir, {"action": "status"}, timeout=10).get("services", {})
        except LocaldError:
            pass
        # what the running stack really uses, not what a new run would pick
        plan.ports.update(state.get("ports", {}))
        plan.container_ports.update(state.get("container_ports", {}))
        selected = set(state.get("names", []))
    rows = []
    for name, service in project.services.items():
        info = live.get(name, {})
        status = info.get("state") or (state.get("services", {}).get(name, {}).get("status") if name in selected
                                        else None) or "stopped"
        port = plan.ports.get(name)
        publishes = not service.is_container or name in plan.container_ports
        rows.append({
            "name": name,
            "kind": service.kind,
            "status": status,
            "health": info.get("health") or "-",
            "port": port if publishes else None,
            "url": plan.url(name) if (port and publishes and service.kind != "worker") else None,
            "pid": info.get("pid"),
            "restarts": info.get("restarts", 0),
            "exit_code": info.get("exit_code"),
        })
    return rows
