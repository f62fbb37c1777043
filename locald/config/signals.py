"""Signal names as locald.toml writes them ('SIGTERM', 'TERM', 'SIGRTMIN+3') and their numbers on this
machine: one reading, used by `validate` and by the runtime that sends the signal."""

from __future__ import annotations

import re
import signal

NAMES = sorted(s.name for s in signal.Signals)  # what a misspelt name is compared with
_REALTIME = re.compile(r"SIGRTM(IN|AX)([+-][0-9]+)?")


def signal_number(name: str | int) -> int:
    """'SIGTERM', 'TERM', 'SIGRTMIN+3', 'RTMAX-1' or 15 -> the signal number; ValueError when this machine
    has no such signal. Realtime signals count from SIGRTMIN up or from SIGRTMAX down, within the two."""
    if isinstance(name, int):
        return name
    full = name.upper() if name.upper().startswith("SIG") else "SIG" + name.upper()
    try:
        return int(signal.Signals[full])
    except KeyError:
        pass
    realtime = _REALTIME.fullmatch(full)
    if realtime:
        end, offset = realtime.groups()
        number = (signal.SIGRTMIN if end == "IN" else signal.SIGRTMAX) + int(offset or 0)
        if signal.SIGRTMIN <= number <= signal.SIGRTMAX:
            return number
    raise ValueError(f"unknown signal {name!r}")


# How far the Docker engine names realtime signals (moby/sys/signal): RTMIN+15 up, RTMAX-14 down. Past those it
# refuses the name ("Invalid signal") but takes the number.
_ENGINE_REALTIME_REACH = {"IN": 15, "AX": 14}


def engine_signal(name: str) -> str:
    """A container's stop signal as the engine accepts it: the name when the engine knows it, else the number."""
    realtime = _REALTIME.fullmatch(name)
    if realtime and abs(int(realtime.group(2) or 0)) > _ENGINE_REALTIME_REACH[realtime.group(1)]:
        return str(signal_number(name))
    return name


def is_signal(name: str) -> bool:
    try:
        signal_number(name)
    except ValueError:
        return False
    return True
