"""The single owner of a running stack: one dependency graph over every kind of service.

It never asks what kind a service is: each service belongs to the runtime that `handles` it (see
service_runtime.py), and the coordinator only starts, stops, waits for and observes through that
seam. Start: every service starts as soon as its own dependencies meet their condition; services
that become startable together start together (one call per runtime: containers in one compose
call). Stop: reverse dependency order, one level at a time, each level in parallel. The end of a
run: `outcome` says when every service has ended for good and with which exit status.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Callable, Sequence

from ..config.model import Dependency
from ..errors import LocaldError
from ..plan import Plan
from .changes import Changes
from .ports import busy_port_problem
from .service_runtime import (COMPLETED, Cancelled, EitherEvent, ServiceRuntime, StartFailed, condition_words,
                              effective_condition)

BATCH_WINDOW = 0.02  # seconds to gather services that became startable together into one start call
SHOWN = 20  # names listed in a "starting …" line


def shown(items, limit: int = SHOWN) -> str:
    """A list for one line of output: the first `limit` items, then how many more."""
    items = list(items)
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


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
        self.runtime_of = {n: self._runtime_for(plan.service(n), runtimes) for n in names}
        self.runtimes = [r for r in runtimes if any(self.runtime_of[n] is r for n in names)]
        self.cancel = cancel or threading.Event()
        self.in_run = set(names)
        self.killed = False
        self._kill_lock = threading.Lock()
        self._starting = False  # a runtime's start call is in progress (a compose up may still create)
        self._swept = False  # a kill ran while no start was in progress

    @staticmethod
    def _runtime_for(service, runtimes: Sequence[ServiceRuntime]) -> ServiceRuntime:
        runtime = next((r for r in runtimes if r.handles(service)), None)
        if runtime is None:
            raise LocaldError(f"no runtime can run service '{service.name}' (kind {service.kind})")
        return runtime

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

    def up(self, names: list[str] | None = None) -> None:
        """Start `names` (default: the whole run) in dependency order; dependencies outside `names` are
        taken as met (they run already). On any failure stop this start's waits and raise StartFailed
        (the caller decides what to stop).

        No thread waits for a service that has not started: when a service starts, one wait begins
        per (condition, timeout) its dependents ask of it, and each result may make dependents
        startable. Cancel (the run's, or this start's own after a failure) is checked before every
        batch and, by the runtimes, before every spawn."""
        names = list(self.names if names is None else names)
        attempt = EitherEvent(self.cancel)
        wanted = set(names)
        for name in names:
            self.on_status(name, status="waiting", kind=self.plan.service(name).kind)
        unmet = {n: 0 for n in names}
        dependents: dict[str, list[tuple[str, Dependency]]] = {}
        for name in names:
            for dep in self.plan.dependencies(name):
                if dep.name in wanted:
                    unmet[name] += 1
                    dependents.setdefault(dep.name, []).append((name, dep))
        position = {n: i for i, n in enumerate(names)}
        results: queue.Queue = queue.Queue()
        startable = [n for n in names if not unmet[n]]
        unstarted, in_flight = len(names), 0
        try:
            while True:
                if startable:
                    startable.sort(key=position.__getitem__)
                    self._start_batch(startable, attempt)
                    unstarted -= len(startable)
                    for name in startable:
                        in_flight += self._await_for_dependents(name, dependents.get(name, []), results, attempt)
                    startable = []
                if not unstarted:
                    break
                if not in_flight:
                    raise StartFailed("no service can start: the dependency graph has a cycle")
                for name, condition, edges, error in self._next_results(results, in_flight, attempt):
                    in_flight -= 1
                    for dependent, dep in edges:
                        if error is not None:
                            if isinstance(error, Cancelled):
                                raise error
                            if dep.required:
                                raise StartFailed(f"'{dependent}' needs '{name}' to be "
                                                  f"{condition_words(condition)}: {error}")
                            self.say(f"{dependent}: optional dependency '{name}' not "
                                     f"{condition_words(condition)}: starting anyway")
                        unmet[dependent] -= 1
                        if not unmet[dependent]:
                            startable.append(dependent)
            self._await_all_ready(names, attempt)
        except BaseException as exc:
            attempt.set()
            if isinstance(exc, LocaldError) and not isinstance(exc, StartFailed):
                exc = StartFailed(str(exc))
            raise exc

    def _await_for_dependents(self, name: str, edges: list[tuple[str, Dependency]], results: queue.Queue,
                              cancel) -> int:
        """Begin one wait per (condition, timeout) that `name`'s dependents ask for; each puts
        (name, condition, edges, error or None) on `results`. Returns how many began."""
        runtime = self.runtime_of[name]
        groups: dict[tuple[str, float], list[tuple[str, Dependency]]] = {}
        for dependent, dep in edges:
            condition = effective_condition(dep.condition, runtime.has_readiness(name))
            groups.setdefault((condition, dep.timeout), []).append((dependent, dep))
        for (condition, timeout), group in groups.items():
            self._in_thread(f"await-{name}", self._wait_for, name, condition, timeout, cancel,
                            lambda error, c=condition, g=group: results.put((name, c, g, error)))
        return len(groups)

    def _wait_for(self, name: str, condition: str, timeout: float, cancel, report: Callable) -> None:
        """One runtime wait, its outcome handed to `report(error or None)`; never raises (a thread body)."""
        try:
            self.runtime_of[name].wait(name, condition, timeout, cancel)
            error = None
        except LocaldError as exc:
            error = exc
        except Exception as exc:  # a bug in a runtime must end the start, not print a thread traceback
            error = LocaldError(f"waiting for {name} failed: {exc!r}")
        report(error)

    @staticmethod
    def _in_thread(name: str, target, *args) -> None:
        threading.Thread(target=target, args=args, daemon=True, name=name).start()

    def _next_results(self, results: queue.Queue, in_flight: int, cancel) -> list:
        """The next wait results: block for one (watching cancel), then gather those that arrive
        within BATCH_WINDOW, so services that become startable together start in one call."""
        while True:
            try:
                batch = [results.get(timeout=0.1)]
                break
            except queue.Empty:
                if cancel.is_set():
                    raise Cancelled("cancelled") from None
        if in_flight > 1:  # only then can another result be about to arrive
            time.sleep(BATCH_WINDOW)
        while True:
            try:
                batch.append(results.get_nowait())
            except queue.Empty:
                return batch

    def _start_batch(self, names: list[str], cancel) -> None:
        if cancel.is_set():
            raise Cancelled("cancelled")
        self.say(f"starting {shown(names)}")
        self._starting = True
        try:
            for runtime in self.runtimes:
                mine = self._names_of(runtime, names)
                if mine:
                    runtime.start(mine, cancel)
                    for name in mine:
                        self.on_status(name, status="started")
        finally:
            self._starting = False

    def _await_all_ready(self, names: list[str], cancel) -> None:
        """Each of `names` meets its own final condition: what its dependents ask for (completed for a
        one-shot job), else healthy when it has a readiness check. The first failure cancels the other
        waits."""
        jobs = {d.name for s in self.names for d in self.plan.dependencies(s) if d.condition == COMPLETED}
        results: queue.Queue = queue.Queue()
        for name in names:
            runtime = self.runtime_of[name]
            condition = COMPLETED if name in jobs else effective_condition(None, runtime.has_readiness(name))
            self._in_thread(f"ready-{name}", self._wait_for, name, condition, self.plan.project.ready_timeout(name),
                            cancel, lambda error, n=name: results.put((n, error)))
        first: LocaldError | None = None
        for _ in names:
            name, error = results.get()
            if error is None:
                self.on_status(name, status="ready")
            elif first is None or (isinstance(first, Cancelled) and not isinstance(error, Cancelled)):
                first = error  # a real failure explains more than the cancellations it caused
                cancel.set()
        if first is not None:
            raise first

    # --- stop --------------------------------------------------------------------------------------

    def stop_levels(self) -> list[list[str]]:
        """Services grouped so each group only depends on later groups: dependents stop first."""
        return self.plan.graph.reverse_levels(self.names)

    def down(self) -> None:
        """Stop everything of this run in reverse dependency order, then let each runtime release
        what its services share (the compose network, log followers). Never raises: a runtime that
        fails to stop is reported and the others are still stopped."""
        self.cancel.set()
        levels = self.stop_levels()
        released: set[int] = set()
        for i, group in enumerate(levels):
            if self.killed:
                return  # kill() stops everything at once: nothing is left to stop gracefully
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
            self._parallel(calls)
            done = [n for g in levels[i:] for n in g] if len(rest) == 1 else group
            for name in done:
                self.on_status(name, status="stopped")
            if len(rest) == 1:
                break
        for runtime in self.runtimes:
            if id(runtime) not in released and not self.killed:
                self._stop_quietly(runtime, None)

    def _stop_quietly(self, runtime: ServiceRuntime, names: list[str] | None) -> None:
        try:
            runtime.stop(names)
        except Exception as exc:  # reported, never raised: the rest must still be stopped
            if not self.killed:  # after a forced kill, a stop that lost the race says nothing new
                what = ", ".join(names) if names else "the rest"
                self.say(f"could not stop {what}: {exc if isinstance(exc, LocaldError) else repr(exc)}")

    def kill(self) -> None:
        """Second Ctrl-C: no grace for anyone, nothing starts any more. Safe from any thread, even
        while up() or down() is running; a second call waits for the first and sweeps again."""
        self.killed = True
        self.cancel.set()
        with self._kill_lock:
            if self._swept and not self._starting:
                return  # an earlier kill saw no start in flight: nothing can have appeared since
            starting = self._starting
            for runtime in self.runtimes:
                try:
                    runtime.kill()
                except Exception as exc:
                    self.say(f"could not kill everything: {exc if isinstance(exc, LocaldError) else repr(exc)}")
            self._swept = not starting

    def outcome(self) -> int | None:
        """None while a service of this run runs or may run again (its restart policy says so);
        once every one has ended: 0 when all ended with 0, else the exit status of the first that
        did not (128 + N for a signal N, as a shell says)."""
        ends = []
        for name in self.names:
            end = self.runtime_of[name].final_exit(name)
            if end is None:
                return None
            ends.append(end)
        failed = sorted((when, code) for code, when in ends if code != 0)
        if not failed:
            return 0
        code = failed[0][1]
        return 128 - code if code < 0 else code

    # --- while running -----------------------------------------------------------------------------

    def converge(self, plan: Plan, names: list[str], changes: Changes, runtimes: Sequence[ServiceRuntime],
                 images=None, restart_dependents: bool = False) -> list[str]:
        """Bring the running stack to `plan`: stop what was removed or changed (dependents first, with
        the old plan), switch every runtime to the new plan, start what changed or was added (in
        dependency order, their conditions honoured). Unchanged services are not touched. With
        `restart_dependents`, what depends on a changed service restarts too. Returns the services
        restarted or started; StartFailed when one of them cannot start (the rest keeps running)."""
        restart = [n for n in changes.changed if n in self.in_run]
        if restart_dependents and restart:
            restart = [n for n in plan.graph.dependents_closure(restart) if n in self.in_run and n in names]
        going = list(changes.removed) + restart
        self.stop_services(going)
        coming = restart + [n for n in changes.added if n in names]
        before = list(self.runtimes)
        self.plan = plan
        self.names = list(names)
        self.in_run = set(names)
        self.runtime_of = {n: self._runtime_for(plan.service(n), runtimes) for n in names}
        self.runtimes = [r for r in runtimes if any(self.runtime_of[n] is r for n in names)]
        for runtime in before:
            if runtime not in self.runtimes:
                self._stop_quietly(runtime, None)  # its last service went: release what they shared
        for runtime in self.runtimes:
            runtime.replan(plan, going + coming, images)
        coming_set = set(coming)
        fresh = [n for n in plan.order if n in coming_set]
        if fresh:
            for runtime in self.runtimes:
                runtime.prepare(self._names_of(runtime, fresh), self.say)
            self.up(fresh)
        return fresh

    def stop_services(self, names: list[str]) -> None:
        """Stop `names` (with this plan), dependents first: one level at a time, each in parallel. What
        depends on them and is not among them keeps running."""
        for group in self.plan.graph.reverse_levels(names):
            calls = [(r, self._names_of(r, group)) for r in self.runtimes]
            self._parallel([(r, mine) for r, mine in calls if mine])
            for name in group:
                self.on_status(name, status="stopped")

    def _parallel(self, calls: list[tuple[ServiceRuntime, list[str] | None]]) -> None:
        threads = [threading.Thread(target=self._stop_quietly, args=call) for call in calls[1:]]
        for t in threads:
            t.start()
        if calls:
            self._stop_quietly(*calls[0])
        for t in threads:
            t.join()

    def _part_of_run(self, name: str) -> None:
        if name not in self.in_run:
            raise LocaldError(f"service '{name}' is not part of this run")

    def restart(self, name: str) -> None:
        """Stop and start one service, then wait for it to be ready again (as `up` would)."""
        self._part_of_run(name)
        self.apply(name, "restart")

    def stop_service(self, name: str) -> None:
        """Stop one service; its dependents keep running (as `docker compose stop SERVICE`)."""
        self._part_of_run(name)
        self.stop_services([name])

    def start_service(self, name: str) -> None:
        """Start one stopped service again and wait for it to be ready (what it depends on is taken as
        running)."""
        self._part_of_run(name)
        self.up([name])

    def restart_all(self) -> None:
        """Stop every service (dependents first), then start them all as `up` does. A failure is raised
        to the caller and ends only this start's waits, not the run."""
        self.stop_services(self.names)
        self.up()

    def apply(self, name: str, verb: str, *args, replaces: bool = True) -> None:
        """`verb` of the runtime that runs `name` — `restart`, or one beyond the ServiceRuntime protocol
        (ContainerRuntime.sync and .rebuild, for `watch`) — on one running service. `replaces`: the verb
        replaced the service, so it goes through `started` and the readiness wait, as in `up`."""
        method = getattr(self.runtime_of.get(name), verb, None)
        if name not in self.in_run or method is None:
            raise LocaldError(f"service '{name}' cannot {verb} in this run")
        method(name, *args)
        if replaces:
            self.on_status(name, status="started")
            runtime = self.runtime_of[name]
            condition = effective_condition(None, runtime.has_readiness(name))
            runtime.wait(name, condition, self.plan.project.ready_timeout(name), self.cancel)
            self.on_status(name, status="ready")

    def snapshot(self, names: list[str] | None = None) -> dict[str, dict]:
        """Live status of every service of this run (`names`: only these, asking only their runtimes,
        so a question about host processes never waits for the engine)."""
        wanted = self.in_run if names is None else set(names) & self.in_run
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
