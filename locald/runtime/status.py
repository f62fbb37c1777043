"""What `locald status` shows: one row per service, from the running supervisor or the engine."""

from __future__ import annotations

import time
from pathlib import Path

from ..config.model import Project, state_dir_of
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


def config_age(project: Project) -> float | None:
    """Seconds since the running stack last applied its locald.toml (None when it does not run)."""
    if not supervisor_running(project.state_dir):
        return None
    applied = read_state(project.state_dir).get("config_applied")
    return max(0.0, time.time() - applied) if isinstance(applied, (int, float)) else None


def last_applied(file) -> Project | None:
    """The project a stack running from `file` applied last (see state.remember_applied); None when no
    stack runs there or its copy does not load."""
    from ..config import load_project_text
    from ..errors import ConfigError
    from .state import applied_text

    state_dir = state_dir_of(file)
    text = applied_text(state_dir) if supervisor_running(state_dir) else None
    if text is None:
        return None
    try:
        return load_project_text(text, Path(file).resolve())
    except ConfigError:
        return None
