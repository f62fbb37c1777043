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

MARKER = "LOCALD_STATE_DIR"


def marker_env(state_dir: Path) -> dict[str, str]:
    return {MARKER: str(state_dir.resolve())}


def find_leftovers(state_dir: Path) -> list[int]:
    needle = f"{MARKER}={state_dir.resolve()}".encode() + b"\0"
    me = os.getpid()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                env = fh.read()
        except OSError:
            continue
        if needle in env or env.endswith(needle[:-1]):
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def kill_leftovers(state_dir: Path, grace: float = 2.0) -> int:
    """SIGTERM every leftover process, SIGKILL what survives `grace` seconds. Returns how many were found."""
    pids = find_leftovers(state_dir)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    for pid in find_leftovers(state_dir):  # again: a dying parent may have spawned something
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(pids)
