"""`watch`: file changes that restart, sync into or rebuild services of a running stack.

rules (compiled `watch` rules: which service a changed path concerns, what is left out), gitignore
(the project's .gitignore files, as git reads them), watcher (the watchfiles loop: debounced batches
→ rules → one call per action), actions (each action through the coordinator, one line each).
The supervisor starts it once the stack is ready and stops it before `down`.
"""

from __future__ import annotations

from typing import Callable

from ...config.model import Project


def start_watching(project: Project, names: list[str], coordinator, say: Callable[[str], None]):
    """The running Watcher of the services `names` that have `watch` rules, or None when none has."""
    watched = [n for n in names if project.services[n].watch]
    if not watched:
        return None
    from .actions import Actions
    from .watcher import Watcher

    return Watcher(project, watched, Actions(coordinator, say, project.root), on_error=say).start()
