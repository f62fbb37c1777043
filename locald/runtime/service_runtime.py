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

    def start(self, names: list[str]) -> None:
        """Start these services now, together (their dependencies are met). Raises LocaldError."""

    def stop(self, names: list[str] | None = None) -> None:
        """Stop these services, or (None) everything this runtime started and what they share."""

    def kill(self) -> None:
        """No grace for anyone: the second Ctrl-C."""

    def restart(self, name: str) -> None:
        """Stop and start one service of the running stack."""

    def has_readiness(self, name: str) -> bool:
        """Whether "healthy" means more than "started" for this service."""

    def wait(self, name: str, condition: str, timeout: float, cancel: threading.Event | None = None) -> None:
        """Block until `condition` (one of CONDITIONS) holds. LocaldError naming the service and its last
        output when it cannot hold any more or `timeout` passes; Cancelled when `cancel` is set."""

    def status(self) -> dict[str, dict]:
        """Live state of this runtime's services: state, health, pid or container, exit code, restarts."""
