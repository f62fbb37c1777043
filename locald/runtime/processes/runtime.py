"""Host processes behind the ServiceRuntime seam: one ProcessRunner per service."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Mapping

from ...config.model import Service
from ...errors import LocaldError
from ..cleanup import kill_leftovers
from ..output import LogSink
from ..service_runtime import Cancelled
from .runner import ProcessRunner
from .stopper import stop_runners

SPAWNERS = 4  # services spawned at once by one start call


class ProcessRuntime:
    def __init__(self, plan, sinks: Mapping[str, LogSink], on_spawn: Callable | None = None,
                 base_env: Mapping[str, str] = os.environ):
        """`sinks`: where each service's output goes. `on_spawn(name, pid, pgid, start_time)`: record a
        new process group (for crash clean-up)."""
        self.plan = plan
        self.sinks = sinks
        self.on_spawn = on_spawn
        self.base_env = base_env
        self.runners: dict[str, ProcessRunner] = {}
        # Every spawn passes the gate; kill() closes it and waits for the spawns in flight, so nothing
        # starts after a kill and what started just before it is killed too.
        self._gate = threading.Condition()
        self._spawning = 0
        self._killed = False
        self._hurry = threading.Event()  # set by kill(): stops in progress skip their grace periods

    def handles(self, service: Service) -> bool:
        return not service.is_container

    def _runner(self, name: str) -> ProcessRunner:
        runner = self.runners.get(name)
        if runner is None:
            runner = self.runners[name] = ProcessRunner(self.plan.service(name), self.plan, self.sinks[name],
                                                        on_spawn=self.on_spawn, base_env=self.base_env)
        return runner

    def prepare(self, names: list[str], say: Callable[[str], None]) -> None:
        for name in names:
            self._runner(name)

    def start(self, names: list[str], cancel: threading.Event | None = None) -> None:
        """Spawn these services, a few at a time (each fork+exec waits for the child's exec: two cores
        overlap that); `cancel` (or a kill) is checked before every spawn, and the first failure
        ends the batch."""
        runners = [self._runner(n) for n in names]
        failed = threading.Event()
        if len(runners) == 1:
            self._start_one(runners[0], cancel, failed)
            return
        with ThreadPoolExecutor(min(SPAWNERS, len(runners)), thread_name_prefix="spawn") as pool:
            futures = [pool.submit(self._start_one, r, cancel, failed) for r in runners]
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:  # the failure that stopped the batch, not the cancellations it caused
            raise next((e for e in errors if not isinstance(e, Cancelled)), errors[0])

    def _start_one(self, runner: ProcessRunner, cancel: threading.Event | None, failed: threading.Event) -> None:
        with self._gate:
            if self._killed or failed.is_set() or (cancel is not None and cancel.is_set()):
                raise Cancelled("cancelled before starting " + runner.name)
            self._spawning += 1
        try:
            runner.start()
        except BaseException:
            failed.set()
            raise
        finally:
            with self._gate:
                self._spawning -= 1
                self._gate.notify_all()

    def stop(self, names: list[str] | None = None) -> None:
        """Stop together: one pass finds every escaped process, each group gets its own grace period."""
        runners = [self.runners[n] for n in (self.runners if names is None else names) if n in self.runners]
        stop_runners(runners, hurry=self._hurry)

    def kill(self) -> None:
        """No grace for anyone, and no spawn after this (a start in progress ends with Cancelled)."""
        with self._gate:
            self._killed = True
            while self._spawning:
                self._gate.wait()
        self._hurry.set()
        stop_runners(list(self.runners.values()), grace=0, hurry=self._hurry)
        kill_leftovers(self.plan.state_dir, grace=0, services_only=True)

    def restart(self, name: str) -> None:
        runner = self.runners.get(name)
        if runner is not None:
            runner.stop()
        self.runners.pop(name, None)
        self._start_one(self._runner(name), None, threading.Event())

    def replan(self, plan, renewed: list[str], images=None) -> None:
        self.plan = plan
        for name in renewed:
            self.runners.pop(name, None)

    def has_readiness(self, name: str) -> bool:
        return self._runner(name).has_readiness_check

    def wait(self, name: str, condition: str, timeout: float, cancel: threading.Event | None = None) -> None:
        runner = self.runners.get(name)
        if runner is None:
            raise LocaldError(f"service {name} was not started")
        runner.wait(condition, timeout, cancel)

    def final_exit(self, name: str) -> tuple[int, float] | None:
        runner = self.runners.get(name)
        return runner.final_exit() if runner is not None else None

    def status(self) -> dict[str, dict]:
        return {name: runner.status() for name, runner in self.runners.items()}
