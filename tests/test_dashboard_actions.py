"""What the dashboard asks of a supervisor: the coordinator's new verbs against fake runtimes (order,
which runtime is asked), then a real stack of host processes seen and driven through a dashboard
server of its own: describe, live status, logs, a crash, stop, start, restart, restart of the stack."""

from __future__ import annotations

import os

import pytest
from dashboard_helpers import SERVE, Events, act, dashboard_server, processes  # noqa: F401  (fixture)
from proxy_helpers import proxy_env  # noqa: F401  (fixture)
from stack import wait_until
from test_coordinator import run_stack

from locald.errors import LocaldError
from locald.runtime.control import request



# --- the coordinator, against fakes --------------------------------------------------------------------

SERVICES = {
    "db": {"type": "container", "image": "postgres:16"},
    "api": {"command": "api", "depends_on": ["db"]},
    "web": {"command": "web", "depends_on": {"api": "started"}},
}


def test_restart_all_stops_dependents_first_and_starts_each_level_once_the_one_below_is_ready():
    coordinator, events, _ = run_stack(SERVICES, {"db": {"ready_after": 0.05}, "api": {"ready_after": 0.05}})
    coordinator.up()
    events.clear()
    coordinator.restart_all()
    steps = [(what, names) for _, what, names in events]
    assert steps == [("stop", ("web",)), ("stop", ("api",)), ("stop", ("db",)),
                     ("start", ("db",)), ("start", ("api",)), ("start", ("web",))]
    assert not coordinator.cancel.is_set()


def test_a_failed_restart_all_is_raised_without_ending_the_run():
    coordinator, _, _ = run_stack(SERVICES, {"db": {"ready_after": 0.01}})
    coordinator.up()
    coordinator.runtime_of["db"].script["db"] = {"ready_after": 30, "exit": 1, "after": 0.0}
    with pytest.raises(LocaldError, match="exited with code 1"):
        coordinator.restart_all()
    assert not coordinator.cancel.is_set()  # the supervisor keeps running: the dashboard shows the failure


def test_stop_and_start_one_service_leave_the_others_alone():
    coordinator, events, _ = run_stack(SERVICES, {})
    coordinator.up()
    events.clear()
    coordinator.stop_service("api")
    coordinator.start_service("api")
    assert [(what, names) for _, what, names in events] == [("stop", ("api",)), ("start", ("api",))]
    with pytest.raises(LocaldError, match="not part of this run"):
        coordinator.stop_service("nope")


def test_a_snapshot_of_some_services_asks_only_their_runtime():
    coordinator, _, _ = run_stack(SERVICES, {})
    coordinator.up()
    asked = []
    for runtime in coordinator.runtimes:
        original = runtime.status
        runtime.status = lambda original=original, runtime=runtime: asked.append(runtime.kinds) or original()
    assert set(coordinator.snapshot(["api", "web"])) == {"api", "web"}
    assert asked == [("exec", "worker", "site")]  # the engine's runtime was not asked


def test_describe_says_kind_engine_port_and_the_condition_awaited():
    coordinator, _, _ = run_stack(SERVICES, {"db": {"ready_after": 0.01}})
    described = coordinator.describe()
    assert described["db"]["container"] is True and described["api"]["container"] is False
    assert described["api"]["depends_on"] == [{"name": "db", "required": True, "condition": "healthy"}]
    assert described["web"]["depends_on"] == [{"name": "api", "required": True, "condition": "started"}]
    assert described["api"]["url"] == f"http://localhost:{described['api']['port']}"


# --- a real stack, through a dashboard server ---------------------------------------------------------

@pytest.fixture
def stack(stack_factory, proxy_env, monkeypatch):  # noqa: F811
    monkeypatch.setenv("LOCALD_PROXY", "off")  # the dashboard finds it through the registry alone
    s = stack_factory(processes())
    (s.root / "serve.py").write_text(SERVE)
    s.locald("up", "-d", check=True)
    return s


def pid_of(stack, name: str) -> int:
    return stack.status()[name]["pid"]


def test_a_process_stack_seen_and_driven_from_the_dashboard(stack, dashboard_server):  # noqa: F811
    events = Events(dashboard_server.port)
    try:
        rows = events.until(lambda e: len(e.rows(stack.name)) == 3 and e.rows(stack.name), what="three rows")
        assert {n: r["kind"] for n, r in rows.items()} == {"api": "exec", "web": "exec", "jobs": "worker"}
        project = events.project(stack.name)
        key = project["key"]
        assert [(e["from"], e["to"], e["condition"]) for e in project["graph"]["edges"]] == [
            ("api", "web", "healthy"), ("web", "jobs", "healthy")]
        events.until(lambda e: all(r["status"] == "healthy" for n, r in e.rows(stack.name).items() if n != "jobs"))
        # logs of every process, colours kept for the page to render
        events.until(lambda e: any(l[2] == "web" and "\x1b[1;34mweb\x1b[0m listening" in l[3] for l in e.lines))

        # a crash: highlighted with its exit code and last lines
        (stack.root / "fail").touch()
        jobs = events.until(lambda e: e.rows(stack.name)["jobs"]["crashed"] and e.rows(stack.name)["jobs"],
                            what="the crash")
        assert (jobs["exit_code"], jobs["tone"]) == (3, "bad")
        assert "lost the queue" in jobs["last_lines"] and "picking up jobs" in jobs["last_lines"]

        # stop and start one service; its pid changes, the other's does not
        web_pid, api_pid = pid_of(stack, "web"), pid_of(stack, "api")
        assert act(dashboard_server, key, "stop", "web") == (200, {"ok": True})
        events.until(lambda e: e.rows(stack.name)["web"]["status"] == "stopped", what="web stopped")
        assert pid_of(stack, "web") is None
        assert act(dashboard_server, key, "start", "web") == (200, {"ok": True})
        events.until(lambda e: e.rows(stack.name)["web"]["status"] == "healthy", what="web healthy again")
        assert pid_of(stack, "web") not in (None, web_pid) and pid_of(stack, "api") == api_pid

        # restart one service: a new process, shown with its new pid
        assert act(dashboard_server, key, "restart", "api") == (200, {"ok": True})
        new_api = wait_until(lambda: pid_of(stack, "api") not in (None, api_pid) and pid_of(stack, "api"))
        events.until(lambda e: e.rows(stack.name)["api"]["pid"] == new_api, what="api's new pid")

        # restart the whole stack: every process anew, dependencies first
        before = {n: pid_of(stack, n) for n in ("api", "web")}
        (stack.root / "fail").unlink()
        assert act(dashboard_server, key, "restart-stack") == (200, {"ok": True})
        after = {n: pid_of(stack, n) for n in ("api", "web")}
        assert all(after[n] not in (None, before[n]) for n in after)
        jobs = events.until(lambda e: e.rows(stack.name)["jobs"]["status"] == "running" and e.rows(stack.name)["jobs"])
        assert not jobs["crashed"]

        # mistakes get one sentence
        assert act(dashboard_server, key, "restart", "nope")[0] == 409
        assert "not part of this run" in act(dashboard_server, key, "restart", "nope")[1]["error"]
        assert act(dashboard_server, "0" * 16, "restart", "api")[0] == 404
        assert act(dashboard_server, key, "explode", "api")[0] == 400
    finally:
        events.close()

    stack.locald("down", check=True)
    stack.assert_nothing_left()


def test_the_control_channel_answers_describe_and_a_filtered_status(stack):
    described = request(stack.state_dir, {"action": "describe"})["services"]
    assert set(described) == {"api", "web", "jobs"} and described["web"]["port"] > 0
    assert set(request(stack.state_dir, {"action": "status", "services": ["jobs"]})["services"]) == {"jobs"}
    stack.locald("down", check=True)


def test_with_no_page_open_the_dashboard_runs_no_thread_and_no_child(stack, dashboard_server):  # noqa: F811
    import psutil

    server = psutil.Process(dashboard_server.proc.pid)
    idle_threads = server.num_threads()
    events = Events(dashboard_server.port)
    events.until(lambda e: e.rows(stack.name))
    assert server.num_threads() > idle_threads  # watching: the tick's worker thread
    events.close()
    wait_until(lambda: server.num_threads() <= idle_threads and not server.children(), 10,
               what="the watch to stop with the last page")
    stack.locald("down", check=True)
    assert os.path.exists(stack.state_dir)


def test_an_edit_of_locald_toml_shows_once_the_run_has_converged(stack, dashboard_server):  # noqa: F811
    events = Events(dashboard_server.port)
    try:
        events.until(lambda e: set(e.rows(stack.name)) == {"api", "web", "jobs"})
        text = stack.file.read_text()
        mailer = '\n[services.mailer]\ntype = "worker"\ncommand = "sh -c \'echo mailer ready; sleep 300\'"\n' \
                 'depends_on = ["api"]\n'
        stack.file.write_text(text[:text.index("[services.jobs]")] + mailer)  # jobs goes, mailer comes
        events.until(lambda e: set(e.rows(stack.name)) == {"api", "web", "mailer"}, what="the edit on the page")
        events.until(lambda e: any(l[2] == "mailer" and l[3] == "mailer ready" for l in e.lines), what="its log")
        assert sorted((e["from"], e["to"]) for e in events.project(stack.name)["graph"]["edges"]) == [
            ("api", "mailer"), ("api", "web")]
    finally:
        events.close()
    stack.locald("down", check=True)
