"""Host processes behind the ServiceRuntime seam: one ProcessRunner per service."""

from __future__ import annotations

import os
import threading
from typing import Callable, Mapping

from ...config.model import Service
from ...errors import LocaldError
from ..cleanup import kill_leftovers
from ..output import LogSink
from .runner import ProcessRunner


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

    def start(self, names: list[str]) -> None:
        for name in names:
            self._runner(name).start()

    def stop(self, names: list[str] | None = None) -> None:
        """Stop in parallel: each runner waits out its own grace period."""
        runners = [self.runners[n] for n in (self.runners if names is None else names) if n in self.runners]
        threads = [threading.Thread(target=r.stop, name=f"stop-{r.name}") for r in runners]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def kill(self) -> None:
        kill_leftovers(self.plan.state_dir, grace=0)

    def restart(self, name: str) -> None:
        runner = self.runners.get(name)
        if runner is not None:
            runner.stop()
        self.runners.pop(name, None)
        self._runner(name).start()

    def has_readiness(self, name: str) -> bool:
        return self._runner(name).has_readiness_check

    def wait(self, name: str, condition: str, timeout: float, cancel: threading.Event | None = None) -> None:
        runner = self.runners.get(name)
        if runner is None:
            raise LocaldError(f"service {name} was not started")
        runner.wait(condition, timeout, cancel)

    def status(self) -> dict[str, dict]:
        return {name: runner.status() for name, runner in self.runners.items()}
