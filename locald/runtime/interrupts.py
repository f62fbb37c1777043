"""Ctrl-C (and SIGTERM, SIGHUP) for a supervisor: the first asks for a graceful stop, the second for
a kill now.

The signal handler only writes a byte to a pipe. A Python handler runs in the main thread between
any two bytecodes — possibly while that thread holds a lock (an Event's, the printer's, a runner's)
or is half-way through a start — so it must not set events, start threads or kill anything itself.
A watcher thread reads the pipe and does that work.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Callable

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupts:
    def __init__(self) -> None:
        self.stop = threading.Event()  # first signal: stop gracefully (the coordinator's cancel too)
        self.force = threading.Event()  # second: no grace for anyone
        self.count = 0
        self._killer: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._read, self._write = os.pipe()  # not inherited by children (Python's default)
        os.set_blocking(self._write, False)

    def install(self) -> None:
        for sig in SIGNALS:
            signal.signal(sig, self._handle)
        threading.Thread(target=self._watch, daemon=True, name="interrupts").start()

    def ignore_from_now(self) -> None:
        """Everything is stopped: a late Ctrl-C must not turn the exit status into "killed by SIGINT"
        (Python puts the default action back while it finalizes, unless a signal is ignored)."""
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_IGN)

    def on_force(self, killer: Callable[[], None]) -> None:
        """Who kills everything on the second signal; runs at once if it already came."""
        with self._lock:
            self._killer = killer
            now = self.force.is_set()
        if now:
            killer()

    def _handle(self, signum, frame) -> None:
        try:
            os.write(self._write, b"!")
        except OSError:  # the pipe is full: plenty of signals are already waiting to be counted
            pass

    def _watch(self) -> None:
        while True:
            for _ in os.read(self._read, 64):
                self.count += 1
                self.stop.set()
                if self.count >= 2:
                    self._kill()

    def _kill(self) -> None:
        with self._lock:
            if self.force.is_set():
                return
            self.force.set()
            killer = self._killer
        if killer is not None:
            killer()
