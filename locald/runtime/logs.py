"""`locald logs`: host processes' logs from .locald/logs/NAME.log, containers' from the engine."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import deque
from pathlib import Path

from ..config.model import Project
from ..errors import LocaldError
from ..plan import compose_project_name
from .containers.runtime import compose_file, logs_argv, pump_compose_logs
from .output import Printer, open_sinks
from .state import log_dir


def _tail(path: Path, n: int | None) -> tuple[list[bytes], int]:
    """Last n lines of a file (all when n is None), and the offset to follow from."""
    try:
        with open(path, "rb") as fh:
            lines = deque(fh, maxlen=n) if n is not None else list(fh)
            return list(lines), fh.tell()
    except FileNotFoundError:
        return [], 0


def _follow_file(path: Path, offset: int, emit, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            with open(path, "rb") as fh:
                if os.fstat(fh.fileno()).st_size < offset:
                    offset = 0  # a new run truncated it
                fh.seek(offset)
                data = fh.read()
                offset = fh.tell()
        except FileNotFoundError:
            data = b""
        if data:
            emit(data)
        else:
            time.sleep(0.1)


def show(project: Project, names: list[str], follow: bool, tail: int | None, printer: Printer,
         stop: threading.Event | None = None) -> None:
    """Print the logs of `names` (default: all): processes' from their log files, containers' from the
    engine through `docker compose logs` on the run's compose file. Following, it returns once `stop`
    is set (or nothing is left to follow); every reader runs in its own thread, so a signal handler
    that sets `stop` ends it cleanly."""
    names = names or list(project.services)
    state_dir = project.state_dir
    stop = stop or threading.Event()
    threads = []
    sinks = open_sinks({n: None for n in names}, printer)

    def reader(target, *args) -> None:
        t = threading.Thread(target=target, args=args, daemon=True, name="logs")
        t.start()
        threads.append(t)

    for name in names:
        if project.services[name].is_container:
            continue
        path = log_dir(state_dir) / f"{name}.log"
        lines, offset = _tail(path, tail)
        sinks[name].feed(b"".join(lines))
        if follow:
            reader(_follow_file, path, offset, sinks[name].feed, stop)
    containers = [n for n in names if project.services[n].is_container]
    proc = None
    if containers and compose_file(state_dir).exists() and _own_containers(project, printer):
        from .containers.compose_cli import compose_argv

        compose = compose_argv([compose_file(state_dir)], compose_project_name(project), project.root)
        proc = subprocess.Popen(logs_argv(compose, containers, follow, tail), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=project.root,
                                start_new_session=True)  # our Ctrl-C is ours to handle, not its
        reader(pump_compose_logs, proc.stdout, sinks)
    try:
        while any(t.is_alive() for t in threads) and not stop.wait(0.1):
            pass
    finally:
        stop.set()
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        for t in threads:
            t.join(timeout=1)
        for sink in sinks.values():
            sink.close()


def _own_containers(project: Project, printer: Printer) -> bool:
    """Whether the containers under this project's compose name are this locald.toml's: `docker compose
    logs` goes by that name alone, and would show another stack's. Else a word why they are left out."""
    from .containers import engine

    try:
        engine.refuse_strangers(engine.Owner.of(project))
    except LocaldError as exc:  # theirs, or no engine: the processes' logs are still worth showing
        printer.system(f"containers' logs left out: {exc}")
        return False
    return True


def follow_until_interrupted(project: Project, names: list[str], tail: int | None, printer: Printer) -> None:
    """`show(..., follow=True)` until Ctrl-C (or SIGTERM), which ends it without a traceback."""
    stop = threading.Event()
    handlers = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        show(project, names, True, tail, printer, stop)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
