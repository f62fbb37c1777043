"""Stopping host-process services, many at once.

One pass over /proc finds every escaped descendant of every service being stopped (by the process
tree, and by the runner's token in the environment), then each group gets its stop signal, and one
loop waits for all of them, each with its own grace period counted from its signal, SIGKILLing what
outlives it. A `hurry` event (the second Ctrl-C) ends every grace period at once. Liveness is asked
of the runner threads (which reap their leaders) and of the kernel (killpg); /proc is read at most
once per round, only for groups where the kernel still counts zombies. Stopping 1,000 services costs
one scan, where a scan per service (and per poll) made `down` quadratic.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Iterable

from . import pgroups

KILL_SETTLE = 1.0  # after SIGKILL, how long to wait for the kernel to tear a group down


class _Target:
    def __init__(self, runner, pgid: int | None, grace: float):
        self.runner = runner
        self.pgid = pgid
        self.grace = grace
        self.strays: list[tuple[int, float | None]] = []
        self.deadline = 0.0
        self.killed_at: float | None = None

    def maybe_alive(self) -> bool | None:
        """True: something of it surely runs. False: all gone. None: only /proc can tell (the group
        exists for the kernel, which also counts zombies a slow init has not reaped yet)."""
        if not self.runner.supervising_done():
            self.runner.reap()
            return True
        if any(pgroups.is_same_process(pid, start) for pid, start in self.strays):
            return True
        if self.pgid is None:
            return False
        try:
            os.killpg(self.pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return None

    def send(self, sig: int) -> None:
        if self.pgid is not None:
            pgroups.signal_group(self.pgid, sig)
        for pid, start in self.strays:
            if pgroups.is_same_process(pid, start):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass


def find_strays(targets: Iterable[_Target]) -> None:
    """Fill each target's `strays`: processes outside its group that belong to it — below a group
    member in the tree (a `setsid env -i` daemon whose parent lives), or carrying its token (a
    double-forked daemon whose parent is gone). One /proc pass for all targets."""
    targets = list(targets)
    table = pgroups.process_table()
    by_group: dict[int, list[int]] = {}
    for info in table.values():
        by_group.setdefault(info.pgid, []).append(info.pid)
    ours = {t.pgid for t in targets if t.pgid is not None}
    children = pgroups.children_of(table)
    claimed: set[int] = set()
    for t in targets:
        if t.pgid is None:
            continue
        members = by_group.get(t.pgid, [])
        for pid in pgroups.descendants(children, members):
            info = table[pid]
            if info.pgid not in ours and not info.zombie:
                t.strays.append((pid, info.start))
                claimed.add(pid)
    # The environment: only processes started since the oldest of these runs can be its escapees.
    tokens = {f"{t.runner.token_var}={t.runner.token}".encode(): t for t in targets}
    since = min((s for s in (t.runner.spawned_since() for t in targets) if s is not None), default=None)
    me = os.getpid()
    for info in table.values():
        if (info.pid == me or info.zombie or info.pgid in ours or info.pid in claimed
                or since is None or info.start < since):
            continue
        env = pgroups.environ_of(info.pid)
        for token, t in tokens.items():
            if token in env:
                t.strays.append((info.pid, info.start))
                break


def _alive(targets: list[_Target]) -> list[_Target]:
    """The targets with something left; at most one /proc pass for all those the kernel cannot settle."""
    alive, unsure = [], []
    for t in targets:
        verdict = t.maybe_alive()
        if verdict is None:
            unsure.append(t)
        elif verdict:
            alive.append(t)
    if unsure:
        live_groups = {info.pgid for info in pgroups.process_table().values() if not info.zombie}
        alive += [t for t in unsure if t.pgid in live_groups]
    return alive


def stop_runners(runners, grace: float | None = None, hurry: threading.Event | None = None,
                 poll: float = 0.02) -> None:
    """Stop every runner of `runners` (grace None: each service's own stop_grace_period) and return
    once their processes are gone. Safe to call again, or from two threads at once."""
    targets = []
    for runner in runners:
        pgid = runner.begin_stop()
        targets.append(_Target(runner, pgid, runner.service.stop_grace_period if grace is None else grace))
    find_strays(targets)
    start = time.monotonic()
    for t in targets:
        if t.pgid is not None or t.strays:
            t.send(t.runner.stop_signal)
        t.deadline = start + t.grace
    left = _alive(targets)
    while left:
        now = time.monotonic()
        hurried = hurry is not None and hurry.is_set()
        for t in left:
            if t.killed_at is None and (hurried or now >= t.deadline):
                t.send(signal.SIGKILL)
                t.killed_at = now
                if not hurried:
                    t.runner.sink.note(f"did not stop within {t.grace:g}s of {t.runner.service.stop_signal}: killed")
        if all(t.killed_at is not None and now - t.killed_at > KILL_SETTLE for t in left):
            break  # SIGKILLed and still "alive": a zombie with a parent that does not reap; nothing more to do
        # Short sleeps first (most processes exit at once), then back off to spare the CPU.
        time.sleep(max(poll, min(0.1, (now - start) / 4)))
        left = _alive(left)
    for runner in runners:
        runner.finish_stop()
