"""The single owner of a running stack: one dependency graph over containers and host processes.

Start: every service starts as soon as its own dependencies meet their condition; services that
become startable together start together (containers in one compose call). Stop: reverse
dependency order, one level at a time, each level in parallel.
"""

from __future__ import annotations

import queue
import threading
import time

from ..config.model import Dependency
from ..errors import LocaldError
from ..graph import graph_of
from ..plan import Plan, port_is_free, remember_ports
from .output import LogSink, Printer
from .state import StateStore, log_dir

BATCH_WINDOW = 0.02  # seconds to gather services that became startable together into one compose call


class StartFailed(LocaldError):
    pass


class Coordinator:
    def __init__(self, plan: Plan, names: list[str], printer: Printer | None, store: StateStore | None = None):
        self.plan = plan
        self.names = names
        self.printer = printer
        self.store = store
        self.cancel = threading.Event()
        self.started: dict[str, threading.Event] = {n: threading.Event() for n in names}
        self.runners: dict = {}
        self.sinks: dict[str, LogSink] = {}
        self.containers = None
        self._log_followers: list = []
        container_names = [n for n in names if plan.service(n).is_container]
        if container_names:
            from .containers import ContainerRuntime

            self.containers = ContainerRuntime(plan)
        self.container_names = container_names

    # --- helpers ---------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        if self.printer:
            self.printer.system(text)

    def _status(self, name: str, **fields) -> None:
        if self.store:
            self.store.set_service(name, **fields)

    def is_container(self, name: str) -> bool:
        return self.plan.service(name).is_container

    def has_check(self, name: str) -> bool:
        if self.is_container(name):
            return self.containers.has_readiness_check(name)
        return self.runners[name].has_readiness_check

    def wait_for(self, name: str, condition: str, timeout: float) -> None:
        if self.is_container(name):
            self.containers.wait(name, condition, timeout, self.cancel)
        else:
            self.runners[name].wait(condition, timeout, self.cancel)

    # --- preflight -------------------------------------------------------------------------------

    def preflight(self) -> None:
        """Everything that can fail before anything starts."""
        from .ports import describe_holder

        for name in self.names:
            service = self.plan.service(name)
            if service.port is not None and not port_is_free(service.port):
                holder = describe_holder(service.port)
                raise StartFailed(f"port {service.port} of service '{name}' is already in use"
                                  + (f" by {holder}" if holder else "")
                                  + ". Stop it, or change `port` in locald.toml (remove it to let locald pick one).")
        if self.containers:
            self.containers.check_engine()
            self.containers.ensure_images(self.container_names, echo=self.say)
            self.plan.container_ports.update(self.containers.exposed_ports(self.container_names))
            self.containers.write_compose()
        remember_ports(self.plan)

    # --- start -------------------------------------------------------------------------------------

    def _make_runner(self, name: str):
        from .processes import ProcessRunner

        def on_spawn(svc, pid, pgid, start_time):
            if self.store:
                self.store.add_process(svc, pid, pgid, start_time)

        return ProcessRunner(self.plan.service(name), self.plan, self.sinks[name], on_spawn=on_spawn)

    def _dependencies_met(self, name: str) -> None:
        """Block until each dependency meets its condition; raise on a required one that cannot."""
        for dep in self.plan.dependencies(name):
            if dep.name not in self.started:
                continue  # outside the selection of `up SVC…`: assumed handled elsewhere
            self._await(name, dep)

    def _await(self, name: str, dep: Dependency) -> None:
        deadline = time.monotonic() + dep.timeout
        while not self.started[dep.name].wait(0.1):
            if self.cancel.is_set():
                raise StartFailed("cancelled")
            if time.monotonic() > deadline:
                raise StartFailed(f"'{name}' waited {dep.timeout:g}s for '{dep.name}' to start")
        condition = dep.condition or "auto"
        remaining = max(0.1, deadline - time.monotonic())
        try:
            self.wait_for(dep.name, condition, remaining)
        except LocaldError as exc:
            if not dep.required:
                self.say(f"{name}: optional dependency '{dep.name}' not {condition}: starting anyway")
                return
            raise StartFailed(f"'{name}' needs '{dep.name}' to be {self._words(dep.name, condition)}: {exc}") from None

    def _words(self, name: str, condition: str) -> str:
        if condition == "auto":
            return "healthy" if self.has_check(name) else "started"
        return {"completed_successfully": "completed successfully"}.get(condition, condition)

    def up(self) -> None:
        """Start the selection; on any failure stop what was started and raise."""
        # Processes' logs start afresh each run (as a new container's do); containers' stay in the engine.
        self.sinks = {n: LogSink(n, None if self.is_container(n) else log_dir(self.plan.state_dir), self.printer,
                                 truncate=True) for n in self.names}
        for name in self.names:
            self._status(name, status="waiting", kind=self.plan.service(name).kind)
            if not self.is_container(name):
                self.runners[name] = self._make_runner(name)
        ready: queue.Queue = queue.Queue()
        waiters = []

        def waiter(name: str) -> None:
            try:
                self._dependencies_met(name)
                ready.put((name, None))
            except LocaldError as exc:
                ready.put((name, exc))

        for name in self.names:
            t = threading.Thread(target=waiter, args=(name,), daemon=True, name=f"deps-{name}")
            t.start()
            waiters.append(t)

        pending = set(self.names)
        try:
            while pending:
                name, err = ready.get()
                batch = [(name, err)]
                time.sleep(BATCH_WINDOW)
                while True:
                    try:
                        batch.append(ready.get_nowait())
                    except queue.Empty:
                        break
                for n, e in batch:
                    pending.discard(n)
                    if e is not None:
                        raise e
                self._start_batch([n for n, _ in batch])
            self._await_all_ready()
        except BaseException as exc:
            self.cancel.set()
            if isinstance(exc, LocaldError) and not isinstance(exc, StartFailed):
                exc = StartFailed(str(exc))
            raise exc

    def _start_batch(self, names: list[str]) -> None:
        containers = [n for n in names if self.is_container(n)]
        if containers:
            self.say(f"starting {', '.join(containers)}")
            self.containers.start(containers)
            for n in containers:
                self._status(n, status="started")
                self.started[n].set()
            self._follow_container_logs(containers)
        for n in names:
            if n not in containers:
                self.runners[n].start()
                self._status(n, status="started")
                self.started[n].set()

    def _final_condition(self, name: str) -> str:
        jobs = {d.name for s in self.names for d in self.plan.dependencies(s) if d.condition == "completed_successfully"}
        return "completed_successfully" if name in jobs else "auto"

    def _await_all_ready(self) -> None:
        errors: list[LocaldError] = []

        def check(name: str) -> None:
            dep = Dependency(name, self._final_condition(name), timeout=self._ready_timeout(name))
            try:
                self.wait_for(name, dep.condition, dep.timeout)
                self._status(name, status="ready")
            except LocaldError as exc:
                errors.append(exc)

        threads = [threading.Thread(target=check, args=(n,), daemon=True) for n in self.names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def _ready_timeout(self, name: str) -> float:
        waits = [d.timeout for s in self.names for d in self.plan.dependencies(s) if d.name == name]
        return max(waits, default=60.0)

    def _follow_container_logs(self, names: list[str]) -> None:
        """Stream the engine's logs of these containers into their sinks, through our own Popen."""
        import subprocess

        argv = self.containers.logs_command(names, follow=True)  # fresh containers: all of it
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=self.plan.project.root, start_new_session=True)
        self._log_followers.append(proc)
        from .logs import pump_compose_logs

        t = threading.Thread(target=pump_compose_logs, args=(proc.stdout, self.sinks), daemon=True)
        t.start()

    # --- stop --------------------------------------------------------------------------------------

    def stop_levels(self) -> list[list[str]]:
        """Services grouped so each group only depends on later groups: dependents stop first."""
        return graph_of(self.plan.project.services).reverse_levels(self.names)

    def down(self, force: bool = False) -> None:
        self.cancel.set()
        levels = self.stop_levels()
        containers_done = False
        for i, group in enumerate(levels):
            rest_are_containers = all(self.is_container(n) for g in levels[i:] for n in g)
            threads = []
            if self.containers and rest_are_containers:
                # compose stops containers in reverse dependency order itself, and removes the network
                threads.append(threading.Thread(target=self.containers.stop, args=(None,)))
                containers_done = True
            else:
                stop_now = [n for n in group if self.is_container(n)]
                if stop_now and self.containers:
                    threads.append(threading.Thread(target=self.containers.stop, args=(stop_now,)))
                for n in group:
                    if n in self.runners:
                        threads.append(threading.Thread(target=self.runners[n].stop))
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for n in group:
                self._status(n, status="stopped")
            if containers_done:
                break
        if self.containers and not containers_done:
            self.containers.stop(None)
        for proc in self._log_followers:
            try:
                proc.kill()
            except OSError:
                pass
        for sink in self.sinks.values():
            sink.close()

    def kill(self) -> None:
        """Second Ctrl-C: no grace for anyone."""
        from .cleanup import kill_leftovers

        self.cancel.set()
        kill_leftovers(self.plan.state_dir, grace=0)
        if self.containers:
            self.containers.remove_project(self.plan.compose_project)

    # --- while running -----------------------------------------------------------------------------

    def restart(self, name: str) -> None:
        if name not in self.started:
            raise LocaldError(f"service '{name}' is not part of this run")
        if self.is_container(name):
            self.containers.stop([name])
            self.containers.start([name])
        else:
            self.runners[name].stop()
            self.runners[name] = self._make_runner(name)
            self.runners[name].start()
        self._status(name, status="started")

    def snapshot(self) -> dict[str, dict]:
        """Live status of every service of this run, for `locald status`."""
        out = {name: runner.status() for name, runner in self.runners.items()}
        if self.containers:
            for name, info in self.containers.status().items():
                if name in self.started:
                    out[name] = {**info, "state": info.get("state"), "health": info.get("health")}
        return out
