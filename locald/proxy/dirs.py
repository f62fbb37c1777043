"""The per-user directories of the proxy. Private (0700, owned by this user): the control socket in
the runtime directory is reachable by this OS user only, and the CA key never leaves the config one."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import LocaldError


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable)
    return Path(value) if value and os.path.isabs(value) else Path.home() / fallback


def state_dir() -> Path:
    """What should outlive a reboot: the proxy's sticky ports."""
    return private(_xdg("XDG_STATE_HOME", ".local/state") / "locald")


def runtime_dir() -> Path:
    """The running proxy's socket, lock, pid and log: $XDG_RUNTIME_DIR/locald, else the state directory."""
    if os.environ.get("XDG_RUNTIME_DIR", "").startswith("/"):
        return private(Path(os.environ["XDG_RUNTIME_DIR"]) / "locald")
    return state_dir()


def config_dir() -> Path:
    """The local CA: $XDG_CONFIG_HOME/locald, else ~/.config/locald."""
    return private(_xdg("XDG_CONFIG_HOME", ".config") / "locald")


def private(path: Path) -> Path:
    """`path` as a directory only this user can enter; refuses one that belongs to someone else."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.getuid():
        raise LocaldError(f"{path} belongs to another user (uid {info.st_uid}); locald keeps its private state there")
    if stat.S_IMODE(info.st_mode) != 0o700:
        path.chmod(0o700)
    return path
