"""What a watch rule does to a running service, always through the stack's coordinator, so a watched
restart is an ordinary restart: status updates, the readiness wait, logs into the same sinks. One
line per action (`watch: web restarted (src/app.py)`); a failed action is reported in that line and
the stack keeps running.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from ...errors import LocaldError
from ..service_runtime import Cancelled
from .rules import Change

SHOWN = 3  # changed paths named in an action's line; the rest are counted
DONE = {"restart": "restarted", "sync": "synced", "rebuild": "rebuilt"}


class Actions:
    def __init__(self, coordinator, say: Callable[[str], None], root: Path):
        """`coordinator`: the running stack's (runtime/coordinator.py): `apply(name, verb, *args, replaces=)`
        runs a verb of the service's runtime and, when the verb replaced the service, waits until it
        is ready again."""
        self.coordinator = coordinator
        self.say = say
        self.root = root

    def __call__(self, service: str, action: str, changes: list[Change]) -> None:
        what = self.describe(changes)
        try:
            if action == "sync":
                self.coordinator.apply(service, "sync", changes, replaces=False)
            else:
                self.coordinator.apply(service, action)
        except Cancelled:
            return  # shutting down: `down` takes it from here
        except LocaldError as exc:
            self.say(f"watch: {service} not {DONE[action]} ({what}): {exc}")
            return
        self.say(f"watch: {service} {DONE[action]} ({what})")

    def describe(self, changes: list[Change]) -> str:
        paths = list(dict.fromkeys(_shown(c.path, self.root) for c in changes))
        more = len(paths) - SHOWN
        return ", ".join(paths[:SHOWN]) + (f" and {more} more" if more > 0 else "")


def _shown(path: Path, root: Path) -> str:
    rel = os.path.relpath(path, root)
    shown = path.as_posix() if rel.startswith("..") else Path(rel).as_posix()
    return shown if os.path.lexists(path) else shown + " deleted"
