"""When a container meets a dependency condition, judged from one engine snapshot of it.

- started: up for STARTED_AFTER seconds by the engine's clock, so a container that crashes at once
  (or keeps crashing under a restart policy: each restart resets its uptime) fails `up` instead of
  passing as started; or exited with code 0.
- healthy: its health check passed. "starting" and "unhealthy" both mean not yet: health can
  recover, and the caller's timeout decides.
- completed_successfully: exited with code 0.
An exit is final unless the restart policy brings the container back; a policy that has used up its
`on-failure:N` restarts is final too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..service_runtime import COMPLETED, STARTED
from .engine import ContainerRow

# Two seconds, not one: on a busy machine the engine was measured reporting a container whose process
# had exited at once as "Up 1 second" (it notices exits late), never yet as "Up 2 seconds".
STARTED_AFTER = 2.0


@dataclass(frozen=True)
class RestartPolicy:
    kind: str  # no | always | on-failure | unless-stopped
    limit: int | None = None  # on-failure:N

    @classmethod
    def of(cls, definition: dict) -> "RestartPolicy":
        """The policy of a compose service definition (what the engine really applies)."""
        kind, _, limit = str(definition.get("restart") or "no").partition(":")
        return cls(kind, int(limit) if limit.isdigit() else None)

    def gave_up(self, code: int | None, restart_count: Callable[[], int]) -> str | None:
        """Why an exited container stays down, or None while the engine will start it again."""
        exited = f"exited with code {code}"
        if self.kind == "no" or (self.kind == "on-failure" and code == 0):
            return exited
        if self.kind == "on-failure" and self.limit is not None:
            count = restart_count()
            if count >= self.limit:
                return f"{exited}; Docker gave up after {count} restart{'s' if count != 1 else ''} (max_restarts = {self.limit})"
        return None


def judge(row: ContainerRow | None, condition: str, policy: RestartPolicy,
          restart_count: Callable[[], int]) -> bool | str | None:
    """True: met. A string: it can no longer be met (why). None: not yet."""
    if row is None:
        return None
    if row.state in ("exited", "dead"):
        if row.exit_code == 0 and condition in (STARTED, COMPLETED):
            return True
        return policy.gave_up(row.exit_code, restart_count)
    if condition == COMPLETED or row.state != "running":
        return None  # created, restarting (crash loop: the timeout says so), paused, removing
    if condition == STARTED:
        return True if row.up_for >= STARTED_AFTER else None
    return True if row.health == "healthy" else None
