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
        jobs = self._jobs()
        errors: list[LocaldError] = []

        def check(name: str) -> None:
            try:
                self._await_ready(name, jobs)
            except LocaldError as exc:
                errors.append(exc)

        threads = [threading.Thread(target=check, args=(n,), daemon=True) for n in self.names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def _jobs(self) -> set[str]:
        """Services some dependent waits on to complete (one-shot jobs)."""
        return {d.name for s in self.names for d in self.plan.dependencies(s) if d.condition == COMPLETED}

    def _await_ready(self, name: str, jobs: set[str]) -> None:
        runtime = self.runtime_of[name]
        condition = COMPLETED if name in jobs else effective_condition(None, runtime.has_readiness(name))
        runtime.wait(name, condition, self.plan.project.ready_timeout(name), self.cancel)
        self.on_status(name, status="ready")

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

    def _part_of_run(self, name: str) -> None:
        if name not in self.started:
            raise LocaldError(f"service '{name}' is not part of this run")

    def restart(self, name: str) -> None:
        self._part_of_run(name)
        self.runtime_of[name].restart(name)
        self.on_status(name, status="started")

    def stop_service(self, name: str) -> None:
        """Stop one service; its dependents keep running (as `docker compose stop SERVICE`)."""
        self._part_of_run(name)
        self.runtime_of[name].stop([name])
        self.on_status(name, status="stopped")

    def start_service(self, name: str) -> None:
        """Start one stopped service again (what it depends on is taken as running)."""
        self._part_of_run(name)
        self.runtime_of[name].start([name])
        self.on_status(name, status="started")

    def restart_all(self) -> None:
        """Stop every service (dependents first), then start them level by level, each level once the
        one below is ready. A failure is raised to the caller and the rest stays as it is: unlike a
        failed `up`, it does not end the run."""
        for group in self.stop_levels():
            for runtime in self.runtimes:
                mine = self._names_of(runtime, group)
                if mine:
                    runtime.stop(mine)
            for name in group:
                self.on_status(name, status="stopped")
        jobs = self._jobs()
        for group in self.plan.graph.levels(self.names):
            self._start_batch(group)
            for name in group:
                self._await_ready(name, jobs)

    def snapshot(self, names: list[str] | None = None) -> dict[str, dict]:
        """Live status of every service of this run (`names`: only these, asking only their runtimes,
        so a question about host processes never waits for the engine)."""
        wanted = set(self.started) if names is None else set(names) & set(self.started)
        out: dict[str, dict] = {}
        for runtime in self.runtimes:
            if any(self.runtime_of[n] is runtime for n in wanted):
                out.update({n: info for n, info in runtime.status().items() if n in wanted})
        return out

    def describe(self) -> dict[str, dict]:
        """What each service of this run is, for the dashboard: kind (and whether the engine runs it),
        the port and direct URL it publishes, its dependencies within the run and the condition awaited."""
        out: dict[str, dict] = {}
        for name in self.names:
            service, publishes = self.plan.service(name), self.plan.publishes(name)
            deps = [{"name": d.name, "required": d.required,
                     "condition": effective_condition(d.condition, self.runtime_of[d.name].has_readiness(d.name))}
                    for d in self.plan.dependencies(name) if d.name in self.runtime_of]
            out[name] = {"kind": service.kind, "container": service.is_container,
                         "port": self.plan.ports.get(name) if publishes else None,
                         "url": self.plan.url(name) if publishes and service.kind != "worker" else None,
                         "depends_on": deps}
        return out
