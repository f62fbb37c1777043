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
from ..plan import compose_project_name, make_plan, topological_order, with_dependencies
from .cleanup import kill_leftovers
from .control import ControlServer
from .output import Printer
from .private import open_append, private_dir
from .state import AlreadyRunning, StateStore, read_state, supervisor_running

SUPERVISOR_LOG = "supervisor.log"


def selection(project: Project, names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in project.services]
    if unknown:
        raise LocaldError(f"unknown service{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)} "
                          f"(services: {', '.join(project.services)})")
    return with_dependencies(project, names) if names else topological_order(project)


def remove_leftovers(project: Project, state_dir: Path, echo=None) -> None:
    """What a crashed run left: every marked process, and the compose project's containers."""
    found = kill_leftovers(state_dir)
    if found and echo:
        echo(f"removed {found} leftover process{'es' if found != 1 else ''} of an earlier run")
    state = read_state(state_dir)
    compose_project = state.get("compose_project")
    if compose_project and state.get("containers"):
        from .containers import ContainerRuntime

        ContainerRuntime.remove_project(compose_project)


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


def run(project: Project, names: list[str], printer: Printer | None, detached: bool = False) -> int:
    """Bring the selection up, keep it running until told to stop, bring it down. Exit status."""
    from .coordinator import Coordinator, StartFailed

    names = selection(project, names)
    plan = make_plan(project)
    store = StateStore(plan.state_dir)
    try:
        store.acquire()
    except AlreadyRunning:
        raise already_running(plan.state_dir) from None
    interrupts = Interrupts()
    interrupts.install()
    say = printer.system if printer else (lambda text: print(text, flush=True))
    coordinator = None
    server = None
    code = 0
    try:
        remove_leftovers(project, plan.state_dir, say)
        coordinator = Coordinator(plan, names, printer, store)
        coordinator.cancel = interrupts.stop  # a signal cancels the start at once
        interrupts.on_force = coordinator.kill
        store.start(pid=os.getpid(), file=str(project.file), compose_project=plan.compose_project,
                    containers=bool(coordinator.container_names), names=names, phase="starting",
                    ports=plan.ports, detached=detached)
        server = ControlServer(plan.state_dir, lambda cmd: handle(coordinator, cmd))
        coordinator.preflight()
        store.update(ports=plan.ports, container_ports=plan.container_ports)
        coordinator.up()
        store.update(phase="ready")
        say("ready: " + ", ".join(f"{n} {url}" if url else n for n, url in service_urls(plan, names)))
        while not interrupts.stop.wait(1.0):
            pass
        say("stopping (Ctrl-C again to kill)")
    except StartFailed as exc:
        code = 1
        if interrupts.stop.is_set() and interrupts.count:
            say("interrupted: stopping")
            code = 130
        else:
            store.update(phase="failed", error=str(exc))
            say(f"error: {exc}")
    except LocaldError as exc:
        code = 1
        store.update(phase="failed", error=str(exc))
        say(f"error: {exc}")
    finally:
        store.update(phase="stopping")
        if coordinator:
            coordinator.down()
        if server:
            server.close()
        store.update(phase="stopped", processes={})
        store.release()
    if code == 0 and interrupts.count == 0:
        return 0
    return code


def service_urls(plan, names):
    for n in names:
        service = plan.service(n)
        url = plan.url(n) if n in plan.ports and (not service.is_container or n in plan.container_ports) else None
        yield n, url


def handle(coordinator, command: dict) -> dict:
    action = command.get("action")
    if action == "restart":
        for name in command.get("services", []):
            coordinator.restart(name)
        return {"ok": True}
    if action == "status":
        return {"services": coordinator.snapshot()}
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
        from .containers import ContainerRuntime

        ContainerRuntime.remove_project(state.get("compose_project") or compose_project_name(project.name))
    return bool(leftovers or had_containers)
