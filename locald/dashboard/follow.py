"""Followers that exist only while a page is open: a process's log file, read by the watch's tick, and
the output of `docker` children (engine events, a container's logs), each read by its own thread.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from typing import Callable

MAX_LINE = 16 * 1024  # longer lines reach the page cut (a log file may hold anything)
FIRST_READ = 256 * 1024  # of an existing log, only its end is read


def _text(line: bytes) -> str:
    return line[:MAX_LINE].decode("utf-8", "replace").rstrip("\r")


class FileTail:
    """New complete lines of a file that grows; starts with its last `backlog` lines. A file that
    shrank was truncated by a new run: it is read again from its start."""

    def __init__(self, path: Path, emit: Callable[[list[str]], None], backlog: int):
        self.path = path
        self.emit = emit
        self.offset = 0
        self.partial = b""
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        if size > FIRST_READ:
            self.offset = size - FIRST_READ
            self._read(skip_first=True, keep=backlog)
        else:
            self._read(keep=backlog)

    def poll(self) -> None:
        self._read()

    def _read(self, skip_first: bool = False, keep: int | None = None) -> None:
        try:
            with open(self.path, "rb") as fh:
                if os.fstat(fh.fileno()).st_size < self.offset:
                    self.offset, self.partial = 0, b""
                fh.seek(self.offset)
                data = fh.read()
                self.offset = fh.tell()
        except OSError:
            return
        if not data:
            return
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        if skip_first and lines:
            lines.pop(0)  # began in the middle of a line
        if keep is not None:
            lines = lines[-keep:] if keep else []
        if lines:
            self.emit([_text(line) for line in lines])


class ChildStream:
    """The output of a `docker` child (stderr too), line by line to `on_line(bytes)`, from a thread of
    its own; close() kills the child with whatever it started (its own session)."""

    def __init__(self, argv: list[str], on_line: Callable[[bytes], None]):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self._thread = threading.Thread(target=self._read, args=(on_line,), daemon=True, name="dashboard-stream")
        self._thread.start()

    def _read(self, on_line: Callable[[bytes], None]) -> None:
        for line in iter(self.proc.stdout.readline, b""):
            on_line(line)

    def close(self) -> None:
        from ..runtime.containers.engine import kill_group

        kill_group(self.proc)
        self.proc.wait()
        self._thread.join(timeout=2)
        self.proc.stdout.close()


def line_text(line: bytes) -> str:
    """One line of a stream as the page shows it."""
    return _text(line.rstrip(b"\n"))
