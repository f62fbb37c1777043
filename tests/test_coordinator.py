"""The coordinator's ordering rules against small fake runtimes, in milliseconds: start order, stop
order, `completed_successfully`, `required = false`, failure propagation, cancellation, and one start
call per runtime per batch. The real runtimes are covered by the engine and process tests."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from locald.config.model import Project, build_service
from locald.errors import LocaldError
from locald.plan import make_plan
from locald.runtime.coordinator import Coordinator
from locald.runtime.service_runtime import COMPLETED, HEALTHY, STARTED, Cancelled, StartFailed


class FakeRuntime:
    """Runs the services whose kind is in `kinds`. `script[name]` says what a started service does:
    {"ready_after": s} becomes healthy after s seconds, {"exit": code, "after": s} ends with code,
    {"never": True} stays starting forever; no readiness check unless "ready_after" or "never"."""

    def __init__(self, kinds: tuple[str, ...], script: dict[str, dict], events: list):
        self.kinds, self.script, self.events = kinds, script, events
        self.state: dict[str, str] = {}
        self.ended: dict[str, float] = {}
        self.cond = threading.Condition()

    def _event(self, *what) -> None:
        with self.cond:
            self.events.append((time.monotonic(), *what))

    def handles(self, service) -> bool:
        return service.kind in self.kinds

    def prepare(self, names, say) -> None:
        self._event("prepare", tuple(names))

    def start(self, names, cancel=None) -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled")
        self._event("start", tuple(names))
        for name in names:
            plan = self.script.get(name, {})
            with self.cond:
                self.state[name] = "starting" if self.has_readiness(name) else "running"
            if "ready_after" in plan:
                threading.Timer(plan["ready_after"], self._set, args=(name, "healthy")).start()
            if "exit" in plan:
                threading.Timer(plan.get("after", 0.0), self._set, args=(name, f"exited {plan['exit']}")).start()

    def _set(self, name: str, state: str) -> None:
        with self.cond:
            if self.state.get(name) not in (None, "stopped"):
                self.state[name] = state
                self.ended[name] = time.time()
                self.cond.notify_all()

    def stop(self, names=None) -> None:
        self._event("stop", None if names is None else tuple(names))
        with self.cond:
            for name in (list(self.state) if names is None else names):
                self.state[name] = "stopped"
            self.cond.notify_all()

    def kill(self) -> None:
        self.stop(None)

    def restart(self, name) -> None:
        self.stop([name])
        self.start([name])

    def replan(self, plan, renewed, images=None) -> None:
        self._event("replan", tuple(renewed))
        with self.cond:
            for name in renewed:
                self.state.pop(name, None)

    def has_readiness(self, name) -> bool:
        plan = self.script.get(name, {})
        return "ready_after" in plan or plan.get("never", False)

    def _met(self, name: str, condition: str) -> bool | str:
        state = self.state.get(name)
        if state is None:
            return False
        if state.startswith("exited"):
            code = int(state.split()[1])
            if condition == COMPLETED or (condition == STARTED and code == 0):
                return True if code == 0 else f"exited with code {code}"
            return f"exited with code {code}"
        if condition == STARTED:
            return True
        if condition == HEALTHY:
            return state == "healthy"
        return False

    def wait(self, name, condition, timeout, cancel=None) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                met = self._met(name, condition)
                if met is True:
                    return
                if isinstance(met, str):
                    raise LocaldError(f"service {name} {met}")
                if cancel is not None and cancel.is_set():
                    raise Cancelled(f"stopped waiting for {name}")
                if time.monotonic() >= deadline:
                    raise LocaldError(f"service {name} was not {condition} after {timeout:g}s")
                self.cond.wait(0.01)

    def final_exit(self, name):
        state = self.state.get(name, "")
        return (int(state.split()[1]), self.ended[name]) if state.startswith("exited") else None

    def status(self) -> dict:
        with self.cond:
            return {n: {"state": s} for n, s in self.state.items()}


def plan_of(services: dict[str, dict]):
    project = Project("t", Path("/nonexistent/locald.toml"),
                      {n: build_service(n, raw) for n, raw in services.items()})
    return make_plan(project, check_free=False)


def run_stack(services: dict[str, dict], script: dict[str, dict], names: list[str] | None = None):
    """A coordinator over two fake runtimes: "processes" (exec, worker) and "containers" (container)."""
    plan = plan_of(services)
    events: list = []
    processes = FakeRuntime(("exec", "worker", "site"), script, events)
    containers = FakeRuntime(("container", "postgres"), script, events)
    said: list[str] = []
    coordinator = Coordinator(plan, names or plan.order, [processes, containers], say=said.append)
    coordinator.fakes = [processes, containers]
    return coordinator, events, said


def starts(events) -> list[tuple[str, ...]]:
    return [e[2] for e in events if e[1] == "start"]


def started_at(events, name: str) -> float:
    return next(e[0] for e in events if e[1] == "start" and name in e[2])


WORKER = {"type": "worker", "command": "x"}
IMAGE = {"image": "redis:7"}


def test_each_service_starts_once_its_dependencies_are_healthy():
    c, events, _ = run_stack(
        {"db": IMAGE, "api": {**WORKER, "depends_on": ["db"]}, "web": {**WORKER, "depends_on": ["api"]}},
        {"db": {"ready_after": 0.05}, "api": {"ready_after": 0.05}})
    c.preflight()
    c.up()
    assert starts(events) == [("db",), ("api",), ("web",)]
    assert started_at(events, "api") - started_at(events, "db") >= 0.05
    assert started_at(events, "web") - started_at(events, "api") >= 0.05


def test_services_that_become_startable_together_start_in_one_call_per_runtime():
    c, events, said = run_stack({"a": WORKER, "b": WORKER, "r1": IMAGE, "r2": IMAGE}, {})
    c.up()
    assert sorted(starts(events)) == [("a", "b"), ("r1", "r2")]
    assert said == ["starting a, b, r1, r2"]


def test_stop_goes_in_reverse_dependency_order_and_the_last_runtime_stops_the_rest_itself():
    c, events, _ = run_stack(
        {"db": IMAGE, "cache": IMAGE, "api": {**WORKER, "depends_on": ["db", "cache"]},
         "web": {**WORKER, "depends_on": ["api"]}}, {})
    c.up()
    events.clear()
    c.down()
    stops = [e[2] for e in events if e[1] == "stop"]
    # web, then api (processes), then one stop(None) for both containers; processes released at the end
    assert stops[:3] == [("web",), ("api",), None]
    assert stops[3:] == [None]


def test_completed_successfully_waits_for_the_job_to_end_with_zero():
    c, events, _ = run_stack(
        {"migrate": {**WORKER, "restart": "no"},
         "web": {**WORKER, "depends_on": {"migrate": "completed_successfully"}}},
        {"migrate": {"exit": 0, "after": 0.05}})
    c.up()
    assert starts(events) == [("migrate",), ("web",)]
    assert started_at(events, "web") - started_at(events, "migrate") >= 0.05


def test_a_failed_job_fails_the_start_and_its_dependent_never_starts():
    c, events, _ = run_stack(
        {"migrate": WORKER, "web": {**WORKER, "depends_on": {"migrate": "completed_successfully"}},
         "db": IMAGE, "api": {**WORKER, "depends_on": ["db"]}},
        {"migrate": {"exit": 3, "after": 0.05}, "db": {"never": True}})
    t0 = time.monotonic()
    with pytest.raises(StartFailed, match="'web' needs 'migrate' to be completed successfully: .*code 3"):
        c.up()
    assert time.monotonic() - t0 < 2, "the failure cancels this start's other waits (db would take 120 s)"
    assert sorted(starts(events)) == [("db",), ("migrate",)], "web and api never start"
    assert not c.cancel.is_set(), "the run itself is not cancelled: its caller decides (a convergence keeps it)"


def test_an_optional_dependency_that_fails_does_not_block_its_dependent():
    c, events, said = run_stack(
        {"metrics": WORKER,
         "web": {**WORKER, "depends_on": {"metrics": {"condition": "completed_successfully", "required": False}}}},
        {"metrics": {"exit": 1, "after": 0.01}})
    with pytest.raises(StartFailed):  # metrics itself still fails the final readiness check
        c.up()
    assert ("web",) in starts(events)
    assert any("optional dependency 'metrics' not completed successfully: starting anyway" in s for s in said)


def test_a_dependency_that_never_gets_healthy_times_out_with_both_names():
    c, events, _ = run_stack(
        {"db": IMAGE, "web": {**WORKER, "depends_on": {"db": {"condition": "healthy", "timeout": 0.2}}}},
        {"db": {"never": True}})
    t0 = time.monotonic()
    with pytest.raises(StartFailed, match="'web' needs 'db' to be healthy: service db was not healthy"):
        c.up()
    assert 0.15 < time.monotonic() - t0 < 2
    assert starts(events) == [("db",)]


def test_cancel_stops_the_start_between_batches():
    c, events, _ = run_stack({"db": IMAGE, "web": {**WORKER, "depends_on": ["db"]}}, {"db": {"never": True}})
    threading.Timer(0.1, c.cancel.set).start()
    t0 = time.monotonic()
    with pytest.raises(StartFailed):
        c.up()
    assert time.monotonic() - t0 < 1
    assert starts(events) == [("db",)], "nothing is started after cancel"


def test_up_of_a_selection_ignores_dependencies_outside_it():
    c, events, _ = run_stack({"db": IMAGE, "web": {**WORKER, "depends_on": ["db"]}}, {}, names=["web"])
    c.up()
    assert starts(events) == [("web",)]


def test_restart_and_snapshot_go_to_the_runtime_that_runs_the_service():
    c, events, _ = run_stack({"db": IMAGE, "web": WORKER}, {})
    c.up()
    c.restart("web")
    assert [e[1:] for e in events[-2:]] == [("stop", ("web",)), ("start", ("web",))]
    assert set(c.snapshot()) == {"db", "web"}
    with pytest.raises(LocaldError, match="not part of this run"):
        c.restart("nope")


def test_a_5000_service_chain_orders_and_stops_without_recursion():
    n = 5000
    services = {f"s{i}": {**WORKER, "depends_on": [f"s{i + 1}"]} if i + 1 < n else WORKER for i in range(n)}
    c, events, _ = run_stack(services, {})
    levels = c.stop_levels()
    assert levels[0] == ["s0"] and levels[-1] == [f"s{n - 1}"] and len(levels) == n


def test_no_thread_waits_for_a_service_that_has_not_started():
    """2,000 services that need one slow database: one wait for the database, not 2,000 waiting threads."""
    n = 2000
    services = {"db": IMAGE, **{f"w{i}": {**WORKER, "depends_on": ["db"]} for i in range(n)}}
    c, events, _ = run_stack(services, {"db": {"ready_after": 0.5}})
    before = threading.active_count()
    peak = [0]
    up = threading.Thread(target=c.up)
    up.start()
    while up.is_alive() and not starts(events)[1:]:  # until the workers start, everything waits for db
        peak[0] = max(peak[0], threading.active_count() - before)
        time.sleep(0.01)
    up.join()
    assert len(starts(events)) == 2 and len(starts(events)[1]) == n
    assert peak[0] < 10, f"{peak[0]} threads waited for db"


def test_outcome_is_known_only_once_every_service_has_ended():
    c, events, _ = run_stack({"a": WORKER, "b": WORKER, "c": WORKER},
                             {"a": {"exit": 0, "after": 0.2}, "b": {"exit": 4, "after": 0.3},
                              "c": {"exit": 2, "after": 0.6}})
    c.up()
    assert c.outcome() is None
    deadline = time.monotonic() + 5
    while c.outcome() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert c.outcome() == 4, "the first service that ended with non-zero decides the exit status"


# --- convergence --------------------------------------------------------------------------------------

def converge(c, services: dict[str, dict], **kw):
    """Converge a running fake stack to `services`, as the supervisor does: definitions diffed."""
    from locald.compose.translate import to_compose
    from locald.runtime.changes import definitions, diff

    plan = plan_of(services)
    changes = diff(definitions(c.plan, c.names, to_compose(c.plan, engine_api=(1, 41))),
                   definitions(plan, plan.order, to_compose(plan, engine_api=(1, 41))))
    return changes, c.converge(plan, plan.order, changes, c.fakes, **kw)


def test_converge_stops_removed_and_changed_first_then_starts_changed_and_added_in_order():
    base = {"db": IMAGE, "api": {**WORKER, "depends_on": ["db"]}, "web": {**WORKER, "depends_on": ["api"]},
            "old": {**WORKER, "depends_on": ["api"]}}
    c, events, _ = run_stack(base, {})
    c.up()
    events.clear()
    edited = {"db": IMAGE, "api": {**WORKER, "command": "y", "depends_on": ["db"]},
              "web": {**WORKER, "depends_on": ["api"]}, "new": {**WORKER, "depends_on": ["api"]}}
    changes, fresh = converge(c, edited)
    assert (changes.added, changes.removed, list(changes.changed)) == (["new"], ["old"], ["api"])
    assert changes.summary() == "applied: +new, ~api (command), -old"
    stops = [e[2] for e in events if e[1] == "stop"]
    assert stops == [("old",), ("api",)], "the removed dependent first, then the changed service"
    assert starts(events) == [("api",), ("new",)], "web and db untouched; new waits for api"
    assert fresh == ["api", "new"] and c.names == ["db", "api", "web", "new"]


def test_converge_with_restart_dependents_restarts_what_depends_on_a_change():
    base = {"db": IMAGE, "api": {**WORKER, "depends_on": ["db"]}, "cron": WORKER}
    c, events, _ = run_stack(base, {})
    c.up()
    events.clear()
    _, fresh = converge(c, {**base, "db": {"image": "redis:8"}}, restart_dependents=True)
    assert fresh == ["db", "api"] and [e[2] for e in events if e[1] == "stop"] == [("api",), ("db",)]


def test_a_dependency_whose_port_changes_restarts_the_services_that_read_it():
    base = {"api": {"command": "x", "port": 4001},
            "web": {**WORKER, "env": {"API": "${services.api.url}"}}, "other": WORKER}
    c, events, _ = run_stack(base, {})
    c.up()
    changes, fresh = converge(c, {**base, "api": {"command": "x", "port": 4002}})
    assert changes.changed == {"api": ["port"], "web": ["env API"]} and fresh == ["api", "web"]


def test_a_failed_convergence_leaves_the_rest_running():
    base = {"db": IMAGE, "api": WORKER}
    c, events, _ = run_stack(base, {})
    c.up()
    c.fakes[0].script["api"] = {"never": True, "exit": 1, "after": 0.01}
    with pytest.raises(StartFailed):
        converge(c, {**base, "api": {**WORKER, "command": "broken"}})
    assert not c.cancel.is_set() and c.fakes[1].state["db"] == "running", "db kept running"
