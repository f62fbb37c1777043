"""Process groups on Linux: signal one, tell whether it still has a live member, stop it with a grace
period, and identify a process by (pid, start time) so a reused pid is never mistaken for ours.

Liveness reads /proc rather than `killpg(pgid, 0)`: that call also succeeds for zombies, and a
leader that exited but was not reaped yet must not keep a group "alive".
"""

from __future__ import annotations

import os
import signal
import time
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
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                env = set(fh.read().split(b"\0"))
        except OSError:
            continue
        if wanted <= env:
            found.append(int(entry.name))
    return found


def _signal_pids(pids: Iterable[tuple[int, float | None]], sig: int) -> None:
    for pid, start in pids:
        if is_same_process(pid, start):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


def _wait_gone(left, limit: float) -> None:
    end = time.monotonic() + limit
    while left() and time.monotonic() < end:
        time.sleep(0.01)


def stop_group(pgid: int | None, sig: int, grace: float,
               strays: Iterable[int] = (), poll: float = 0.02) -> bool:
    """Send `sig` to the group (and to `strays`: pids outside it, such as escaped grandchildren), wait
    until none is left or `grace` seconds have passed since the signal, then SIGKILL what remains.
    Returns True when SIGKILL was needed. Polls only while stopping (no fd tells a group is empty)."""
    strays = [(p, process_start_time(p)) for p in strays]
    start = time.monotonic()
    deadline = start + grace
    if pgid is not None:
        signal_group(pgid, sig)
    _signal_pids(strays, sig)

    def left() -> bool:
        return (pgid is not None and group_alive(pgid)) or any(is_same_process(p, s) for p, s in strays)

    while left():
        now = time.monotonic()
        if now >= deadline:
            if pgid is not None:
                signal_group(pgid, signal.SIGKILL)
            _signal_pids(strays, signal.SIGKILL)
            _wait_gone(left, 1.0)  # SIGKILL is not instant: let the kernel tear them down
            return True
        # Short sleeps first (most processes exit at once), then back off to spare the CPU.
        time.sleep(min(deadline - now, max(poll, min(0.1, (now - start) / 4))))
    return False
