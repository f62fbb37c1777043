"""One compose project name, one running locald stack (of this OS user) at a time.

The label check (engine.check_owner) sees containers another locald.toml made; two `up`s started at
the same moment in two directories with the same [project] name would both pass it before either
created a container. So each run also holds a lock named after its compose project, for as long as
the process lives (the kernel drops it when the process dies, even by SIGKILL); the holder's
locald.toml is written in the lock file, for the error message.
"""

from __future__ import annotations

import fcntl
import os

from ...errors import LocaldError
from ...proxy import dirs
from . import errors

SUBDIR = "compose-names"
_held: dict[str, int] = {}  # compose project name -> the open lock file, kept for the process's life


def hold(compose_project: str, config: str) -> None:
    """Take the name for this process; LocaldError naming the other stack when a running one holds it.
    Without a usable runtime directory nothing is held (the label check still runs)."""
    if compose_project in _held:
        return
    try:
        path = dirs.private(dirs.runtime_dir() / SUBDIR) / f"{compose_project}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except (OSError, LocaldError):
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = path.read_text(errors="replace").strip()
        os.close(fd)
        if holder == config:
            return  # this locald.toml's own supervisor (e.g. `locald run` next to `up`)
        raise errors.name_clash(compose_project, {"(starting)": holder}) from None
    os.ftruncate(fd, 0)
    os.write(fd, config.encode())
    _held[compose_project] = fd
