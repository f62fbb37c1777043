"""What a running stack leaves under .locald/, so any terminal (and the next run after a crash)
can find it: the supervisor's pid, every process group, the compose project, each service's status.

The supervisor holds an flock on `supervisor.lock` for its whole life: the kernel drops it when the
supervisor dies, even by SIGKILL, so "is one running?" never trusts a stale pid file.

Writes are coalesced: a status change marks the state dirty and one writer thread replaces the file
at most every WRITE_DELAY seconds (atomically: readers in other terminals see a whole old or a whole
new file), so 1,000 services starting cost a handful of writes, not 1,000 rewrites of a file that
grows with the stack. Phase changes (`update`) are written at once. A write that fails (the directory
became a file, the disk is full) is reported once and never raised: shutdown must not stop halfway.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Mapping

from ..errors import LocaldError
from .private import not_yours, open_private, private_dir, write_private

STATE_FILE = "state.json"
LOCK_FILE = "supervisor.lock"
LOG_DIR = "logs"
PORTS_FILE = "ports.json"  # auto-assigned host ports, kept for the next run while they stay free
APPLIED_FILE = "applied.toml"  # the locald.toml a running stack applied last (for status/down on a broken edit)
WRITE_DELAY = 0.1  # seconds: status changes within this window reach state.json in one write


def log_dir(state_dir: Path) -> Path:
    return state_dir / LOG_DIR


def prepare_state_dir(state_dir: Path) -> Path:
    """The state directory, private and proven writable, before anything starts; a LocaldError in one
    sentence when it cannot be (a file in its place, a read-only disk, no permission)."""
    if state_dir.exists() and not state_dir.is_dir():
        raise LocaldError(f"{state_dir} is a file, but locald keeps its state in a directory there: "
                          "move the file away and try again")
    try:
        private_dir(log_dir(state_dir))
        probe = state_dir / ".write-test"
        write_private(probe, b"")
        probe.unlink()
    except OSError as exc:
        raise LocaldError(f"cannot write locald's state to {state_dir}: {exc.strerror or exc}; "
                          "it must be a writable directory") from None
    return state_dir


def read_state(state_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def read_ports(state_dir: Path) -> dict[str, int]:
    try:
        data = json.loads((state_dir / PORTS_FILE).read_text())
        return {k: int(v) for k, v in data.items()}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def remember_ports(state_dir: Path, ports: Mapping[str, int]) -> None:
    try:
        private_dir(state_dir)
        write_private(state_dir / PORTS_FILE, json.dumps(dict(ports), indent=1, sort_keys=True))
    except (OSError, LocaldError):
        pass  # a nicety for the next run; the state directory was proven writable before this run began


def remember_applied(state_dir: Path, project_file: Path) -> None:
    """Keep the text of the locald.toml just applied: while an edit does not validate, `status`, `logs`,
    `restart` and `down` still know the running stack by it."""
    try:
        write_private(state_dir / APPLIED_FILE, Path(project_file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, LocaldError):
        pass  # only a convenience: the running stack does not depend on it


def applied_text(state_dir: Path) -> str | None:
    try:
        return (state_dir / APPLIED_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def supervisor_running(state_dir: Path) -> bool:
    """True while some supervisor holds the lock of this project."""
    path = state_dir / LOCK_FILE
    try:
        fh = open(path, "r")
    except (FileNotFoundError, NotADirectoryError):
        return False
    except PermissionError:
        raise not_yours(state_dir) from None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


class AlreadyRunning(Exception):
    pass


class StateStore:
    """The supervisor's side: owns the lock and keeps state.json current (see the module's note)."""

    def __init__(self, state_dir: Path, on_error=None):
        """`on_error(text)`: told once when writes start failing (and again after they recovered)."""
        self.dir = state_dir
        self.on_error = on_error
        self.error: str | None = None
        self.writes = 0  # how many times state.json was replaced (coalescing keeps it far below the changes)
        self._lock_fh = None
        self._mutex = threading.Lock()
        self._changed = threading.Condition(self._mutex)
        self._dirty = False
        self._closed = False
        self._writer: threading.Thread | None = None
        self.data: dict[str, Any] = {}

    def acquire(self) -> None:
        """Take the project's lock (AlreadyRunning when another supervisor has it); LocaldError when
        the state directory cannot be used."""
        prepare_state_dir(self.dir)  # 0700, tightened with its contents when an older run left it open
        try:
            fh = os.fdopen(open_private(self.dir / LOCK_FILE, os.O_RDWR | os.O_CREAT), "r+")
        except OSError as exc:
            raise LocaldError(f"cannot create {self.dir / LOCK_FILE}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise AlreadyRunning() from None
        os.set_inheritable(fh.fileno(), False)  # children must not keep the lock alive after we die
        self._lock_fh = fh
        self._writer = threading.Thread(target=self._write_loop, daemon=True, name="state-writer")
        self._writer.start()

    def release(self) -> None:
        """Write what is pending, stop the writer, drop the lock."""
        with self._mutex:
            self._closed = True
            self._changed.notify_all()
        if self._writer is not None:
            self._writer.join()
            self._writer = None
        self.flush()
        if self._lock_fh:
            fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None

    def start(self, **fields: Any) -> None:
        with self._mutex:
            self.data = {"processes": {}, "services": {}, **fields}
            self._write()

    def update(self, **fields: Any) -> None:
        """Top-level fields (phase, error, ports): written at once, readers wait for them."""
        with self._mutex:
            self.data.update(fields)
            self._write()

    def set_service(self, name: str, **fields: Any) -> None:
        with self._mutex:
            self.data.setdefault("services", {}).setdefault(name, {}).update(fields)
            self._mark()

    def forget_service(self, name: str) -> None:
        """A service removed from the running stack (its processes are gone already)."""
        with self._mutex:
            self.data.get("services", {}).pop(name, None)
            self.data.get("processes", {}).pop(name, None)
            self._mark()

    def add_process(self, name: str, pid: int, pgid: int, start_time: float | None) -> None:
        """Record a process group, for the clean-up after a crash."""
        with self._mutex:
            self.data.setdefault("processes", {})[name] = {"pid": pid, "pgid": pgid, "start": start_time}
            self._mark()

    def flush(self) -> None:
        with self._mutex:
            if self._dirty:
                self._write()

    def _mark(self) -> None:
        if not self._dirty:
            self._dirty = True
            self._changed.notify_all()

    def _write_loop(self) -> None:
        with self._mutex:
            while not self._closed:
                if not self._dirty:
                    self._changed.wait()
                    continue
                self._changed.wait(WRITE_DELAY)  # let more changes join this write (or close)
                if self._dirty:
                    self._write()

    def _write(self) -> None:
        """Replace state.json with `data` (mutex held); a failure is reported, never raised."""
        self.data["updated"] = time.time()
        self._dirty = False
        self.writes += 1
        try:
            write_private(self.dir / STATE_FILE, json.dumps(self.data, separators=(",", ":")))
        except (OSError, LocaldError) as exc:
            text = getattr(exc, "strerror", None) or str(exc)
            if self.error is None and self.on_error is not None:
                self.on_error(f"cannot write {self.dir / STATE_FILE} ({text}): other terminals may not see "
                              "this run's state; locald carries on and still stops everything")
            self.error = text
        else:
            self.error = None
