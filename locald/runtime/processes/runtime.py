"""Host processes behind the ServiceRuntime seam: one ProcessRunner per service."""

from __future__ import annotations

import os
import threading
from typing import Callable, Mapping

from ...config.model import Service
from ...errors import LocaldError
from ..cleanup import kill_leftovers
from ..output import LogSink
from ..service_runtime import Cancelled
from .runner import ProcessRunner
from .stopper import stop_runners


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
        # Every spawn happens under the gate, and kill() closes it: nothing starts after a kill.
        self._gate = threading.Lock()
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
        """Spawn each service in turn; `cancel` (or a kill) is checked before every spawn."""
        for name in names:
            runner = self._runner(name)
            with self._gate:
                if self._killed or (cancel is not None and cancel.is_set()):
                    raise Cancelled("cancelled before starting " + name)
                runner.start()

    def stop(self, names: list[str] | None = None) -> None:
        """Stop together: one pass finds every escaped process, each group gets its own grace period."""
        runners = [self.runners[n] for n in (self.runners if names is None else names) if n in self.runners]
        stop_runners(runners, hurry=self._hurry)

    def kill(self) -> None:
        """No grace for anyone, and no spawn after this (a start in progress ends with Cancelled)."""
        with self._gate:
            self._killed = True
        self._hurry.set()
        stop_runners(list(self.runners.values()), grace=0, hurry=self._hurry)
        kill_leftovers(self.plan.state_dir, grace=0, services_only=True)

    def restart(self, name: str) -> None:
        runner = self.runners.get(name)
        if runner is not None:
            runner.stop()
        with self._gate:
            if self._killed:
                raise Cancelled(f"not restarting {name}: shutting down")
            self.runners.pop(name, None)
            self._runner(name).start()

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
