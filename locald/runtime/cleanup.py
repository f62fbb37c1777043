"""Find and remove what a dead supervisor left behind: host processes and the helpers it ran.

Three ways to find a leftover, because each alone misses some:
  records  state.json keeps each service's process group (leader pid, pgid, start time). A group
           whose leader is still the recorded process (same start time), or whose leader is gone
           while members remain, is ours; a pid reused by another process never matches.
  tree     everything below a leftover in the process tree: a daemon that left its group and
           dropped its environment (`setsid env -i …`) while its parent still lives.
  markers  every service process carries LOCALD_STATE_DIR=<project>/.locald, and the supervisor and
           everything it runs (docker CLI calls, a `compose up` in flight) LOCALD_SUPERVISOR: found
           even after their parent died, and never an unrelated process.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Mapping

from .processes.pgroups import ProcInfo, children_of, descendants, environ_of, is_same_process, process_start_time, process_table

MARKER = "LOCALD_STATE_DIR"
SUPERVISOR_MARKER = "LOCALD_SUPERVISOR"
PROCESS_MARKER = "LOCALD_PROCESS"  # one token per runner: finds that service's escaped descendants


def marker_env(state_dir: Path) -> dict[str, str]:
    """The marker of a service process of this project."""
    return {MARKER: str(state_dir.resolve())}


def supervisor_env(state_dir: Path) -> dict[str, str]:
    """The marker the supervisor puts in its own environment, so every child it runs carries it."""
    return {SUPERVISOR_MARKER: str(state_dir.resolve())}


def _ancestors(table: Mapping[int, ProcInfo], pid: int) -> set[int]:
    """`pid` and its ancestors: a `locald down` typed in a service's shell must not kill that shell."""
    found = set()
    while pid in table and pid not in found:
        found.add(pid)
        pid = table[pid].ppid
    return found


def find_leftovers(state_dir: Path, records: Mapping[str, Mapping] | None = None,
                   services_only: bool = False) -> list[int]:
    """Live processes of this project: the recorded groups (`records`: state.json's "processes"),
    everything carrying a marker (`services_only`: only the services' marker, not the supervisor's),
    and everything below those in the tree."""
    table = process_table()
    value = str(state_dir.resolve())
    wanted = {f"{MARKER}={value}".encode()}
    if not services_only:
        wanted.add(f"{SUPERVISOR_MARKER}={value}".encode())
    members: dict[int, list[int]] = {}
    for info in table.values():
        members.setdefault(info.pgid, []).append(info.pid)
    found: set[int] = set()
    for record in (records or {}).values():
        try:
            pgid, pid, start = int(record["pgid"]), int(record["pid"]), record.get("start")
        except (KeyError, TypeError, ValueError):
            continue
        # The leader gone (or a zombie) while members remain: the kernel cannot have given its pid
        # to anyone else yet, so the group is still ours. The leader alive: only with its start time.
        leader = table.get(pid)
        if pgid in members and (leader is None or leader.zombie or is_same_process(pid, start)):
            found.update(members[pgid])
    found.update(p for p, info in table.items() if not info.zombie and wanted & environ_of(p))
    found |= descendants(children_of(table), found)
    found -= _ancestors(table, os.getpid())
    return sorted(p for p in found if p in table and not table[p].zombie)


def kill_leftovers(state_dir: Path, grace: float = 2.0, records: Mapping[str, Mapping] | None = None,
                   services_only: bool = False) -> int:
    """SIGTERM every leftover process, SIGKILL what survives `grace` seconds. Returns how many were found."""
    found = find_leftovers(state_dir, records, services_only)
    targets = [(pid, process_start_time(pid)) for pid in found]
    _signal(targets, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(is_same_process(p, s) for p, s in targets):
        time.sleep(0.05)
    # again: a dying parent may have spawned something
    again = find_leftovers(state_dir, records, services_only)
    _signal([(pid, process_start_time(pid)) for pid in again], signal.SIGKILL)
    return len(found)


def _signal(targets, sig: int) -> None:
    for pid, start in targets:
        if start is not None and is_same_process(pid, start):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
