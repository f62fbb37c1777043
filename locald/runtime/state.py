"""What a running stack leaves under .locald/, so any terminal (and the next run after a crash)
can find it: the supervisor's pid, every process group, the compose project, each service's status.

The supervisor holds an flock on `supervisor.lock` for its whole life: the kernel drops it when the
supervisor dies, even by SIGKILL, so "is one running?" never trusts a stale pid file.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Mapping

from .private import not_yours, open_private, private_dir, write_private

STATE_FILE = "state.json"
LOCK_FILE = "supervisor.lock"
LOG_DIR = "logs"
PORTS_FILE = "ports.json"  # auto-assigned host ports, kept for the next run while they stay free


def log_dir(state_dir: Path) -> Path:
    return state_dir / LOG_DIR


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
    private_dir(state_dir)
    write_private(state_dir / PORTS_FILE, json.dumps(dict(ports), indent=1, sort_keys=True))


def supervisor_running(state_dir: Path) -> bool:
    """True while some supervisor holds the lock of this project."""
    path = state_dir / LOCK_FILE
    try:
        fh = open(path, "r")
    except FileNotFoundError:
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
    """The supervisor's side: owns the lock and writes state.json atomically on every change."""

    def __init__(self, state_dir: Path):
        self.dir = state_dir
        self._lock_fh = None
        self._mutex = threading.Lock()
        self.data: dict[str, Any] = {}

    def acquire(self) -> None:
        private_dir(self.dir)  # 0700, tightened with its contents when an older run left it open
        private_dir(log_dir(self.dir))
        fh = os.fdopen(open_private(self.dir / LOCK_FILE, os.O_RDWR | os.O_CREAT), "r+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise AlreadyRunning() from None
        os.set_inheritable(fh.fileno(), False)  # children must not keep the lock alive after we die
        self._lock_fh = fh

    def release(self) -> None:
        if self._lock_fh:
            fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None

    def start(self, **fields: Any) -> None:
        with self._mutex:
            # Keep what a crashed run left (process groups, compose project) until cleanup has used it.
            self.data = {"processes": {}, "services": {}, **fields}
            self._write()

    def update(self, **fields: Any) -> None:
        with self._mutex:
            self.data.update(fields)
            self._write()

    def set_service(self, name: str, **fields: Any) -> None:
        with self._mutex:
            self.data.setdefault("services", {}).setdefault(name, {}).update(fields)
            self._write()

    def add_process(self, name: str, pid: int, pgid: int, start_time: float | None) -> None:
        with self._mutex:
            self.data.setdefault("processes", {})[name] = {"pid": pid, "pgid": pgid, "start": start_time}
            self._write()

    def remove_process(self, name: str, pid: int) -> None:
        with self._mutex:
            procs = self.data.setdefault("processes", {})
            if procs.get(name, {}).get("pid") == pid:
                del procs[name]
                self._write()

    def _write(self) -> None:
        self.data["updated"] = time.time()
        write_private(self.dir / STATE_FILE, json.dumps(self.data, indent=1))
