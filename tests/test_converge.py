"""The edit loop on real processes and containers: a running stack converges to edits of locald.toml,
from a second `up` and by itself when the file is saved. Unchanged services keep their PID and
container; changed ones restart; added ones start; removed ones stop; a broken edit changes nothing."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from stack import wait_until

WORKERS = """
[services.a]
type = "worker"
command = "sleep 300"

[services.b]
type = "worker"
command = "sleep 301"
"""


def pids(stack) -> dict[str, int | None]:
    return {name: row["pid"] for name, row in stack.status().items()}


def container_ids(stack) -> dict[str, str]:
    out = subprocess.run(["docker", "ps", "--no-trunc", "--filter", f"label=com.docker.compose.project={stack.name}",
                          "--format", '{{.Label "com.docker.compose.service"}} {{.ID}}'],
                         capture_output=True, text=True, check=True).stdout
    return dict(line.split() for line in out.splitlines())


def edit(stack, old: str, new: str) -> None:
    text = stack.file.read_text()
    assert old in text, old
    stack.file.write_text(text.replace(old, new))


def test_a_second_up_applies_the_difference_and_leaves_the_rest_alone(stack_factory):
    s = stack_factory(WORKERS)
    s.locald("up", "-d", "--no-reload", check=True)
    before = pids(s)
    edit(s, 'command = "sleep 301"', 'command = "sleep 302"')
    s.file.write_text(s.file.read_text() + '\n[services.c]\ntype = "worker"\ncommand = "sleep 303"\n')
    again = s.locald("up", "-d", check=True)
    assert "applied: +c, ~b (command)" in again.stderr
    after = pids(s)
    assert after["a"] == before["a"], "unchanged: same process"
    assert after["b"] and after["b"] != before["b"], "changed: restarted"
    assert after["c"], "added: started"
    # removed: stopped, and gone from status
    edit(s, '[services.c]\ntype = "worker"\ncommand = "sleep 303"\n', "")
    assert "applied: -c" in s.locald("up", "-d", check=True).stderr
    assert "c" not in s.status() and pids(s)["a"] == before["a"]
    assert subprocess.run(["pgrep", "-f", "^sleep 303$"], capture_output=True).returncode == 1, "c's process is gone"
    s.locald("down", check=True)
    s.assert_nothing_left()


def test_a_broken_edit_changes_nothing_and_says_every_problem(stack_factory):
    s = stack_factory(WORKERS)
    s.locald("up", "-d", "--no-reload", check=True)
    before = pids(s)
    good = s.file.read_text()
    s.file.write_text(good.replace('command = "sleep 301"', 'comand = "sleep 301"\nport = 70000'))
    bad = s.locald("up", "-d")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "unknown key 'comand'" in bad.stderr and "must be at most 65535" in bad.stderr
    assert pids(s) == before, "nothing restarted"
    s.file.write_text(good)
    assert "no changes" in s.locald("up", "-d", check=True).stderr
    s.locald("down", check=True)
    s.assert_nothing_left()


def test_saving_locald_toml_converges_a_detached_stack_and_status_shows_the_age(stack_factory):
    s = stack_factory(WORKERS + '\n[services.web]\ncommand = "python3 -m http.server $PORT"\nenv = { X = "1" }\n')
    s.locald("up", "-d", check=True)
    before = pids(s)
    edit(s, 'env = { X = "1" }', 'env = { X = "2" }')
    wait_until(lambda: pids(s)["web"] not in (None, before["web"]), what="web to restart after the save")
    wait_until(lambda: "applied: ~web (env X)" in (s.state_dir / "supervisor.log").read_text(),
               what="the summary in the supervisor's log")
    assert {n: p for n, p in pids(s).items() if n != "web"} == {n: p for n, p in before.items() if n != "web"}
    # a broken save: problems in the log, the stack as it was
    good = s.file.read_text()
    s.file.write_text(good + "\n[services.oops\n")
    wait_until(lambda: "the stack keeps running as it was" in (s.state_dir / "supervisor.log").read_text(),
               what="the problems of the broken save")
    assert s.status()["web"]["status"] == "healthy"
    status = s.locald("status", check=True)
    assert "locald.toml applied" in status.stderr and "ago" in status.stderr
    s.locald("down", check=True)
    s.assert_nothing_left()


def test_attached_up_follows_edits_and_ctrl_c_leaves_nothing(stack_factory):
    s = stack_factory(WORKERS)
    proc = s.up_attached()
    try:
        wait_until(lambda: s.state().get("phase") == "ready", timeout=60, what="the stack to be ready")
        before, applied = pids(s), s.state().get("config_applied")
        edit(s, 'command = "sleep 300"', 'command = "sleep 299"')
        wait_until(lambda: pids(s)["a"] not in (None, before["a"]), what="a to restart after the save")
        wait_until(lambda: s.state().get("config_applied") != applied, what="the edit to be applied")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "applied: ~a (command)" in out
    assert pids(s)["b"] is None  # stopped with the rest
    s.assert_nothing_left()


def test_a_dependency_port_change_restarts_its_readers_only(stack_factory):
    s = stack_factory("""
        [services.api]
        command = "python3 -m http.server $PORT"
        port = PORT1

        [services.reader]
        type = "worker"
        command = "sleep 300"
        env = { API = "${services.api.url}" }

        [services.bystander]
        type = "worker"
        command = "sleep 301"
    """.replace("PORT1", str(free_port())))
    s.locald("up", "-d", "--no-reload", check=True)
    before = pids(s)
    text = s.file.read_text()
    port = int(text.split("port = ")[1].split()[0])
    s.file.write_text(text.replace(f"port = {port}", f"port = {free_port()}"))
    out = s.locald("up", "-d", check=True).stderr
    assert "~api (port)" in out and "~reader (env API)" in out
    after = pids(s)
    assert after["bystander"] == before["bystander"]
    assert after["reader"] != before["reader"] and after["api"] != before["api"]
    s.locald("down", check=True)
    s.assert_nothing_left()


@pytest.mark.engine
def test_a_container_env_change_recreates_only_that_container(engine_stack_factory):
    s = engine_stack_factory("""
        [services.cache]
        image = "redis:7"
        health_check = "redis-cli ping"

        [services.other]
        image = "redis:7"
        env = { MODE = "one" }

        [services.web]
        type = "worker"
        command = "sleep 300"
        depends_on = ["cache"]
    """)
    s.locald("up", "-d", "--no-reload", check=True)
    ids, before = container_ids(s), pids(s)
    edit(s, 'MODE = "one"', 'MODE = "two"')
    out = s.locald("up", "-d", check=True).stderr
    assert "applied: ~other (environment MODE)" in out
    after = container_ids(s)
    assert after["cache"] == ids["cache"] and after["other"] != ids["other"]
    assert pids(s)["web"] == before["web"]
    inspect = subprocess.run(["docker", "inspect", after["other"]], capture_output=True, text=True, check=True)
    env = json.loads(inspect.stdout)[0]["Config"]["Env"]
    assert "MODE=two" in env
    labels = json.loads(inspect.stdout)[0]["Config"]["Labels"]
    assert labels["dev.locald.config-hash"] == s.state()["config_hashes"]["other"]
    # remove a container service: its container goes, the others stay
    edit(s, '[services.other]\nimage = "redis:7"\nenv = { MODE = "two" }\n', "")
    assert "applied: -other" in s.locald("up", "-d", check=True).stderr
    assert set(container_ids(s)) == {"cache"} and container_ids(s)["cache"] == ids["cache"]
    s.locald("down", check=True)
    s.assert_nothing_left(engine=True)


def free_port() -> int:
    from locald.plan import free_port as free

    return free()


def test_status_and_down_still_work_while_an_edit_is_broken(stack_factory):
    s = stack_factory(WORKERS)
    s.locald("up", "-d", "--no-reload", check=True)
    s.file.write_text(s.file.read_text() + "\n[services.half\n")
    status = s.locald("status", check=True)
    assert "a " in status.stdout and "running" in status.stdout
    assert "1 problem" in status.stderr and "using what the running stack applied last" in status.stderr
    down = s.locald("down", check=True)
    assert "stopped" in down.stdout
    s.assert_nothing_left()
    assert s.locald("status").returncode == 1, "with nothing running there is nothing to fall back on"
