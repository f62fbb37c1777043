"""What `locald status` shows: one row per service, from the running supervisor or the engine."""

from __future__ import annotations

from ..config.model import Project
from ..errors import LocaldError
from ..plan import make_plan
from .control import request
from .state import read_ports, read_state, supervisor_running


def stack_status(project: Project) -> list[dict]:
    state_dir = project.state_dir
    state = read_state(state_dir)
    running = supervisor_running(state_dir)
    live: dict[str, dict] = {}
    selected: set[str] = set()
    if running:
        try:
            live = request(state_dir, {"action": "status"}, timeout=10).get("services", {})
        except LocaldError:
            pass
        selected = set(state.get("names", []))
    # what the running stack really uses (its recorded ports), not what a new run would pick
    plan = make_plan(project, state.get("container_ports") if running else None,
                     state.get("ports") if running else read_ports(state_dir), check_free=False)
    named = state.get("public_urls", {}) if running else {}  # what the proxy serves for this run
    rows = []
    for name, service in project.services.items():
        info = live.get(name, {})
        status = info.get("state") or (state.get("services", {}).get(name, {}).get("status") if name in selected
                                        else None) or "stopped"
        publishes = plan.publishes(name)
        rows.append({
            "name": name,
            "kind": service.kind,
            "status": status,
            "health": info.get("health") or "-",
            "port": plan.ports.get(name) if publishes else None,
            "url": plan.url(name) if publishes and service.kind != "worker" else None,
            "public_url": named.get(name),
            "pid": info.get("pid"),
            "restarts": info.get("restarts", 0),
            "exit_code": info.get("exit_code"),
        })
    return rows
