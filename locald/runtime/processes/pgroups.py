"""Process groups on Linux: signal one, tell whether it still has a live member, see the process table
and tree, and identify a process by (pid, start time) so a reused pid is never mistaken for ours.
(Stopping with a grace period is stopper.py's.)

Liveness: `killpg(pgid, 0)` is one syscall, but it also succeeds while a member is a zombie (a leader
not reaped yet, or an orphan that a slow init has not reaped: seconds, on some machines); only then is
/proc read. `process_table` is the one full scan, for callers that look at many groups at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Mapping

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[bytes] | None:
    """Fields of /proc/PID/stat after the command name: [state, ppid, pgrp, session, ...]."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_start_time(pid: int) -> float | None:
    """Seconds after boot at which `pid` started; None when it does not exist. With the pid, an identity
    that survives pid reuse: the same pid with another start time is another process."""
    fields = _stat_fields(pid)
    return int(fields[19]) / _TICKS if fields else None


def is_same_process(pid: int, start_time: float | None) -> bool:
    """True when `pid` is alive (not a zombie) and is the process that started at `start_time`."""
    fields = _stat_fields(pid)
    if not fields or fields[0] == b"Z":
        return False
    return start_time is None or abs(int(fields[19]) / _TICKS - start_time) < 1e-6


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of the group."""
    try:
        os.killpg(pgid, 0)  # cheap answer for the common case: nothing left at all
    except ProcessLookupError:
        return []
    except PermissionError:
        pass
    members = []
    needle = str(pgid).encode()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and fields[2] == needle and fields[0] != b"Z":
                members.append(int(entry.name))
    return members


def group_alive(pgid: int) -> bool:
    return bool(group_members(pgid))


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    pgid: int
    start: float  # seconds after boot
    zombie: bool


def process_table() -> dict[int, ProcInfo]:
    """Every process now, from one pass over /proc (stat files only)."""
    table = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and len(fields) > 19:
                pid = int(entry.name)
                table[pid] = ProcInfo(pid, int(fields[1]), int(fields[2]), int(fields[19]) / _TICKS,
                                      fields[0] == b"Z")
    return table


def children_of(table: Mapping[int, ProcInfo]) -> dict[int, list[int]]:
    """pid -> its children's pids, from one process table."""
    children: dict[int, list[int]] = {}
    for info in table.values():
        children.setdefault(info.ppid, []).append(info.pid)
    return children


def descendants(children: Mapping[int, list[int]], roots: Iterable[int]) -> set[int]:
    """Pids below `roots` in the process tree (`children`: from children_of), roots excluded. Finds a
    daemon that left its group and dropped its environment while its parent is still alive."""
    found: set[int] = set()
    todo = list(roots)
    seen = set(todo)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in seen:
                seen.add(child)
                found.add(child)
                todo.append(child)
    return found


def environ_of(pid: int) -> set[bytes]:
    """The initial environment of `pid` as KEY=VALUE byte strings (empty when unreadable)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return set(fh.read().split(b"\0"))
    except OSError:
        return set()


def signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to the whole group; False when the group no longer exists."""
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False


def processes_with_env(pairs: Mapping[str, str]) -> list[int]:
    """Pids whose initial environment holds every KEY=VALUE of `pairs`. Finds descendants that left
    their process group (setsid, double fork): they still carry the environment locald gave them."""
    wanted = {f"{k}={v}".encode() for k, v in pairs.items()}
    me = os.getpid()
    return [int(e.name) for e in os.scandir("/proc")
            if e.name.isdigit() and int(e.name) != me and wanted <= environ_of(int(e.name))]
