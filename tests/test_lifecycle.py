"""The lifecycle of host-process stacks through the real CLI: order, jobs, down from another terminal,
crash safety, restart, run, logs. Real processes, no engine needed."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from stack import wait_until

PY = sys.executable

SERVER = f"{PY} -m http.server $PORT --bind 127.0.0.1"


def test_dependent_starts_only_after_dependency_is_healthy(stack_factory):
    s = stack_factory(f"""
        [services.api]
        command = "sleep 1; exec {SERVER}"

        [services.web]
        type = "worker"
        command = "{PY} -c \\"import socket,os; socket.create_connection(('127.0.0.1', int(os.environ['API_PORT']))); print('api was ready'); import time; time.sleep(300)\\""
        env = {{ API_PORT = "${{services.api.port}}" }}
        depends_on = ["api"]
    """)
    s.locald("up", "-d", check=True)
    s.wait_log("web", "api was ready", timeout=15)
    status = s.status()
    assert status["api"]["status"] in ("running", "healthy")
    assert status["web"]["status"] in ("running", "started", "healthy")
    assert status["api"]["url"] == f"http://localhost:{status['api']['port']}"
    down = s.locald("down", check=True)
    assert "stopped" in down.stdout
    s.assert_nothing_left()
    assert s.state()["phase"] == "stopped"


def test_job_success_releases_dependents_and_failure_stops_up(stack_factory):
    ok = stack_factory("""
        [services.migrate]
        type = "worker"
        command = "sleep 0.5; echo migrated; touch migrated"

        [services.app]
        type = "worker"
        command = "test -f migrated && echo saw-migration; sleep 300"
        depends_on = { migrate = "completed_successfully" }
    """, sub="ok")
    ok.locald("up", "-d", check=True)
    ok.wait_log("app", "saw-migration")
    ok.locald("down", check=True)
    ok.assert_nothing_left()

    bad = stack_factory("""
        [services.migrate]
        type = "worker"
        command = "echo 'relation users does not exist'; exit 3"

        [services.app]
        type = "worker"
        command = "echo app-started; sleep 300"
        depends_on = { migrate = "completed_successfully" }
    """, sub="bad")
    r = bad.locald("up", "-d")
    assert r.returncode == 1
    assert "migrate" in r.stderr and "relation users does not exist" in r.stderr
    assert "app-started" not in bad.log("app")
    bad.assert_nothing_left()


def test_second_up_converges_and_a_second_supervisor_is_refused(stack_factory):
    s = stack_factory("""
        [services.w]
        type = "worker"
        command = "sleep 300"
    """)
    s.locald("up", "-d", check=True)
    pid = s.status()["w"]["pid"]
    again = s.locald("up", "-d", check=True)
    assert "no changes" in again.stderr and s.status()["w"]["pid"] == pid, "nothing changed, nothing restarted"
    second = s.locald("_supervise")  # what a second `up` racing the first would run
    assert second.returncode == 1 and "already running" in second.stdout + second.stderr
    s.locald("down", check=True)
    s.assert_nothing_left()


def test_sigkill_of_supervisor_then_down_leaves_nothing(stack_factory):
    s = stack_factory("""
        [services.a]
        type = "worker"
        command = "sleep 300"

        [services.b]
        type = "worker"
        # a grandchild that leaves the process group: only the environment marker finds it
        command = "setsid sleep 301 & sleep 300"
    """)
    s.locald("up", "-d", check=True)
    wait_until(lambda: len(s.leftover_processes()) >= 3, what="three processes")
    os.kill(s.supervisor_pid(), signal.SIGKILL)
    time.sleep(0.3)
    assert s.leftover_processes(), "the processes outlive the supervisor (this is what down must clean)"
    r = s.locald("down", check=True)
    assert "stopped" in r.stdout
    s.assert_nothing_left()


def test_sigkill_of_supervisor_then_up_cleans_and_starts(stack_factory):
    s = stack_factory("""
        [services.a]
        type = "worker"
        command = "sleep 300"
    """)
    s.locald("up", "-d", check=True)
    wait_until(lambda: s.leftover_processes(), what="process")
    old = set(s.leftover_processes())
    os.kill(s.supervisor_pid(), signal.SIGKILL)
    s.locald("up", "-d", check=True)
    wait_until(lambda: s.leftover_processes(), what="process")
    assert not (old & set(s.leftover_processes())), "the old run's process survived the new up"
    s.locald("down", check=True)
    s.assert_nothing_left()


@pytest.mark.parametrize("attempt", range(4))
def test_ctrl_c_at_a_random_moment_leaves_nothing(stack_factory, attempt):
    s = stack_factory(f"""
        [services.slow]
        command = "sleep 0.7; exec {SERVER}"

        [services.mid]
        type = "worker"
        command = "trap '' TERM; sleep 300"
        stop_grace_period = "1s"
        depends_on = ["slow"]

        [services.last]
        type = "worker"
        command = "sleep 300"
        depends_on = ["mid"]
    """)
    proc = s.up_attached()
    time.sleep(random.uniform(0.1, 2.0))
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode in (0, 1, 130), out
    s.assert_nothing_left()


def test_attached_up_merges_prefixed_logs_and_stops_on_sigint(stack_factory):
    s = stack_factory("""
        [services.one]
        type = "worker"
        command = "echo hello-from-one; sleep 300"

        [services.two]
        type = "worker"
        command = "echo hello-from-two; sleep 300"
    """)
    proc = s.up_attached()
    s.wait_log("one", "hello-from-one")
    s.wait_log("two", "hello-from-two")
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    lines = out.splitlines()
    assert any(line.startswith("one") and "| hello-from-one" in line for line in lines), out
    assert any(line.startswith("two") and "| hello-from-two" in line for line in lines), out
    s.assert_nothing_left()


def test_restart_run_logs_and_subset(stack_factory):
    s = stack_factory(f"""
        [services.api]
        command = "echo api-start; exec {SERVER}"
        env = {{ GREETING = "hi" }}

        [services.web]
        type = "worker"
        command = "echo web-start; sleep 300"
        env = {{ API = "${{services.api.url}}" }}
        depends_on = ["api"]

        [services.other]
        type = "worker"
        command = "echo other-start; sleep 300"
    """)
    s.locald("up", "-d", "web", check=True)
    status = s.status()
    assert status["other"]["status"] == "stopped"  # not selected: `up web` takes web and its dependencies
    assert status["api"]["status"] in ("running", "healthy")
    pid = status["web"]["pid"]
    s.locald("restart", "web", check=True)
    wait_until(lambda: s.status()["web"]["pid"] not in (None, pid), what="a new pid")
    r = s.locald("run", "web", "--", "sh", "-c", "echo $API $PORT", check=True)
    assert r.stdout.strip() == f"http://localhost:{status['api']['port']}"
    r = s.locald("run", "api", "--", "sh", "-c", "echo $GREETING:$PORT", check=True)
    assert r.stdout.strip() == f"hi:{status['api']['port']}"
    logs = s.locald("logs", "--no-color", "web", check=True).stdout
    assert logs.count("web-start") == 2 and "api-start" not in logs
    s.locald("down", check=True)
    s.assert_nothing_left()


def test_fixed_port_taken_is_reported_before_anything_starts(stack_factory):
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        s = stack_factory(f"""
            [services.first]
            type = "worker"
            command = "echo should-not-start; sleep 300"

            [services.web]
            command = "{SERVER}"
            port = {port}
        """)
        r = s.locald("up", "-d")
        assert r.returncode == 1
        assert f"port {port}" in r.stderr and f"pid {os.getpid()}" in r.stderr
        assert "should-not-start" not in s.log("first")
        s.assert_nothing_left()
    finally:
        holder.close()


def test_status_when_not_running_and_bad_service_names(stack_factory):
    s = stack_factory("""
        [services.w]
        type = "worker"
        command = "sleep 300"
    """)
    rows = json.loads(s.locald("status", "--json", check=True).stdout)
    assert [r["status"] for r in rows] == ["stopped"]
    r = s.locald("up", "-d", "nope")
    assert r.returncode == 1 and "unknown service" in r.stderr and "Traceback" not in r.stderr
    r = s.locald("restart", "w")
    assert r.returncode == 1 and "not running" in r.stderr
    r = s.locald("down", check=True)
    assert "not running" in r.stdout


# --- the end of an attached run (issue 8, item 3) ---------------------------------------------------------


def test_attached_up_ends_when_every_service_has_ended_with_zero(stack_factory):
    s = stack_factory("""
        [services.one]
        type = "worker"
        command = "echo one-done"

        [services.two]
        type = "worker"
        command = "sleep 0.5; echo two-done"
    """)
    proc = s.up_attached()
    out, _ = proc.communicate(timeout=30)  # before: it never ended
    assert proc.returncode == 0, out
    assert "one-done" in out and "two-done" in out
    assert "every service has ended" in out
    assert s.state()["phase"] == "stopped"
    s.assert_nothing_left()


def test_attached_up_exits_with_the_first_nonzero_code_after_restarts_are_spent(stack_factory):
    s = stack_factory("""
        [services.second]
        type = "worker"
        command = "sleep 6; exit 3"

        [services.later]
        type = "worker"
        command = "sleep 7; exit 5"

        [services.retried]
        type = "worker"
        command = "exit 0"
        restart = "on-failure"

        # Runs long enough to count as started (one that fails at once fails `up` itself: see below).
        [services.flaky]
        type = "worker"
        command = "sleep 1.2; exit 7"
        restart = "on-failure"
        max_restarts = 2
    """)
    proc = s.up_attached()
    out, _ = proc.communicate(timeout=40)
    assert "flaky exited with code 7; gave up after 2 restarts" in out, out
    assert proc.returncode == 7, out  # flaky gave up (~4 s) before second (6 s) and later (7 s) ended
    s.assert_nothing_left()


@pytest.mark.parametrize("restart", ["no", "on-failure"])
def test_a_process_that_fails_within_a_second_fails_up(stack_factory, restart):
    """Once it passed as started the moment it was spawned: `up -d` said ready and exited 0 while an
    import error ended the process 0.3 s later. A crash loop fails at the dependency timeout, saying so."""
    s = stack_factory(f"""
        [services.api]
        type = "worker"
        command = "sleep 0.3; echo 'ImportError: no module named flask' >&2; exit 4"
        restart = "{restart}"

        [services.web]
        type = "worker"
        command = "sleep 300"
        depends_on = {{ api = {{ condition = "started", timeout = "4s" }} }}
    """)
    up = s.locald("up", "-d")
    text = up.stdout + up.stderr
    assert up.returncode == 1, text
    if restart == "no":
        assert "service api exited with code 4" in text and "ImportError: no module named flask" in text, text
    else:
        assert "did not keep running for 1s within 4s: it was restarted" in text, text
    assert "web: started" not in text, "what waits for api must not start"
    s.assert_nothing_left()


def test_attached_up_keeps_running_while_a_service_will_restart(stack_factory):
    s = stack_factory("""
        [services.job]
        type = "worker"
        command = "echo job-done"

        [services.ticker]
        type = "worker"
        command = "echo tick; sleep 0.2"
        restart = "always"
    """)
    proc = s.up_attached()
    s.wait_log("job", "job-done")
    wait_until(lambda: s.log("ticker").count("tick") >= 5, what="five ticks")
    assert proc.poll() is None, "up ended although ticker is going to run again"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    s.assert_nothing_left()


# --- the state directory (item 10) ----------------------------------------------------------------------


def test_a_file_in_place_of_the_state_dir_is_one_clear_error_before_anything_starts(stack_factory):
    s = stack_factory("""
        [services.w]
        type = "worker"
        command = "touch started; sleep 300"
    """)
    s.state_dir.write_text("not a directory")
    for args in (("up", "--no-color"), ("up", "-d")):
        r = s.locald(*args, timeout=60)
        assert r.returncode == 1, r
        assert "Traceback" not in r.stdout + r.stderr
        assert f"{s.state_dir} is a file" in r.stderr and "move the file away" in r.stderr, r.stderr
        assert not (s.root / "started").exists(), "a service started although locald could not keep its state"
    s.state_dir.unlink()


def test_state_dir_that_becomes_unwritable_while_running_still_stops_everything(stack_factory):
    s = stack_factory(f"""
        [services.api]
        command = "{SERVER}"

        [services.w]
        type = "worker"
        command = "trap '' TERM; sleep 300"
        stop_grace_period = "1s"
        depends_on = ["api"]
    """)
    out, marker_dir = s.interrupt_without_state_dir(s.up_attached(), timeout=30)
    assert "Traceback" not in out, out
    assert "cannot write" in out and "still stops everything" in out, out
    from locald.runtime.cleanup import find_leftovers

    assert find_leftovers(marker_dir) == [], "processes kept running after the state dir went away"


# --- leftovers (item 12) ----------------------------------------------------------------------------------


def _pids_running(argv: list[str]) -> list[int]:
    """Live processes whose command line is exactly `argv`."""
    wanted = "\0".join(argv).encode() + b"\0"
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if fh.read() == wanted:
                        found.append(int(entry))
            except OSError:
                pass
    return found


@pytest.mark.parametrize("crash", [False, True], ids=["down", "down-after-sigkill"])
def test_a_daemon_without_group_or_environment_is_found_by_down(stack_factory, crash):
    """`setsid env -i` leaves the process group and drops the environment marker: only the process tree
    below the recorded group finds it (while its parent lives)."""
    seconds = str(random.randint(4000, 9000))
    s = stack_factory(f"""
        [services.d]
        type = "worker"
        command = "setsid env -i sleep {seconds} & sleep 300"
    """)
    s.locald("up", "-d", check=True)
    daemon = wait_until(lambda: _pids_running(["sleep", seconds]), what="the daemon")
    assert os.getsid(daemon[0]) == daemon[0], "the daemon should lead its own session"
    if crash:
        os.kill(s.supervisor_pid(), signal.SIGKILL)
    s.locald("down", check=True)
    wait_until(lambda: not _pids_running(["sleep", seconds]), timeout=5, what="the daemon to be gone")
    s.assert_nothing_left()


def test_down_after_a_crash_never_kills_a_process_that_reused_a_recorded_pid(stack_factory):
    s = stack_factory("""
        [services.w]
        type = "worker"
        command = "sleep 300"
    """)
    bystander = subprocess.Popen(["sleep", "301"], start_new_session=True)
    try:
        s.state_dir.mkdir()
        # What a crashed run would have left, if its process's pid now belonged to someone else.
        (s.state_dir / "state.json").write_text(json.dumps({
            "pid": 1, "phase": "ready", "processes": {
                "w": {"pid": bystander.pid, "pgid": bystander.pid, "start": 12.34}}}))
        s.locald("down", check=True)
        assert bystander.poll() is None, "down killed an unrelated process that reused a recorded pid"
    finally:
        bystander.kill()
        bystander.wait()


def test_after_a_crash_the_recorded_group_finds_a_member_without_marker_or_parent(stack_factory):
    seconds = str(random.randint(4000, 9000))
    s = stack_factory(f"""
        [services.g]
        type = "worker"
        command = "env -i sleep {seconds} & sleep 300"
    """)
    s.locald("up", "-d", check=True)
    member = wait_until(lambda: _pids_running(["sleep", seconds]), what="the group member")[0]
    wait_until(lambda: s.state().get("processes", {}).get("g"), what="the recorded group")
    leader = s.state()["processes"]["g"]["pid"]
    os.kill(s.supervisor_pid(), signal.SIGKILL)
    os.kill(leader, signal.SIGKILL)  # its parent gone too: only the recorded group knows the member
    wait_until(lambda: os.getpgid(member) == leader and b"LOCALD" not in open(f"/proc/{member}/environ", "rb").read(),
               what="an orphan in the recorded group, without marker")
    s.locald("down", check=True)
    wait_until(lambda: not _pids_running(["sleep", seconds]), timeout=5, what="the member to be gone")
