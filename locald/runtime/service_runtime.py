"""The seam between the coordinator and the kinds of service it runs.

The coordinator walks the dependency graph and never asks what kind a service is: it hands each
service to the runtime that `handles` it (host processes, containers, or a fake one in tests) and
talks to it only through `ServiceRuntime`. One definition of the dependency conditions and one
cancellation error serve every kind.
"""

from __future__ import annotations

import threading
from typing import Callable, Protocol

from ..config.model import Service
from ..errors import LocaldError

STARTED, HEALTHY, COMPLETED = "started", "healthy", "completed_successfully"
CONDITIONS = (STARTED, HEALTHY, COMPLETED)  # what `depends_on` can ask for; None means "auto"


class StartFailed(LocaldError):
    """Bringing the stack up failed (a service exited, stayed unhealthy, or a start was refused)."""


class Cancelled(LocaldError):
    """A start or a wait stopped early: Ctrl-C, `locald down`, or another service failed."""


class EitherEvent:
    """Set when its own event or any of the `others` is: a cancel for one attempt (a convergence
    that fails stops its own waits) that still honours the run's global stop."""

    def __init__(self, *others):
        self._own = threading.Event()
        self._others = others

    def is_set(self) -> bool:
        return self._own.is_set() or any(e.is_set() for e in self._others)

    def set(self) -> None:
        self._own.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._own.wait(timeout) or self.is_set()


def effective_condition(condition: str | None, has_readiness: bool) -> str:
    """What "auto" (no condition written) means: healthy when the service has a readiness check,
    else started."""
    if condition in (None, "auto"):
        return HEALTHY if has_readiness else STARTED
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}")
    return condition


def condition_words(condition: str) -> str:
    return "completed successfully" if condition == COMPLETED else condition


class ServiceRuntime(Protocol):
    """Starts, stops and observes the services of one kind. Every method takes service names of the
    plan; a runtime is told which ones are its own through `handles`."""

    def handles(self, service: Service) -> bool:
        """Whether this runtime runs `service`."""

    def prepare(self, names: list[str], say: Callable[[str], None]) -> None:
        """Everything that can fail before anything starts (raises LocaldError)."""

    def start(self, names: list[str], cancel: threading.Event | None = None) -> None:
        """Start these services now, together (their dependencies are met). Raises LocaldError, or
        Cancelled when `cancel` is set (checked before each service it spawns) or after kill()."""

    def stop(self, names: list[str] | None = None) -> None:
        """Stop these services, or (None) everything this runtime started and what they share."""

    def kill(self) -> None:
        """No grace for anyone, and nothing starts afterwards: the second Ctrl-C. Safe to call from
        another thread while a start or a stop is in progress."""

    def restart(self, name: str) -> None:
        """Stop and start one service of the running stack."""

    def replan(self, plan, renewed: list[str], images=None) -> None:
        """The running stack converges to a new plan. Services in `renewed` (added, changed or removed;
        the changed and removed ones already stopped) are forgotten and start afresh from `plan`;
        the others keep running as they are. `images`: new image facts, for runtimes that use them."""

    def has_readiness(self, name: str) -> bool:
        """Whether "healthy" means more than "started" for this service."""

    def wait(self, name: str, condition: str, timeout: float, cancel: threading.Event | None = None) -> None:
        """Block until `condition` (one of CONDITIONS) holds. LocaldError naming the service and its last
        output when it cannot hold any more or `timeout` passes; Cancelled when `cancel` is set."""

    def final_exit(self, name: str) -> tuple[int, float] | None:
        """(exit code, wall-clock time it ended) once the service has ended and nothing will run it
        again (its restart policy is spent or says no); None while it runs or may run again."""

    def status(self) -> dict[str, dict]:
        """Live state of this runtime's services: state, health, pid or container, exit code, restarts."""
