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
from ..errors import LocaldError
from ..graph import graph_of
from ..plan import compose_project_name, make_plan
from .cleanup import kill_leftovers
from .control import ControlServer
from .output import Printer, open_sinks
from .private import open_append, private_dir
from .service_runtime import Cancelled, StartFailed
from .state import AlreadyRunning, StateStore, log_dir, read_ports, read_state, remember_ports, supervisor_running

SUPERVISOR_LOG = "supervisor.log"


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


def remove_leftovers(project: Project, state_dir: Path, echo=None) -> None:
    """What a crashed run left: every marked process, and the compose project's containers."""
    found = kill_leftovers(state_dir)
    if found and echo:
        echo(f"removed {found} leftover process{'es' if found != 1 else ''} of an earlier run")
    state = read_state(state_dir)
    compose_project = state.get("compose_project")
    if compose_project and state.get("containers"):
        from .containers.engine import Owner, remove_project

        remove_project(Owner.of(project, compose_project))


def already_running(state_dir: Path) -> LocaldError:
    pid = read_state(state_dir).get("pid")
    return LocaldError(f"locald is already running for this project (pid {pid}); "
                       "`locald down` stops it, `locald status` shows it")


class Interrupts:
    """First SIGINT/SIGTERM: stop gracefully. Second: kill everything now."""

    def __init__(self):
        self.stop = threading.Event()
        self.count = 0
        self.on_force = None

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGHUP, self._handle)

    def _handle(self, signum, frame) -> None:
        self.count += 1
        self.stop.set()
        if self.count >= 2 and self.on_force:
            self.on_force()


def build_plan(project: Project, names: list[str], say, cancel: threading.Event, proxy_port: int | None = None):
    """Images first (a built image's EXPOSE can decide a container port), then the frozen plan.
    Returns (plan, images or None when no container runs)."""
    containers = [n for n in names if project.services[n].is_container]
    images = None
    exposed: dict[str, int] = {}
    if containers:
        from .containers import images as container_images

        images = container_images.prepare(project, containers, say, cancel)
        exposed = container_images.exposed_ports(project, images.infos)
    if cancel.is_set():
        raise Cancelled("cancelled")
    plan = make_plan(project, exposed, read_ports(project.state_dir), proxy_port=proxy_port)
    remember_ports(project.state_dir, plan.ports)
    return plan, images


def make_runtimes(plan, names: list[str], images, sinks, store: StateStore) -> list:
    """The runtimes of this run: host processes always, containers when the selection has some."""
    from .processes.runtime import ProcessRuntime

    runtimes = [ProcessRuntime(plan, sinks, on_spawn=store.add_process)]
    if images is not None:
        from .containers.runtime import ContainerRuntime

        runtimes.append(ContainerRuntime(plan, images, sinks))
    return runtimes


def run(project: Project, names: list[str], printer: Printer | None, detached: bool = False) -> int:
    """Bring the selection up, keep it running until told to stop, bring it down. Exit status."""
    from .coordinator import Coordinator

    names = selection(project, names)
    state_dir = project.state_dir
    store = StateStore(state_dir)
    try:
        store.acquire()
    except AlreadyRunning:
        raise already_running(state_dir) from None
    from ..dashboard import registry

    listed = registry.add(project)  # the dashboard finds running projects there
    interrupts = Interrupts()
    interrupts.install()
    say = printer.system if printer else (lambda text: print(text, flush=True))
    coordinator = None
    server = None
    proxy = None
    sinks: dict = {}
    code = 0
    try:
        remove_leftovers(project, state_dir, say)
        store.start(pid=os.getpid(), file=str(project.file), compose_project=compose_project_name(project),
                    containers=any(project.services[n].is_container for n in names), names=names,
                    phase="starting", detached=detached)
        from ..proxy.client import join

        proxy = join(project, names, say)  # before the plan: ${services.X.public_url} needs the proxy's port
        plan, images = build_plan(project, names, say, interrupts.stop, proxy.ports["http"] if proxy else None)
        store.update(ports=dict(plan.ports), container_ports=dict(plan.container_ports))
        # Processes' logs start afresh each run (as a new container's do); containers' stay in the engine.
        sinks = open_sinks({n: None if plan.service(n).is_container else log_dir(state_dir) for n in names},
                           printer, truncate=True)
        coordinator = Coordinator(plan, names, make_runtimes(plan, names, images, sinks, store), say=say,
                                  on_status=record_status(store, proxy), cancel=interrupts.stop)
        interrupts.on_force = coordinator.kill
        server = ControlServer(state_dir, lambda cmd: handle(coordinator, cmd))
        coordinator.preflight()
        if proxy:
            from ..proxy.naming import routes_of

            proxy.describe = lambda name: describe(coordinator, sinks, name)
            proxy.claim(routes_of(plan, names))  # another project serving one of our hosts stops us here
            store.update(public_urls=proxy.urls())
        coordinator.up()
        store.update(phase="ready")
        say("ready: " + ", ".join(service_urls(plan, names, proxy.urls() if proxy else {})))
        while not interrupts.stop.wait(1.0):
            pass
        say("stopping (Ctrl-C again to kill)")
    except LocaldError as exc:
        code = 1
        if interrupts.count and isinstance(exc, (StartFailed, Cancelled)):
            say("interrupted: stopping")
            code = 130
        else:
            store.update(phase="failed", error=str(exc))
            say(f"error: {exc}")
    finally:
        store.update(phase="stopping")
        if coordinator:
            coordinator.down()
        if proxy:
            proxy.close()
        if server:
            server.close()
        for sink in sinks.values():
            sink.close()
        store.update(phase="stopped", processes={})
        registry.remove(listed)
        store.release()
    return code


def service_urls(plan, names, named: dict[str, str]):
    """`web http://shop.localhost (http://localhost:5173)`, `api http://localhost:8000`, `worker`."""
    for n in names:
        direct = plan.url(n) if plan.publishes(n) else None
        yield " ".join([n, named[n], f"({direct})"] if n in named else [n, direct] if direct else [n])


def record_status(store: StateStore, proxy):
    """The coordinator's status changes, into state.json and (as route states) to the proxy."""
    if proxy is None:
        return store.set_service

    def record(name: str, **fields) -> None:
        store.set_service(name, **fields)
        if "status" in fields:
            proxy.set_state(name, fields["status"])

    return record


def describe(coordinator, sinks, name: str) -> dict:
    """For the proxy's 503 page: the service's live status and its last lines of output."""
    info = coordinator.runtime_of[name].status().get(name, {}) if name in coordinator.runtime_of else {}
    sink = sinks.get(name)
    return {"status": info.get("state") or "waiting", "health": info.get("health"),
            "log": sink.last_lines(20) if sink else []}


def handle(coordinator, command: dict) -> dict:
    action = command.get("action")
    per_service = {"restart": coordinator.restart, "stop": coordinator.stop_service,
                   "start": coordinator.start_service}
    if action in per_service:
        for name in command.get("services", []):
            per_service[action](name)
        return {"ok": True}
    if action == "restart-stack":
        coordinator.restart_all()
        return {"ok": True}
    if action == "status":
        return {"services": coordinator.snapshot(command.get("services"))}
    if action == "describe":
        return {"services": coordinator.describe()}
    raise LocaldError(f"unknown request {action!r}")


# --- detached mode -------------------------------------------------------------------------------

def spawn_detached(project: Project, names: list[str]) -> subprocess.Popen:
    """Start `locald _supervise` in its own session; its output goes to .locald/supervisor.log."""
    state_dir = private_dir(project.state_dir)
    argv = [sys.executable, "-m", "locald", "-f", str(project.file), "_supervise", *names]
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
    leftovers = kill_leftovers(state_dir)
    had_containers = bool(state.get("compose_project") and state.get("containers"))
    if had_containers or project.containers:
        from .containers.engine import Owner, remove_project

        remove_project(Owner.of(project, state.get("compose_project")))
    return bool(leftovers or had_containers)
