"""Where the output of host processes goes: one raw log file per service (state_dir/logs/NAME.log, read
by `locald logs` from any terminal) and, when attached, one merged printer ("web    | line").

Speed comes from working on chunks, not lines: a reader hands over whatever os.read returned, the
sink appends it to the log file in one write, splits it once, and the printer writes all complete
lines of the chunk with one prefix join and one write. honcho does a queue put and a flushed print
per line instead. Everything stays bytes until the terminal: no decoding on the hot path.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from pathlib import Path
from typing import Mapping, TextIO

from honcho.colour import get_colours

from .private import open_private, private_dir

SYSTEM = "locald"
_MAX_PARTIAL = 64 * 1024  # a "line" longer than this is printed in pieces rather than held forever


def _ansi(code: str) -> bytes:
    return f"\033[{code}m".encode()


class Printer:
    """Merged, prefixed, optionally coloured output of several services; safe to call from many threads.
    Colour is on when the stream is a terminal (unless `colour` says otherwise); colours are honcho's."""

    def __init__(self, stream: TextIO | None = None, colour: bool | None = None, width: int = 0):
        self.stream = stream if stream is not None else sys.stdout
        if colour is None:
            try:
                colour = self.stream.isatty()
            except (AttributeError, ValueError):
                colour = False
        self.colour = colour
        self.width = max(width, len(SYSTEM))
        self._binary = getattr(self.stream, "buffer", None)  # sys.stdout: write bytes under the text layer
        self._colours = get_colours()
        self._prefixes: dict[tuple[str, str | None], bytes] = {}
        self._lock = threading.Lock()
        self.broken = False  # the reader went away (closed pipe): keep services running, stop printing

    def register(self, name: str) -> str:
        """Make room for `name` in the prefix column and hand out its colour."""
        with self._lock:
            if len(name) > self.width:
                self.width = len(name)
                self._prefixes.clear()
            return next(self._colours)

    def _prefix(self, name: str, colour: str | None) -> bytes:
        key = (name, colour)
        prefix = self._prefixes.get(key)
        if prefix is None:
            prefix = f"{name.ljust(self.width)} | ".encode()
            if self.colour and colour:
                prefix = _ansi("0") + _ansi(colour) + prefix + _ansi("0")
            self._prefixes[key] = prefix
        return prefix

    def write_lines(self, name: str, lines: list[bytes], colour: str | None = None) -> None:
        """Print complete lines (without their newline) of one service, in one write."""
        if not lines or self.broken:
            return
        with self._lock:
            prefix = self._prefix(name, colour)
            data = prefix + (b"\n" + prefix).join(lines) + b"\n"
            self._write(data)

    def system(self, text: str) -> None:
        """locald's own messages ("locald | web started"), in bold when coloured."""
        lines = [line.encode() for line in text.splitlines()] or [b""]
        self.write_lines(SYSTEM, lines, "1" if self.colour else None)

    def _write(self, data: bytes) -> None:
        try:
            if self._binary is not None:
                self.stream.flush()  # anything printed through the text layer goes first
                self._binary.write(data)
                self._binary.flush()
            else:
                self.stream.write(data.decode("utf-8", "replace"))
                self.stream.flush()
        except (BrokenPipeError, ValueError, OSError):
            self.broken = True


class LogSink:
    """One service's output: appended raw to its log file and forwarded line by line to the printer."""

    def __init__(self, name: str, log_dir: Path | None, printer: Printer | None, colour: str | None = None,
                 keep: int = 200, truncate: bool = False):
        """`log_dir` None: no file (e.g. `locald logs` replaying files through a printer)."""
        self.name = name
        self.printer = printer
        self.colour = colour if colour is not None or printer is None else printer.register(name)
        self.path: Path | None = None
        self._fd: int | None = None
        if log_dir is not None:
            self.path = private_dir(Path(log_dir)) / f"{name}.log"  # logs hold secrets: 0600 in 0700
            self._fd = open_private(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if truncate else 0))
        self._partial = b""
        self._tail: deque[bytes] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def feed(self, chunk: bytes, to_file: bool = True) -> None:
        """Take any piece of output; only complete lines reach the printer (the rest waits for its end).
        `to_file` False: print and remember, but do not append to the log file."""
        if not chunk:
            return
        with self._lock:
            if to_file:
                self._append(chunk)
            lines = (self._partial + chunk).split(b"\n")
            self._partial = lines.pop()
            if len(self._partial) > _MAX_PARTIAL:
                lines.append(self._partial)
                self._partial = b""
            self._emit(lines)

    def note(self, text: str) -> None:
        """A line from locald about this service: in its log file and, prefixed "locald |", on the printer."""
        with self._lock:
            self._append(f"[locald] {text}\n".encode())
        if self.printer is not None:
            self.printer.system(f"{self.name} {text}")

    def close(self) -> None:
        """Print an unfinished last line and close the log file. Safe to call twice."""
        with self._lock:
            if self._partial:
                self._emit([self._partial])
                self._partial = b""
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def last_lines(self, n: int = 20) -> list[str]:
        with self._lock:
            lines = list(self._tail)[-n:] if n > 0 else []
            if self._partial:
                lines = (lines + [self._partial])[-n:]
        return [line.decode("utf-8", "replace").rstrip("\r") for line in lines]

    def _append(self, data: bytes) -> None:
        if self._fd is None:
            return
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:  # a full or vanished disk: the service keeps running, its output still prints
            os.close(self._fd)
            self._fd = None
            if self.printer is not None:
                self.printer.system(f"{self.name}: cannot write {self.path} any more ({exc.strerror}): "
                                    "its output is no longer logged to a file")

    def _emit(self, lines: list[bytes]) -> None:
        if not lines:
            return
        self._tail.extend(lines[-(self._tail.maxlen or 1):])
        if self.printer is not None:
            self.printer.write_lines(self.name, lines, self.colour)


def open_sinks(log_dirs: Mapping[str, Path | None], printer: Printer | None,
               truncate: bool = False) -> dict[str, LogSink]:
    """One sink per service (`log_dirs`: name → where its log file goes, None for no file); every name
    is registered first so the prefix column fits the longest."""
    colours = {n: printer.register(n) for n in log_dirs} if printer is not None else {}
    return {n: LogSink(n, d, printer, colours.get(n), truncate=truncate) for n, d in log_dirs.items()}
