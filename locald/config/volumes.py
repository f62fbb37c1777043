"""Compose's short volume syntax, `[SOURCE:]TARGET[:MODE]`, read as Compose reads it (compose-go's
format.ParseVolume), so `validate` refuses what `docker compose` would refuse at `up`."""

from __future__ import annotations

import re

# Modes compose-go understands; it silently ignores any other word, so a typo (`r0`) would mount rw.
MODES = ("ro", "rw", "nocopy", "z", "Z", "shared", "rshared", "slave", "rslave", "private", "rprivate",
         "consistent", "cached", "delegated")  # the last three: Docker Desktop's, accepted and ignored
_VOLUME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # Docker's rule for volume names
_DRIVE = re.compile(r"[A-Za-z]:")
_FORM = "write SOURCE:TARGET or SOURCE:TARGET:MODE"


def split(spec: str) -> list[str]:
    """The colon-separated parts; a colon right after a single letter belongs to it (a Windows drive)."""
    parts, buffer = [], ""
    for char in spec:
        if char == ":" and not (len(buffer) == 1 and buffer.isalpha()):
            parts.append(buffer)
            buffer = ""
        else:
            buffer += char
    return parts + [buffer]


def is_path(source: str) -> bool:
    """A bind mount's source (a host path, Windows ones included) rather than a named volume."""
    return source.startswith((".", "/", "~", "\\\\")) or bool(_DRIVE.match(source))


def problem(spec: str) -> str | None:
    """What is wrong with a short-syntax volume, in one sentence, or None."""
    if spec == "":
        return f"a volume cannot be empty: {_FORM}"
    parts = split(spec)
    if "" in parts:
        return f"volume {spec!r} has an empty part between colons: {_FORM}"
    if len(parts) > 3:
        return f"volume {spec!r} has too many colons: {_FORM}"
    target = parts[0] if len(parts) == 1 else parts[1]
    if len(parts) == 1 and _DRIVE.match(spec):
        return (f"volume {spec!r}: compose reads '{spec[:2]}' as a Windows drive letter; "
                "give the volume a name of two characters or more")
    if not target.startswith("/"):
        return f"volume {spec!r}: the container path {target!r} must be absolute (start with /)"
    if len(parts) > 1 and not is_path(parts[0]) and not _VOLUME_NAME.fullmatch(parts[0]):
        return (f"volume {spec!r}: the volume name {parts[0]!r} may only hold letters, digits, '_', '.' and '-' "
                "(a host path starts with ./, / or ~)")
    if len(parts) == 3:
        unknown = [mode for mode in parts[2].split(",") if mode not in MODES]
        if unknown:
            return f"volume {spec!r}: unknown mode {unknown[0]!r} (known: {', '.join(MODES[:-3])})"
    return None
