"""The running projects seen from outside (blocking code: the hub runs `Watch.tick` in a worker thread,
and only while a page is open).

Per tick: the registry (which projects run); each project's state.json when it changed; the live status
of its host processes through the control channel (held in memory by the supervisor: cheap to ask);
new lines of their log files. Containers are not polled: a `docker events` child per project says when
something changed, and only then is the supervisor asked for their status (it runs `docker ps`) and
the engine for their details (one `docker inspect`: start time, restarts, last health-check output);
`docker logs --follow` of each container brings its lines.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from datetime import datetime
from functools import partial

from ..errors import LocaldError
from ..runtime.control import request
from ..runtime.state import log_dir, read_state
from . import registry
from .follow import ChildStream, FileTail, line_text
from .logbook import Logbook
from .view import CRASH_LINES, layout, service_row

log = logging.getLogger("locald.dashboard")
CONTROL_TIMEOUT = 5.0
STATE_FILE = "state.json"


class ProjectWatch:
    """One run of one project (a new run of the same project is a new ProjectWatch)."""

    def __init__(self, entry: registry.Entry, logbook: Logbook):
        self.entry = entry
        self.logbook = logbook
        self.state: dict = {}
        self._state_stamp: int | None = None
        self.description: dict | None = None
        self.graph: dict = layout({})
        self.live: dict[str, dict] = {}
        self.facts: dict[str, dict] = {}
        self._applied = None  # state.json's config_applied when the description was taken
        self.files: dict[str, FileTail] = {}  # process service → its log file
        self.events: ChildStream | None = None  # the engine's events about this project's containers
        self.logs: dict[str, tuple[str, ChildStream]] = {}  # container service → (container id, its logs)
        self.engine_changed = threading.Event()
        self.failed = False  # a refresh raised (logged once)

    # --- the tick ------------------------------------------------------------------------------------

    def refresh(self) -> None:
        self._read_state()
        if self.description is None or self.state.get("config_applied") != self._applied:
            # Its first look, or the run converged to an edited locald.toml: services may have come or gone.
            if not self._describe() and self.description is None:
                return  # its supervisor is still planning: state.json is all there is
        processes = [n for n, d in self.description.items() if not d.get("container")]
        if processes:
            self._status(processes)
        if self.engine_changed.is_set():
            self.engine_changed.clear()
            self._containers([n for n, d in self.description.items() if d.get("container")])
        for tail in self.files.values():
            tail.poll()

    def view(self) -> dict:
        described = self.description or {}
        recorded = self.state.get("services", {})
        public = self.state.get("public_urls", {})
        key = self.entry.key
        rows = [service_row(n, described.get(n, {}), self.live.get(n, {}), recorded.get(n, {}), public.get(n),
                            self.facts.get(n, {}), self.logbook.last(key, n, CRASH_LINES))
                for n in (described or self.state.get("names", []))]
        return {"key": key, "name": self.entry.name, "root": str(self.entry.root), "phase": self.state.get("phase"),
                "error": self.state.get("error"), "services": rows, "graph": self.graph}

    def close(self) -> None:
        for stream in [self.events, *(stream for _, stream in self.logs.values())]:
            if stream is not None:
                stream.close()
        self.events, self.logs = None, {}
        self.logbook.forget(self.entry.key)

    # --- sources -------------------------------------------------------------------------------------

    def _read_state(self) -> None:
        try:
            stamp = (self.entry.state_dir / STATE_FILE).stat().st_mtime_ns
        except OSError:
            return
        if stamp != self._state_stamp:
            self._state_stamp, self.state = stamp, read_state(self.entry.state_dir)

    def _ask(self, command: dict) -> dict | None:
        try:
            return request(self.entry.state_dir, command, timeout=CONTROL_TIMEOUT)
        except LocaldError as exc:  # still planning, or stopping: the next tick asks again
            log.debug("%s: %s", self.entry.name, exc)
            return None

    def _describe(self) -> bool:
        reply = self._ask({"action": "describe"})
        if reply is None:
            return False
        self.description = described = reply.get("services", {})
        self._applied = self.state.get("config_applied")
        self.graph = layout(described)
        logs = log_dir(self.entry.state_dir)
        processes = {n for n, d in described.items() if not d.get("container")}
        for name in processes - set(self.files):
            self.files[name] = FileTail(logs / f"{name}.log", partial(self.logbook.add, self.entry.key, name),
                                        self.logbook.per_service)
        for name in set(self.files) - processes:
            del self.files[name]
        for name in [n for n in self.logs if n not in described or not described[n].get("container")]:
            self.logs.pop(name)[1].close()
        if len(processes) < len(described) and self.events is None:
            self._follow_engine()
        self.engine_changed.set()  # containers may have come: look at them
        return True

    def _status(self, names: list[str]) -> dict | None:
        reply = self._ask({"action": "status", "services": names})
        if reply is not None:
            services = reply.get("services", {})
            for name in names:
                self.live[name] = services.get(name, {})  # a removed container: no entry, so stopped
            return services
        return None

    def _containers(self, names: list[str]) -> None:
        services = self._status(names) if names else None
        if services is None:
            return
        self.facts = inspect({n: s["container"] for n, s in services.items() if s.get("container")})
        for name in names:
            self._follow_container(name, self.facts.get(name, {}).get("id"))

    def _follow_engine(self) -> None:
        """One `docker events` child per project: it says when to ask about the containers."""
        from ..runtime.containers import engine

        owner = engine.Owner(self.state.get("compose_project", ""), self.state.get("file", ""))
        events = [engine.docker(), "events", "--filter", "type=container", *owner.filters(), "--format", "{{.Action}}"]
        self.events = ChildStream(events, lambda line: self.engine_changed.set())

    def _follow_container(self, name: str, container: str | None) -> None:
        """`docker logs --follow` of the service's current container; a new container (a restart
        recreates it) gets a new follower, which starts with its first lines."""
        from ..runtime.containers import engine

        following = self.logs.get(name)
        if following is not None and following[0] == container:
            return
        if following is not None:
            self.logs.pop(name)[1].close()
        if container:
            emit = partial(self.logbook.add, self.entry.key, name)
            argv = [engine.docker(), "logs", "--follow", "--tail", str(self.logbook.per_service), container]
            self.logs[name] = (container, ChildStream(argv, lambda line: emit([line_text(line)])))


_NANOS = re.compile(r"(\.\d{6})\d+")


def inspect(containers: dict[str, str]) -> dict[str, dict]:
    """service → its container's start time (epoch, while running), restarts by the engine's policy, exit
    code (when not running) and last health-check output, from one `docker inspect`."""
    from ..runtime.containers import engine

    if not containers:
        return {}
    result = engine.run(["inspect", "--type", "container", *containers.values()])
    try:
        found = {c.get("Name", "").lstrip("/"): c for c in json.loads(result.stdout or "[]")}
    except ValueError:
        return {}
    facts = {}
    for service, name in containers.items():
        data = found.get(name)
        if data is None:
            continue
        state = data.get("State") or {}
        started = None
        if state.get("Running") and state.get("StartedAt"):
            started = datetime.fromisoformat(_NANOS.sub(r"\1", state["StartedAt"])).timestamp()
        probes = (state.get("Health") or {}).get("Log") or []
        last = probes[-1] if probes else None
        facts[service] = {
            "id": data.get("Id"),
            "started_at": started,
            "restarts": data.get("RestartCount", 0),
            "exit_code": None if state.get("Running") else state.get("ExitCode"),
            "health_output": f"exit {last.get('ExitCode')}: {(last.get('Output') or '').strip()}" if last else None,
        }
    return facts


class Watch:
    """Every running project of this user; `tick` refreshes them all and says what the page shows."""

    def __init__(self) -> None:
        self.logbook = Logbook()
        self.projects: dict[tuple[str, int | None], ProjectWatch] = {}
        self._lock = threading.Lock()  # a tick and close() never overlap
        self._closed = False

    def tick(self) -> tuple[dict, list]:
        """(what the page shows, new log lines)."""
        with self._lock:
            if self._closed:
                return {"projects": []}, []
            entries = {(e.key, e.pid): e for e in registry.running()}
            for ident in [i for i in self.projects if i not in entries]:
                self.projects.pop(ident).close()
            for ident, entry in entries.items():
                if ident not in self.projects:
                    self.projects[ident] = ProjectWatch(entry, self.logbook)
                project = self.projects[ident]
                try:
                    project.refresh()
                except Exception:  # one odd project must not blank the page for the others
                    if not project.failed:
                        log.exception("the dashboard cannot follow %s", entry.name)
                    project.failed = True
            view = {"projects": [p.view() for p in self.projects.values()]}
        return view, self.logbook.take_new()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for project in self.projects.values():
                project.close()
            self.projects.clear()
