"""A running stack follows edits of its locald.toml (and the files it names: env files, adopted
compose files): on save it validates and converges; a file that does not validate changes nothing
and every problem is printed. One watcher thread on the directories of those files (not recursive:
a project tree can be huge), debounced so an editor's write-rename-chmod is one change."""

from __future__ import annotations

import threading
from pathlib import Path

from ..errors import ConfigError, LocaldError

DEBOUNCE_MS = 200


def watched_files(project) -> set[Path]:
    """locald.toml, the project's `.env`, every service's env_file and the adopted compose files."""
    root = project.root
    files = {project.file, root / ".env", *project.compose_files}
    for service in project.services.values():
        files.update(root / f for f in service.env_file)
    return {Path(f).resolve() for f in files}


class ConfigWatcher:
    def __init__(self, run, say):
        """`run`: the supervisor's Run (its `reload()` converges); `say`: where summaries go."""
        self.run = run
        self.say = say
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="config-watch", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _loop(self) -> None:
        from watchfiles import watch

        while not self._stop.is_set():
            files = watched_files(self.run.project)
            dirs = sorted({f.parent for f in files if f.parent.is_dir()})
            try:
                for changes in watch(*dirs, watch_filter=lambda _change, path: Path(path).resolve() in files,
                                     debounce=DEBOUNCE_MS, step=50, recursive=False, stop_event=self._stop,
                                     raise_interrupt=False):
                    if changes:
                        break  # converge, then watch again: the set of files may have changed
                else:
                    return  # stopped
            except (OSError, RuntimeError) as exc:  # a directory vanished under the watcher
                self.say(f"watching locald.toml stopped: {exc}")
                return
            if not self._stop.is_set():
                self.apply()

    def apply(self) -> None:
        """Validate and converge; report the outcome in one line (or every problem)."""
        try:
            changes = self.run.reload()
        except ConfigError as exc:
            self.say(f"{self.run.project.file.name} has {len(exc.problems)} problem"
                     f"{'s' if len(exc.problems) != 1 else ''}; the stack keeps running as it was:\n"
                     + "\n".join(str(p) for p in exc.problems))
            return
        except LocaldError as exc:
            self.say(f"applying {self.run.project.file.name} failed: {exc}")
            return
        if changes:
            self.say(changes.summary())
