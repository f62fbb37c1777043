"""Which locald projects of this OS user are running: one 0600 file per supervisor in the user's private
runtime directory (next to the proxy's socket), naming the project's state directory.

The supervisor adds its file when it starts (holding its lock) and removes it when it stops. One that
crashed cannot remove it, so a reader lists a file only while the project's supervisor lock is held (the
kernel drops it with the process). Readers never delete: the next run of that project writes the same
file again, and a reader deleting a stale file could race with it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import LocaldError
from ..proxy import dirs
from ..runtime.private import write_private
from ..runtime.state import supervisor_running

SUBDIR = "projects"
log = logging.getLogger("locald.dashboard")


@dataclass(frozen=True)
class Entry:
    key: str  # stable for one state directory: the page names projects by it
    name: str
    root: Path
    state_dir: Path
    pid: int | None  # the supervisor's: a new run of the project is a new entry


def _directory() -> Path:
    return dirs.private(dirs.runtime_dir() / SUBDIR)


def key_of(state_dir: Path) -> str:
    return hashlib.sha256(str(Path(state_dir).resolve()).encode()).hexdigest()[:16]


def add(project) -> Path | None:
    """List a starting project (call with its supervisor lock held). None when the directory cannot be
    used: the stack runs all the same, the dashboard just does not show it."""
    try:
        path = _directory() / f"{key_of(project.state_dir)}.json"
        write_private(path, json.dumps({"name": project.name, "root": str(project.root),
                                        "state_dir": str(Path(project.state_dir).resolve()), "pid": os.getpid()}))
        return path
    except (OSError, LocaldError) as exc:
        log.warning("the dashboard will not list this project: %s", exc)
        return None


def remove(path: Path | None) -> None:
    """Unlist this supervisor's project (called as it ends, maybe after its lock is gone): a file a
    newer run of the project wrote meanwhile names another pid and stays."""
    if path is None:
        return
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def running() -> list[Entry]:
    """The projects whose supervisor runs now, by name."""
    try:
        files = sorted(_directory().glob("*.json"))
    except (OSError, LocaldError):
        return []
    entries = []
    for path in files:
        try:
            data = json.loads(path.read_text())
            entry = Entry(path.stem, str(data["name"]), Path(data["root"]), Path(data["state_dir"]), data.get("pid"))
            if supervisor_running(entry.state_dir):
                entries.append(entry)
        except (OSError, ValueError, KeyError, TypeError, LocaldError):
            continue  # not ours to read, or not a registry file: not listed
    return sorted(entries, key=lambda e: (e.name, str(e.root)))
