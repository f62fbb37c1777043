"""The watcher loop: watchfiles (inotify through the Rust `notify` crate) gathers the changes under the
watched directories; a batch ends once no new change has come for STEP_MS (an editor saving ten files
is one batch), and each batch is routed by the rules and handed, action by action, to `on_change`.
Changes made while an action runs (a restart, a build) wait in watchfiles and come as the next batch.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from ...config.model import Project
from .rules import Change, Rules

STEP_MS = 50  # quiet time that ends a batch: the latency a change pays before its action starts
MAX_BATCH_MS = 1600  # a batch is handed over after this long even if changes keep coming

OnChange = Callable[[str, str, list[Change]], None]  # (service, action, changes)


class Watcher:
    def __init__(self, project: Project, names: list[str], on_change: OnChange,
                 on_error: Callable[[str], None] | None = None):
        """Watches the `watch` rules of the services `names`; `on_change(service, action, changes)` is
        called on the watcher's thread, one call at a time (restart, sync or rebuild)."""
        self.rules = Rules(project, names)
        self.on_change = on_change
        self.on_error = on_error or (lambda text: None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self) -> "Watcher":
        """Start watching (returns once the watches are in place); nothing to do without rules."""
        if self.rules and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="locald-watch", daemon=True)
            self._thread.start()
            self._ready.wait(10)
        return self

    def stop(self) -> None:
        """Stop watching; returns once an action in progress has finished."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _loop(self) -> None:
        import watchfiles

        roots = self.rules.roots()
        try:
            # A first (empty) yield tells us the watches are in place: `start` returns only then.
            for batch in watchfiles.watch(*roots, watch_filter=None, step=STEP_MS, debounce=MAX_BATCH_MS,
                                          stop_event=self._stop, rust_timeout=100, yield_on_timeout=True,
                                          raise_interrupt=False):
                self._ready.set()
                if batch:
                    self.handle({Path(path) for _, path in batch})
        except Exception as exc:  # the watcher must never take the stack down with it
            self.on_error(f"watch: stopped watching ({type(exc).__name__}: {exc})")
        finally:
            self._ready.set()

    def handle(self, paths: set[Path]) -> None:
        for service, action, changes in self.rules.route(paths):
            if self._stop.is_set():
                return
            try:
                self.on_change(service, action, changes)
            except Exception as exc:  # a bug in one action: say it, keep watching
                self.on_error(f"watch: {service} {action} failed ({type(exc).__name__}: {exc})")
