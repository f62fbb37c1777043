"""The single owner of a running stack: one dependency graph over every kind of service.

It never asks what kind a service is: each service belongs to the runtime that `handles` it (see
service_runtime.py), and the coordinator only starts, stops, waits for and observes through that
seam. Start: every service starts as soon as its own dependencies meet their condition; services
that become startable together start together (one call per runtime: containers in one compose
call). Stop: reverse dependency order, one level at a time, each level in parallel.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Callable, Sequence

from ..config.model import Dependency
from ..errors import LocaldError
from ..plan import Plan
from .ports import busy_port_problem
from .service_runtime import COMPLETED, Cancelled, ServiceRuntime, StartFailed, condition_words, effective_condition

BATCH_WINDOW = 0.02  # seconds to gather services that became startable together into one start call


class Coordinator:
    def __init__(self, plan: Plan, names: list[str], runtimes: Sequence[ServiceRuntime],
                 say: Callable[[str], None] | None = None, on_status: Callable[..., None] | None = None,
                 cancel: threading.Event | None = None):
        """`names`: the services of this run, in start order. `runtimes`: who runs what (the first
        that handles a service runs it). `on_status(name, **fields)`: record a status change.
        `cancel`: set by whoever may stop the start (a signal); every wait watches it."""
        self.plan = plan
        self.names = names
        self.say = say or (lambda text: None)
        self.on_status = on_status or (lambda name, **fields: None)
        self.runtime_of: dict[str, ServiceRuntime] = {}
        for name in names:
            service = plan.service(name)
            runtime = next((r for r in runtimes if r.handles(service)), None)
            if runtime is None:
                raise LocaldError(f"no runtime can run service '{name}' (kind {service.kind})")
            self.runtime_of[name] = runtime
        self.runtimes = [r for r in runtimes if any(self.runtime_of[n] is r for n in names)]
        self.cancel = cancel or threading.Event()
        self.started: dict[str, threading.Event] = {n: threading.Event() for n in names}

    def _names_of(self, runtime: ServiceRuntime, names) -> list[str]:
        return [n for n in names if self.runtime_of[n] is runtime]

    # --- before anything starts ------------------------------------------------------------------

    def preflight(self) -> None:
        """Everything that can fail before anything starts."""
        for name in self.names:
            problem = busy_port_problem(self.plan.service(name))
            if problem:
                raise StartFailed(problem)
        for runtime in self.runtimes:
            runtime.prepare(self._names_of(runtime, self.names), self.say)

    # --- start -------------------------------------------------------------------------------------

    def up(self) -> None:
        """Start the selection; on any failure stop waiting and raise StartFailed (the caller stops
        what was started with `down`)."""
        for name in self.names:
            self.on_status(name, status="waiting", kind=self.plan.service(name).kind)
        ready: queue.Queue = queue.Queue()

        def waiter(name: str) -> None:
            try:
                self._dependencies_met(name)
                ready.put((name, None))
            except LocaldError as exc:
                ready.put((name, exc))

        for name in self.names:
            threading.Thread(target=waiter, args=(name,), daemon=True, name=f"deps-{name}").start()
        pending = set(self.names)
        try:
            while pending:
                batch = [ready.get()]
                time.sleep(BATCH_WINDOW)
                while True:
                    try:
                        batch.append(ready.get_nowait())
                    except queue.Empty:
                        break
                for name, error in batch:
                    pending.discard(name)
                    if error is not None:
                        raise error
                self._start_batch([name for name, _ in batch])
            self._await_all_ready()
        except BaseException as exc:
            self.cancel.set()
            if isinstance(exc, LocaldError) and not isinstance(exc, StartFailed):
                exc = StartFailed(str(exc))
            raise exc

    def _dependencies_met(self, name: str) -> None:
        """Block until each dependency meets its condition; raise on a required one that cannot."""
        for dep in self.plan.dependencies(name):
            if dep.name in self.started:  # outside the selection of `up SVC…`: assumed handled elsewhere
                self._await(name, dep)

    def _await(self, name: str, dep: Dependency) -> None:
        # The timeout counts from the dependency's start: until then it waits on its own dependencies,
        # each bounded by their own timeouts (a failure there ends the whole start).
        while not self.started[dep.name].wait(0.1):
            if self.cancel.is_set():
                raise Cancelled("cancelled")
        runtime = self.runtime_of[dep.name]
        condition = effective_condition(dep.condition, runtime.has_readiness(dep.name))
        try:
            runtime.wait(dep.name, condition, dep.timeout, self.cancel)
        except Cancelled:
            raise
        except LocaldError as exc:
            if not dep.required:
                self.say(f"{name}: optional dependency '{dep.name}' not {condition_words(condition)}: starting anyway")
                return
            raise StartFailed(f"'{name}' needs '{dep.name}' to be {condition_words(condition)}: {exc}") from None

    def _start_batch(self, names: list[str]) -> None:
        if self.cancel.is_set():
            raise Cancelled("cancelled")
        self.say(f"starting {', '.join(names)}")
        for runtime in self.runtimes:
            mine = self._names_of(runtime, names)
            if mine:
                runtime.start(mine)
                for name in mine:
                    self.on_status(name, status="started")
                    self.started[name].set()

    def _await_all_ready(self) -> None:
        """Each service of the run meets its own final condition: what its dependents ask for
        (completed for a one-shot job), else healthy when it has a readiness check."""
        jobs = {d.name for s in self.names for d in self.plan.dependencies(s) if d.condition == COMPLETED}
        errors: list[LocaldError] = []

        def check(name: str) -> None:
            runtime = self.runtime_of[name]
            condition = COMPLETED if name in jobs else effective_condition(None, runtime.has_readiness(name))
            try:
                runtime.wait(name, condition, self.plan.project.ready_timeout(name), self.cancel)
                self.on_status(name, status="ready")
            except LocaldError as exc:
                errors.append(exc)

        threads = [threading.Thread(target=check, args=(n,), daemon=True) for n in self.names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    # --- stop --------------------------------------------------------------------------------------

    def stop_levels(self) -> list[list[str]]:
        """Services grouped so each group only depends on later groups: dependents stop first."""
        return self.plan.graph.reverse_levels(self.names)

    def down(self) -> None:
        """Stop everything of this run in reverse dependency order, then let each runtime release
        what its services share (the compose network, log followers)."""
        self.cancel.set()
        levels = self.stop_levels()
        released: set[int] = set()
        for i, group in enumerate(levels):
            rest = {id(self.runtime_of[n]) for g in levels[i:] for n in g}
            calls: list[tuple[ServiceRuntime, list[str] | None]] = []
            if len(rest) == 1:
                # one runtime left: it stops the rest itself, in its own order (compose down)
                runtime = self.runtime_of[group[0]]
                calls.append((runtime, None))
                released.add(id(runtime))
            else:
                for runtime in self.runtimes:
                    mine = self._names_of(runtime, group)
                    if mine:
                        calls.append((runtime, mine))
            threads = [threading.Thread(target=r.stop, args=(names,)) for r, names in calls]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            done = [n for g in levels[i:] for n in g] if len(rest) == 1 else group
            for name in done:
                self.on_status(name, status="stopped")
            if len(rest) == 1:
                break
        for runtime in self.runtimes:
            if id(runtime) not in released:
                runtime.stop(None)

    def kill(self) -> None:
        """Second Ctrl-C: no grace for anyone."""
        self.cancel.set()
        for runtime in self.runtimes:
            runtime.kill()

    # --- while running -----------------------------------------------------------------------------

    def restart(self, name: str) -> None:
        if name not in self.started:
            raise LocaldError(f"service '{name}' is not part of this run")
        self.runtime_of[name].restart(name)
        self.on_status(name, status="started")

    def apply(self, name: str, verb: str, *args, replaces: bool = True) -> None:
        """`verb` of the runtime that runs `name` — `restart`, or one beyond the ServiceRuntime protocol
        (ContainerRuntime.sync and .rebuild, for `watch`) — on one running service. `replaces`: the verb
        replaced the service, so it goes through `started` and the readiness wait, as in `up`."""
        method = getattr(self.runtime_of.get(name), verb, None)
        if name not in self.started or method is None:
            raise LocaldError(f"service '{name}' cannot {verb} in this run")
        method(name, *args)
        if replaces:
            self.on_status(name, status="started")
            runtime = self.runtime_of[name]
            condition = effective_condition(None, runtime.has_readiness(name))
            runtime.wait(name, condition, self.plan.project.ready_timeout(name), self.cancel)
            self.on_status(name, status="ready")

    def snapshot(self) -> dict[str, dict]:
        """Live status of every service of this run, for `locald status`."""
        out: dict[str, dict] = {}
        for runtime in self.runtimes:
            out.update({n: info for n, info in runtime.status().items() if n in self.started})
        return out
