"""The per-user directories of the proxy. Private (0700, owned by this user): the control socket in
the runtime directory is reachable by this OS user only, and the CA key never leaves the config one."""

from __future__ import annotations

import os
from pathlib import Path

from ..runtime.private import not_yours, private_dir


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
    """`path` as a directory only this user can enter (0700); refuses one that belongs to someone else,
    which root could otherwise enter and tighten without a word."""
    private_dir(path)
    if path.stat().st_uid != os.geteuid():
        raise not_yours(path)
    return path
