"""One run of a stack, from `locald up` to the last container removed.

Attached, the `locald up` process itself is the supervisor; detached (`up -d`), a child started in
its own session is, and the CLI only watches state.json until the stack is ready or has failed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..config.model import Project
from ..errors import ConfigError, LocaldError
from ..graph import graph_of
from ..plan import compose_project_name, make_plan
from .changes import Changes, definitions, diff, fingerprints
from .cleanup import SUPERVISOR_MARKER, kill_leftovers, supervisor_env
from .control import ControlServer
from .interrupts import Interrupts
from .output import Printer, open_sinks
from .private import open_append
from .service_runtime import Cancelled
from .state import (AlreadyRunning, StateStore, log_dir, prepare_state_dir, read_ports, read_state, remember_applied,
                    remember_ports, supervisor_running)
from .watching import start_watching

SUPERVISOR_LOG = "supervisor.log"
CONVERGE_TIMEOUT = 900.0  # a convergence may pull images and wait for slow starters


def selection(project: Project, names: list[str]) -> list[str]:
    """The services of this run, in start order: `names` and what they depend on (default: all)."""
    unknown_services(project, names)
    graph = graph_of(project.services)
    return graph.closure(names) if names else graph.order()


def unknown_services(project: Project, names) -> None:
    """LocaldError naming every name that is not a service of the project."""
    unknown = [n for n in names if n not in project.services]
    if unknown:
        raise LocaldError(f"unknown service{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)} "
                          f"(services: {', '.join(project.services)})")


def remove_leftovers(project: Project, state_dir: Path, echo=None, configured_too: bool = False) -> bool:
    """What a crashed run left: its recorded process groups, every marked process and what runs below
    them, and the compose project's containers (`configured_too`: also when the state records none but
    locald.toml has container services). True when the state recorded anything, or a process was found."""
    state = read_state(state_dir)
    found = kill_leftovers(state_dir, records=state.get("processes"))
    if found and echo:
        echo(f"removed {found} leftover process{'es' if found != 1 else ''} of an earlier run")
    had_containers = bool(state.get("compose_project") and state.get("containers"))
    if had_containers or (configured_too and project.containers):
        from .containers.engine import Owner, remove_project

        remove_project(Owner.of(project, state.get("compose_project")))
    return bool(found or had_containers)


def already_running(state_dir: Path) -> LocaldError:
    pid = read_state(state_dir).get("pid")
    return LocaldError(f"locald is already running for this project (pid {pid}); "
                       "`locald down` stops it, `locald status` shows it")


def build_plan(project: Project, names: list[str], say, cancel, proxy_port_for=lambda exposed: None, current=None):
    """Images first (a built image's EXPOSE can decide a container port), then the frozen plan.
    Returns (plan, images or None when no container runs). `proxy_port_for(exposed ports)`: the
    named-URL proxy's port, asked between the two (it is joined only when something will have a
    route). `current`: the (plan, images) of the run that converges to this project: its images are
    reused for containers whose definition in locald.toml did not change, and its services keep
    their ports."""
    containers = [n for n in names if project.services[n].is_container]
    images = None
    exposed: dict[str, int] = {}
    if containers:
        from .containers import images as container_images

        old_plan, old_images = current or (None, None)
        todo = containers if old_images is None else [
            n for n in containers if n not in old_plan.project.services
            or old_plan.project.services[n] != project.services[n] or n not in old_images.infos]
        images = container_images.prepare(project, todo, say, cancel)
        if old_images is not None:
            images = container_images.Images(images.api, {**{n: old_images.infos[n] for n in containers
                                                              if n not in todo}, **images.infos})
        exposed = container_images.exposed_ports(project, images.infos)
    if cancel.is_set():
        raise Cancelled("cancelled")
    running = {n: p for n, p in current[0].ports.items() if n in project.services} if current else None
    plan = make_plan(project, exposed, read_ports(project.state_dir), proxy_port=proxy_port_for(exposed),
                     running_ports=running)
    remember_ports(project.state_dir, plan.ports)
    return plan, images


def make_runtimes(plan, names: list[str], images, sinks, store: StateStore, existing=()) -> list:
    """The runtimes of this run: host processes always, containers when the selection has some.
    `existing`: the runtimes a converging run already has (kept, so running services stay theirs)."""
    from .processes.runtime import ProcessRuntime

    runtimes = list(existing) or [ProcessRuntime(plan, sinks, on_spawn=store.add_process)]
    if images is not None:
        from .containers.runtime import ContainerRuntime

        if not any(isinstance(r, ContainerRuntime) for r in runtimes):
            runtimes.append(ContainerRuntime(plan, images, sinks))
    return runtimes


class Run:
    """One run of a stack: what `up` started, and how it converges when locald.toml changes."""

    def __init__(self, project: Project, requested: list[str], printer: Printer | None, detached: bool,
                 store: StateStore, interrupts: Interrupts, say):
        self.project = project
        self.requested = requested  # what `up` was asked for (empty: everything)
        self.names = selection(project, requested)
        self.printer = printer
        self.detached = detached
        self.store = store
        self.interrupts = interrupts
        self.say = say
        self.coordinator = None
        self.proxy = None
        self.plan = None
        self.images = None
        self.sinks: dict = {}
        self.definitions: dict[str, dict] = {}
        self.watcher = None  # the services' `watch` rules, at work
        self.lock = threading.Lock()  # one convergence (or restart) at a time

    def start(self) -> None:
        """Everything up to `ready`: images, plan, runtimes, routes, the start in dependency order."""
        from .coordinator import Coordinator, shown

        project, names, store = self.project, self.names, self.store
        self.plan, self.images = build_plan(project, names, self.say, self.interrupts.stop,
                                            lambda exposed: self._join_proxy(project, names, exposed))
        store.update(ports=dict(self.plan.ports), container_ports=dict(self.plan.container_ports))
        self._open_sinks(project, names)
        self.coordinator = Coordinator(self.plan, names, make_runtimes(self.plan, names, self.images, self.sinks, store),
                                       say=self.say, on_status=record_status(store, self), cancel=self.interrupts.stop)
        self.interrupts.on_force(self.coordinator.kill)
        self.coordinator.preflight()
        self._claim_routes(fresh=names)
        self.coordinator.up()
        self.watcher = start_watching(project, names, self.coordinator, self.say)  # before "ready": no edit missed
        self.definitions = self._definitions()
        remember_applied(self.project.state_dir, self.project.file)
        store.update(phase="ready", config_applied=time.time(), config_hashes=fingerprints(self.definitions))
        self.say("ready: " + shown(service_urls(self.plan, names, self.proxy.urls() if self.proxy else {})))

    def reload(self, restart_dependents: bool = False) -> Changes:
        """Converge to locald.toml as it is now. ConfigError (every problem) when it does not validate:
        nothing changes then. StartFailed when a changed or added service cannot start: the others keep
        running as they were."""
        from ..config import load_project

        with self.lock:
            project = load_project(self.project.file)
            names = selection(project, [n for n in self.requested if n in project.services])
            plan, images = build_plan(project, names, self.say, self.interrupts.stop,
                                      lambda exposed: self._join_proxy(project, names, exposed),
                                      current=(self.plan, self.images))
            remember_applied(project.state_dir, project.file)
            definitions = self._definitions(plan, names, images)
            changes = diff(self.definitions, definitions)
            self._open_sinks(project, changes.added)
            runtimes = make_runtimes(plan, names, images, self.sinks, self.store, self.coordinator.runtimes)
            self.project, self.names, self.plan, self.images = project, names, plan, images
            self.store.update(names=names, ports=dict(plan.ports), container_ports=dict(plan.container_ports),
                              containers=any(project.services[n].is_container for n in names))
            self.stop_watching()
            try:
                fresh = self.coordinator.converge(plan, names, changes, runtimes, images, restart_dependents)
                self._claim_routes(fresh)
            finally:
                self.watcher = start_watching(project, names, self.coordinator, self.say)  # the new rules
                self.definitions = definitions
                for name in changes.removed:
                    self.store.forget_service(name)
                    sink = self.sinks.pop(name, None)
                    if sink is not None:
                        sink.close()
                self.store.update(config_applied=time.time(), config_hashes=fingerprints(self.definitions))
            return changes

    def stop_watching(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None

    def _join_proxy(self, project: Project, names: list[str], exposed) -> int | None:
        """Join the user's proxy (started when none runs) when a service will have a route, before the
        plan: ${services.X.public_url} needs its port. Its HTTP port, or None."""
        if self.proxy is None:
            from ..proxy.client import join

            self.proxy = join(project, names, self.say, exposed)
        return self.proxy.ports["http"] if self.proxy else None

    def _open_sinks(self, project: Project, names: list[str]) -> None:
        """Processes' logs start afresh each run (as a new container's do); containers' stay in the engine."""
        log_to = log_dir(project.state_dir)
        self.sinks.update(open_sinks({n: None if project.services[n].is_container else log_to for n in names},
                                     self.printer, truncate=True))

    def _definitions(self, plan=None, names=None, images=None) -> dict[str, dict]:
        from ..compose.translate import to_compose

        plan, names, images = plan or self.plan, names or self.names, images or self.images
        document = to_compose(plan, engine_api=images.api) if images is not None else None
        return definitions(plan, names, document)

    def _claim_routes(self, fresh) -> None:
        """Register the routes of the plan with the proxy (a host another project serves stops us);
        services that kept running keep their route's state."""
        if not self.proxy:
            return
        from ..proxy.naming import routes_of

        states = {r.service: r.state for r in self.proxy.routes}
        routes = routes_of(self.plan, self.names)
        for route in routes:
            if route.service not in fresh and route.service in states:
                route.state = states[route.service]
        self.proxy.describe = lambda name: describe(self.coordinator, self.sinks, name)
        self.proxy.claim(routes)
        self.store.update(public_urls=self.proxy.urls())


def run(project: Project, names: list[str], printer: Printer | None, detached: bool = False,
        reload: bool = True) -> int:
    """Bring the selection up, keep it running until told to stop (attached: or until every service
    has ended for good), converging to edits of locald.toml (unless `reload` is off), bring it down.
    Exit status."""
    selection(project, names)  # unknown names fail before anything else
    state_dir = project.state_dir
    say = printer.system if printer else (lambda text: print(text, flush=True))
    interrupts = Interrupts()
    interrupts.install()
    store = StateStore(state_dir, on_error=say)
    try:
        store.acquire()
    except AlreadyRunning:
        raise already_running(state_dir) from None
    from ..dashboard import registry

    listed = registry.add(project)  # the dashboard finds running projects there
    os.environ.update(supervisor_env(state_dir))  # every child we run carries it: found after a crash
    current = Run(project, names, printer, detached, store, interrupts, say)
    if not detached:  # `up -d` warmed the proxy before it started us
        from ..proxy.client import warm

        warm(project, current.names)
    server = None
    watcher = None
    code = 0
    try:
        remove_leftovers(project, state_dir, say)
        store.start(pid=os.getpid(), file=str(project.file), compose_project=compose_project_name(project),
                    containers=any(project.services[n].is_container for n in current.names), names=current.names,
                    phase="starting", detached=detached, requested=names, reload=reload)
        server = ControlServer(state_dir, lambda cmd: handle(current, cmd))
        current.start()
        if reload:
            from .reload import ConfigWatcher

            watcher = ConfigWatcher(current, say)
        code = run_until_stopped(current.coordinator, interrupts, say, until_all_ended=not detached)
    except (LocaldError, OSError) as exc:
        if interrupts.count:  # what fails after a Ctrl-C is the stop that was asked for, not a new problem
            say("interrupted: stopping (Ctrl-C again to kill)")
            code = 130
        else:
            text = str(exc) if isinstance(exc, LocaldError) else f"{exc.strerror or exc}: {exc.filename or ''}"
            store.update(phase="failed", error=text)
            say(f"error: {text}")
            code = 1
    finally:
        if watcher is not None:
            watcher.close()
        current.stop_watching()
        shut_down(store, current.coordinator, current.proxy, server, current.sinks, interrupts)
        registry.remove(listed)
    return code


def run_until_stopped(coordinator, interrupts: Interrupts, say, until_all_ended: bool) -> int:
    """Wait for a Ctrl-C (or `locald down`): exit status 0. With `until_all_ended`, also end once every
    service has ended for good, as `docker compose up` does: its outcome is the exit status."""
    while not interrupts.stop.wait(0.5):
        if until_all_ended:
            outcome = coordinator.outcome()
            if outcome is not None:
                say("every service has ended" + (f" (exit status {outcome})" if outcome else "") + ": stopping")
                return outcome
    say("stopping (Ctrl-C again to kill)")
    return 0


def shut_down(store: StateStore, coordinator, proxy, server, sinks, interrupts: Interrupts) -> None:
    """Stop everything that was started. Nothing here raises on the way: a failed state write or a
    runtime that cannot stop must not leave the other services running."""
    store.update(phase="stopping")
    if coordinator is not None:
        coordinator.down()  # returns early once a second Ctrl-C has started a kill
        if interrupts.force.is_set():  # wait for that kill; sweep again if a start was in flight during it
            coordinator.kill()
    if proxy is not None:
        proxy.close()
    if server is not None:
        server.close()
    for sink in sinks.values():
        try:
            sink.close()
        except OSError:
            pass
    store.update(phase="stopped", processes={})
    store.release()
    os.environ.pop(SUPERVISOR_MARKER, None)
    interrupts.ignore_from_now()


def service_urls(plan, names, named: dict[str, str]):
    """`web http://shop.localhost (http://localhost:5173)`, `api http://localhost:8000`, `worker`."""
    for n in names:
        direct = plan.url(n) if plan.publishes(n) else None
        yield " ".join([n, named[n], f"({direct})"] if n in named else [n, direct] if direct else [n])


def record_status(store: StateStore, run: Run):
    """The coordinator's status changes, into state.json and (as route states) to the proxy."""

    def record(name: str, **fields) -> None:
        store.set_service(name, **fields)
        if "status" in fields and run.proxy is not None:
            run.proxy.set_state(name, fields["status"])

    return record


def describe(coordinator, sinks, name: str) -> dict:
    """For the proxy's 503 page: the service's live status and its last lines of output."""
    info = coordinator.runtime_of[name].status().get(name, {}) if name in coordinator.runtime_of else {}
    sink = sinks.get(name)
    return {"status": info.get("state") or "waiting", "health": info.get("health"),
            "log": sink.last_lines(20) if sink else []}


def handle(run: Run, command: dict) -> dict:
    """A request from another terminal or the dashboard (control channel): restart, stop, start,
    restart-stack, status, describe, converge."""
    action = command.get("action")
    coordinator = run.coordinator
    if coordinator is None:
        raise LocaldError("the stack is still starting; try again in a moment")
    per_service = {"restart": coordinator.restart, "stop": coordinator.stop_service,
                   "start": coordinator.start_service}
    if action in per_service:
        with run.lock:
            for name in command.get("services", []):
                per_service[action](name)
        return {"ok": True}
    if action == "restart-stack":
        with run.lock:
            coordinator.restart_all()
        return {"ok": True}
    if action == "status":
        return {"services": coordinator.snapshot(command.get("services"))}
    if action == "describe":
        return {"services": coordinator.describe()}
    if action == "converge":
        asked = [n for n in command.get("services") or [] if isinstance(n, str)]
        if asked and run.requested:
            run.requested = list(dict.fromkeys([*run.requested, *asked]))
        try:
            changes = run.reload(restart_dependents=bool(command.get("restart_dependents")))
        except ConfigError as exc:
            return {"problems": [str(p) for p in exc.problems]}
        summary = changes.summary()
        run.say(summary)
        return {"summary": summary}
    raise LocaldError(f"unknown request {action!r}")


# --- detached mode -------------------------------------------------------------------------------

def spawn_detached(project: Project, names: list[str], reload: bool = True) -> subprocess.Popen:
    """Start `locald _supervise` in its own session; its output goes to .locald/supervisor.log."""
    from ..proxy.client import warm

    state_dir = prepare_state_dir(project.state_dir)
    warm(project, selection(project, names))
    argv = [sys.executable, "-m", "locald", "-f", str(project.file), "_supervise",
            *([] if reload else ["--no-reload"]), "--", *names]
    with open_append(state_dir / SUPERVISOR_LOG) as log:  # it may quote secrets: 0600
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                cwd=project.root)


def wait_detached(project: Project, proc: subprocess.Popen, echo, timeout: float = 600) -> int:
    """Follow a detached supervisor until its stack is ready (0) or it failed (1)."""
    state_dir = project.state_dir
    seen: dict[str, str] = {}
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        state = read_state(state_dir)
        if state.get("pid") == proc.pid:
            for name, info in state.get("services", {}).items():
                status = info.get("status")
                if status and seen.get(name) != status:
                    seen[name] = status
                    echo(f"{name}: {status}")
            phase = state.get("phase")
            if phase == "ready":
                return 0
            if phase in ("failed", "stopping", "stopped"):
                if state.get("error"):
                    echo(f"error: {state['error']}")
                proc.wait()
                return 1
        if proc.poll() is not None:
            tail = (state_dir / SUPERVISOR_LOG).read_text(errors="replace").splitlines()[-15:]
            echo("the supervisor exited before the stack was ready:\n  " + "\n  ".join(tail))
            return 1
        time.sleep(0.05)
    echo("timed out waiting for the stack to become ready; `locald status` shows where it is")
    return 1


def converge_running(project: Project, names: list[str], restart_dependents: bool = False) -> str:
    """`up` on a stack that runs: its supervisor converges to locald.toml as it is now (and adds
    `names` to the run). The one-line summary; ConfigError with every problem when the file does not
    validate any more (it changed between our check and the supervisor's)."""
    from .control import request

    reply = request(project.state_dir, {"action": "converge", "services": names,
                                        "restart_dependents": restart_dependents}, timeout=CONVERGE_TIMEOUT)
    if reply.get("problems"):
        raise LocaldError("\n".join(reply["problems"]))
    return reply.get("summary", "no changes")


def stop(project: Project, timeout: float = 120, echo=None) -> bool:
    """Stop the running supervisor (from any terminal), or clean up after a dead one.
    True when something was running or left over."""
    state_dir = project.state_dir
    state = read_state(state_dir)
    if supervisor_running(state_dir):
        pid = state.get("pid")
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while supervisor_running(state_dir) and time.monotonic() < deadline:
            time.sleep(0.02)
        if supervisor_running(state_dir):
            raise LocaldError(f"the supervisor (pid {pid}) did not stop within {timeout:g}s")
        if read_state(state_dir).get("phase") != "stopped":  # it died while stopping: finish its job
            remove_leftovers(project, state_dir, echo)
        else:
            kill_leftovers(state_dir)  # cheap: a /proc scan; nothing may survive `down`
        return True
    return remove_leftovers(project, state_dir, configured_too=True)
