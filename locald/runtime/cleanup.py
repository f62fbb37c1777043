"""Find and remove what a dead supervisor left behind: host processes and the compose project.

Every host process locald starts carries LOCALD_STATE_DIR=<project>/.locald in its environment, and
children inherit it. Scanning /proc for that marker finds the whole tree, including grandchildren that
left their process group with setsid, and never touches an unrelated process that reused a pid.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from .processes.pgroups import is_same_process, processes_with_env

MARKER = "LOCALD_STATE_DIR"


def marker_env(state_dir: Path) -> dict[str, str]:
    return {MARKER: str(state_dir.resolve())}


def find_leftovers(state_dir: Path) -> list[int]:
    return processes_with_env(marker_env(state_dir))


def kill_leftovers(state_dir: Path, grace: float = 2.0) -> int:
    """SIGTERM every leftover process, SIGKILL what survives `grace` seconds. Returns how many were found."""
    pids = find_leftovers(state_dir)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(is_same_process(p, None) for p in pids):
        time.sleep(0.05)
    for pid in find_leftovers(state_dir):  # again: a dying parent may have spawned something
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(pids)
