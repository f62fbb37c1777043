"""The live state of a compose project's containers, for readiness waits.

One `docker events` child (our own Popen, in its own session so it can be killed with its group,
and dying with the supervisor: see helpers.py) only says "something changed"; the truth is always a
fresh `docker ps` snapshot, shared by every waiter. Events make a wait react within tens of milliseconds without polling; a slow poll while
someone waits covers the moment before the event stream is connected.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

from ..helpers import spawn_helper
from . import engine

POLL_WHILE_WAITING = 1.0  # seconds between snapshots when no event arrives
EVENT_SETTLE = 0.25  # seconds between snapshots while the engine's list catches up with an event
SETTLE_FOR = 5.0  # seconds after an event during which it may still catch up
EVENTS = ("create", "start", "die", "destroy", "health_status", "restart", "oom", "kill")


class ContainerWatch:
    def __init__(self, owner: engine.Owner):
        self.owner = owner
        self._cond = threading.Condition()
        self._rows: list[engine.ContainerRow] = []
        self._taken = -1.0  # monotonic time the current snapshot was taken at
        self._error: Exception | None = None
        self._dirty = threading.Event()
        self._waiters = 0
        self._proc: subprocess.Popen | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._generation = 0

    def start(self) -> None:
        """Idempotent: connect the event stream and the refresher (before `compose up`, ideally)."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return
            self._closed = False
            argv = [engine.docker(), "events", "--filter", "type=container", *self.owner.filters(),
                    *[a for e in EVENTS for a in ("--filter", f"event={e}")], "--format", "{{.Action}}"]
            self._proc = spawn_helper(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
            threading.Thread(target=self._read, args=(self._proc,), daemon=True, name="docker-events").start()
            self._generation += 1
            threading.Thread(target=self._refresh_loop, args=(self._generation,), daemon=True,
                             name="docker-ps").start()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            proc, self._proc = self._proc, None
        self._dirty.set()
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()
        if proc is not None and proc.stdout:
            proc.stdout.close()

    def _read(self, proc: subprocess.Popen) -> None:
        for _ in iter(proc.stdout.readline, b""):
            self._dirty.set()

    def _refresh_loop(self, generation: int) -> None:
        # The engine logs an event before `docker ps` shows it (`die` comes before the container's
        # network is torn down and its new state is published): after an event, look again every
        # EVENT_SETTLE seconds for SETTLE_FOR seconds.
        settle_until = 0.0
        while not self._closed and generation == self._generation:
            settling = time.monotonic() < settle_until
            dirty = self._dirty.wait(EVENT_SETTLE if settling else POLL_WHILE_WAITING)
            if self._closed or generation != self._generation:
                return
            if dirty:
                settle_until = time.monotonic() + SETTLE_FOR
            if dirty or self._waiters or settling:
                self._dirty.clear()
                self.refresh()

    def refresh(self) -> None:
        taken = time.monotonic()
        try:
            rows, error = engine.containers(self.owner), None
        except Exception as exc:  # reported to the waiters, who decide
            rows, error = self._rows, exc
        with self._cond:
            self._rows, self._taken, self._error = rows, taken, error
            self._cond.notify_all()

    def latest(self) -> list[engine.ContainerRow]:
        """The last snapshot, without asking the engine (events keep it fresh after a change)."""
        with self._cond:
            return list(self._rows)

    def rows_after(self, since: float, timeout: float) -> tuple[list[engine.ContainerRow], float] | None:
        """A snapshot taken at or after `since` (monotonic), waiting up to `timeout`; None on timeout."""
        self._dirty.set()  # ask for a fresh one now
        return self._snapshot(lambda: self._taken < since, timeout)

    def next_rows(self, after: float, timeout: float) -> tuple[list[engine.ContainerRow], float] | None:
        """The first snapshot newer than the one taken at `after` (an event or the slow poll)."""
        return self._snapshot(lambda: self._taken <= after, timeout)

    def _snapshot(self, stale, timeout: float) -> tuple[list[engine.ContainerRow], float] | None:
        """Wait while `stale()` holds (under the condition's lock), up to `timeout`; None on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._waiters += 1
            try:
                while stale():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    self._cond.wait(remaining)
                if self._error is not None:
                    raise self._error
                return list(self._rows), self._taken
            finally:
                self._waiters -= 1
