"""Reading a configuration file (locald.toml, an env file) without surprises: only a regular file,
and only up to a size no hand-written file reaches, so `-f /dev/zero` or a FIFO is one sentence,
not a MemoryError or a hang."""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_BYTES = 16 * 2**20  # a 10,000-service locald.toml is about 0.6 MiB

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a pipe"), (stat.S_ISSOCK, "a socket"))


class Unreadable(Exception):
    """The file cannot be used; the message says why in words, to follow the file's name."""


def read_bytes(path: Path) -> bytes:
    """The content of a regular file of at most MAX_BYTES. FileNotFoundError when it does not exist;
    Unreadable for anything else that keeps it from being read."""
    try:
        mode = os.stat(path).st_mode  # before open(): opening a FIFO would wait for a writer
        if not stat.S_ISREG(mode):
            kind = next((words for test, words in _KINDS if test(mode)), "not a regular file")
            raise Unreadable(f"is {kind}, not a regular file")
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)  # /proc files and growing files can be larger than st_size
    except FileNotFoundError:
        raise
    except ValueError:  # a NUL byte in the name
        raise Unreadable("is not a usable file name (it contains a NUL byte)") from None
    except OSError as exc:
        raise Unreadable(f"cannot be read: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise Unreadable(f"is larger than {MAX_BYTES // 2**20} MiB: that is not a hand-written file")
    return data
