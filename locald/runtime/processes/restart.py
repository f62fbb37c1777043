"""The restart policy of a host process, as a pure function: what to do after a run ended."""

from __future__ import annotations

import signal
from dataclasses import dataclass

BACKOFF_BASE = 0.1  # seconds before the first restart; doubles per quick restart (Docker's choice)
BACKOFF_MAX = 30.0
STABLE_AFTER = 10.0  # a run at least this long resets the backoff and the max_restarts count


def describe_exit(code: int | None) -> str:
    if code is None:
        return "did not start"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


@dataclass(frozen=True)
class AfterExit:
    state: str  # stopped | exited | failed | crash-looping | restarting
    delay: float | None  # seconds until the next run; None: no next run
    in_a_row: int  # restarts since the last stable run, this one included
    message: str


def after_exit(policy: str, max_restarts: int | None, code: int, ran: float, in_a_row: int, stopping: bool, *,
               base: float = BACKOFF_BASE, cap: float = BACKOFF_MAX, stable_after: float = STABLE_AFTER) -> AfterExit:
    """`policy`: no | on-failure | always. `ran`: how long the run lasted; `in_a_row`: restarts since
    the last stable run before this exit. Backoff doubles per quick restart, capped."""
    if ran >= stable_after:
        in_a_row = 0
    if stopping:
        return AfterExit("stopped", None, in_a_row, f"stopped ({describe_exit(code)})")
    if not (policy == "always" or (policy == "on-failure" and code != 0)):
        return AfterExit("exited" if code == 0 else "failed", None, in_a_row, describe_exit(code))
    if max_restarts is not None and in_a_row >= max_restarts:
        return AfterExit("crash-looping", None, in_a_row,
                         f"{describe_exit(code)}; gave up after {in_a_row} restarts in a row")
    in_a_row += 1
    delay = min(base * 2 ** (in_a_row - 1), cap)
    state = "crash-looping" if in_a_row >= 2 and ran < stable_after else "restarting"
    return AfterExit(state, delay, in_a_row, f"{describe_exit(code)}; restarting in {delay:.1f}s")
