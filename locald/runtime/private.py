"""Files only their owner may read: everything under .locald/ (compose.yaml, logs, state.json,
ports.json, supervisor.log) can hold secrets such as POSTGRES_PASSWORD or URLs with passwords.

Every writer goes through here: directories are 0700 and files 0600 whatever the caller's umask,
and a state directory left looser by an older run is tightened, contents included, the first time
it is used again. Writers never follow a symlink planted at the final path component.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from ..errors import LocaldError

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` as 0700 (missing parents too: only .locald/ and its subdirectories come here);
    an existing one with other bits is tightened, with everything inside it (an older run left
    0755/0644 there)."""
    path = Path(path)
    try:
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:
            pass
        except FileNotFoundError:
            private_dir(path.parent)
            path.mkdir(mode=DIR_MODE, exist_ok=True)
        if stat.S_IMODE(path.stat().st_mode) != DIR_MODE:  # an older run's 0755, or the umask's doing
            os.chmod(path, DIR_MODE)
            _tighten_contents(path)
    except PermissionError:
        raise not_yours(path) from None
    return path


def not_yours(path: Path) -> LocaldError:
    """The error for a state directory this user may not use."""
    try:
        owner = path.stat().st_uid
    except OSError:
        owner = None
    if owner is not None and owner != os.geteuid():
        return LocaldError(f"{path} belongs to another user (uid {owner}): run locald as that user")
    return LocaldError(f"cannot use {path}: permission denied")


def _tighten_contents(directory: Path) -> None:
    for root, dirs, files in os.walk(directory):  # os.walk does not descend into symlinked directories
        for name in dirs + files:
            entry = os.path.join(root, name)
            mode = os.lstat(entry).st_mode
            if stat.S_ISDIR(mode):
                os.chmod(entry, DIR_MODE)
            elif stat.S_ISREG(mode):
                os.chmod(entry, FILE_MODE)


def open_private(path: Path, flags: int) -> int:
    """os.open for a file of ours: created 0600, an existing one made 0600; no symlink is followed."""
    fd = os.open(path, flags | os.O_CLOEXEC | os.O_NOFOLLOW, FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:  # existed with other bits, or a strict umask
            os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def open_append(path: Path):
    """A private file opened for appending bytes (logs)."""
    return os.fdopen(open_private(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab")


def write_private(path: Path, data: str | bytes) -> None:
    """Replace `path` atomically with `data`, 0600: readers see the old file or the new one, never
    half of it, and never a moment where the content is readable by others."""
    path = Path(path)
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # 0600, O_EXCL
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), FILE_MODE)  # mkstemp's 0600 is masked by the umask: say it exactly
            fh.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
