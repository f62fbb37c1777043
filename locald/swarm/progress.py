"""Where one service of a deploy stands, from the engine's task states (no connection from outside).

Swarm reports a task `starting` once its container started and `running` only once its health check
passed (the executor waits for `healthy`), so `started` is "starting or running", `healthy` is
"running", and `completed` is a task that reached `complete` with exit code 0.
Only tasks created by this deploy can fail it (`seen` holds the ones that existed before); a service
that restarts on failure is given `CRASH_LOOP` failed tasks (or its `max_attempts`) before the deploy
gives up on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .cluster import Service, Task

FAILED = ("failed", "rejected")
CRASH_LOOP = 3
STARTED = ("starting", "running")


@dataclass(frozen=True)
class Progress:
    state: str  # what to show: a task state, or healthy / running / completed once ready
    ready: bool = False
    failure: str | None = None  # set when the deploy must stop: the task's error


def attempts(restart_policy: dict) -> int:
    """How many failed tasks end the wait (swarm keeps restarting up to its own limit)."""
    if restart_policy.get("condition", "any") == "none":
        return 1
    most = restart_policy.get("max_attempts")
    return min(CRASH_LOOP, most + 1) if most else CRASH_LOOP


def progress(service: Service | None, need: str, seen: set[str], allowed_failures: int,
             healthcheck: bool) -> Progress:
    """need: started | healthy | completed (what the services after it wait for)."""
    if service is None:
        return Progress("not created")
    failed = [t for t in service.tasks if t.id not in seen and t.state in FAILED]
    if len(failed) >= allowed_failures:
        return Progress(failed[-1].state, failure=task_error(failed[-1]))
    if service.update_state in ("paused", "rollback_paused"):
        return Progress("update paused", failure=service.update_message or "the update was paused")
    if service.job:  # an opt-in swarm job: only the tasks of its present run count
        tasks = [t for t in service.tasks if t.job_iteration == service.job_iteration]
    else:  # the tasks this deploy made; none: the spec did not change, its latest task stands
        tasks = [t for t in service.tasks if t.id not in seen] or service.tasks[-1:]
    done = [t for t in tasks if t.state == "complete" and t.exit_code in (None, 0)]
    if service.update_state == "updating":
        return Progress("updating")
    if done and (need == "completed" or not any(t.state in STARTED for t in tasks)):
        return Progress("completed", ready=True)
    if need != "completed":
        live = {t.state for t in tasks if t.desired == "running"}
        if "running" in live:
            return Progress("healthy" if healthcheck else "running", ready=True)
        if need == "started" and "starting" in live:
            return Progress("started", ready=True)
    return Progress(_describe(tasks[-1]) if tasks else "pending")


def task_error(task: Task) -> str:
    text = task.error or task.message or task.state
    if task.exit_code not in (None, 0) and f"({task.exit_code})" not in text:
        text += f" (exit code {task.exit_code})"
    return text


def _describe(task: Task) -> str:
    """The latest task's state, with the scheduler's reason when it waits (a port in use, no image…)."""
    if task.error and task.state not in FAILED:
        return f"{task.state}: {task.error}"
    return task.state
