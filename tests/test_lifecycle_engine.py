"""The lifecycle of mixed stacks on the real engine, when things go wrong: every service ends, the state
directory goes away, Ctrl-C lands in the middle of the start, the supervisor is SIGKILLed, services are
restarted. Whatever happens, nothing is left behind and no child stays unreaped (issue 8, items 3, 10-13)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from stack import LOCALD, wait_until


pytestmark = pytest.mark.usefixtures("engine")


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains `text` (a compose project name is unique per test)."""
    needle = text.encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    cmdline = fh.read()
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    zombie = fh.read().rsplit(b")", 1)[1].split()[0] == b"Z"
            except OSError:
                continue
            if needle in cmdline and not zombie:
                found.append(int(entry))
    return found


def zombie_children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as fh:
            for child in fh.read().split():
                try:
                    with open(f"/proc/{child}/stat", "rb") as st:
                        if st.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                            found.append(int(child))
                except OSError:
                    pass
    return found


def test_attached_up_ends_when_processes_and_containers_have_ended(engine_stack_factory):
    s = engine_stack_factory("""
        [services.job]
        image = "debian:bookworm-slim"
        command = ["sh", "-c", "trap 'echo container-done; exit 3' USR1; while :; do sleep 0.1; done"]

        [services.w]
        type = "worker"
        command = "sleep 1; echo worker-done"
    """)
    proc = s.up_attached()
    wait_until(lambda: s.state().get("phase") == "ready", timeout=60, what="ready")
    s.wait_log("w", "worker-done")
    assert proc.poll() is None, "up ended while the container still runs"
    subprocess.run(["docker", "kill", "--signal", "USR1", *s.containers()], check=True, capture_output=True)
    out, _ = proc.communicate(timeout=60)  # before: it never ended
    assert "container-done" in out and "worker-done" in out, out
    assert proc.returncode == 3, out  # the container's code: the worker ended with 0
    s.assert_nothing_left(engine=True)


def test_state_dir_gone_while_running_still_removes_containers_and_network(engine_stack_factory):
    s = engine_stack_factory("""
        [services.cache]
        image = "redis:7"
        container_port = 6379

        [services.w]
        type = "worker"
        command = "sleep 300"
        depends_on = ["cache"]
    """)
    out, marker_dir = s.interrupt_without_state_dir(s.up_attached(), timeout=60)
    assert "Traceback" not in out, out
    assert s.containers() == [] and s.networks() == [], "the containers outlived a state dir that went away"
    from locald.runtime.cleanup import find_leftovers

    assert find_leftovers(marker_dir) == []


STUBBORN_MIXED = (Path(__file__).parent / "fixtures" / "stacks" / "stubborn-mixed.toml").read_text()


@pytest.mark.parametrize("offset", [0.2, 0.7, 1.3, 2.2, 3.5])
def test_ctrl_c_twice_during_start_kills_at_once_and_starts_nothing_more(engine_stack_factory, offset):
    """Ctrl-C from a terminal reaches the whole foreground group (docker children too); the second one
    must not wait for the 30 s grace periods, and nothing may be spawned after it."""
    s = engine_stack_factory(STUBBORN_MIXED)
    proc = subprocess.Popen([*LOCALD, "-f", str(s.file), "up", "--no-color"], cwd=s.root, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    time.sleep(offset)
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.3)
    try:
        os.killpg(proc.pid, signal.SIGINT)
    except ProcessLookupError:
        pass  # it had already stopped
    out, _ = proc.communicate(timeout=20)  # far below the 30 s a grace period would have cost
    assert proc.returncode in (0, 1, 130), out
    assert "Traceback" not in out, out
    assert "not reachable" not in out, out
    s.assert_nothing_left(engine=True)


def test_helpers_die_with_a_sigkilled_supervisor(engine_stack_factory):
    s = engine_stack_factory("""
        [services.cache]
        image = "redis:7"
        container_port = 6379

        [services.w]
        type = "worker"
        command = "sleep 300"
    """)
    s.locald("up", "-d", check=True)
    helpers = processes_mentioning(s.name)
    assert helpers, "docker events and docker compose logs should follow the project"
    os.kill(s.supervisor_pid(), signal.SIGKILL)
    # Nothing happens to the containers, so no event would end `docker events`: only the kernel can.
    wait_until(lambda: not processes_mentioning(s.name), timeout=10, what="the helpers to die with the supervisor")
    s.locald("down", check=True)
    s.assert_nothing_left(engine=True)


def test_sigkill_during_compose_up_then_down_leaves_nothing(engine_stack_factory):
    s = engine_stack_factory("""
        [services.a]
        image = "redis:7"
        container_port = 6379

        [services.b]
        image = "debian:bookworm-slim"
        command = ["sleep", "300"]

        [services.w]
        type = "worker"
        command = "sleep 300"
    """)
    proc = subprocess.Popen([*LOCALD, "-f", str(s.file), "up", "--no-color"], cwd=s.root, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)

    def compose_up_running() -> bool:
        return any(b"\0up\0" in open(f"/proc/{p}/cmdline", "rb").read() for p in processes_mentioning(s.name))

    try:
        wait_until(compose_up_running, timeout=60, interval=0.01, what="compose up")
    except (AssertionError, OSError):
        pass  # it may have been too quick to catch: the SIGKILL still lands during the start
    proc.kill()
    proc.wait()
    s.locald("down", check=True)
    time.sleep(1)  # a compose up that outlived the supervisor would create containers now
    assert processes_mentioning(s.name) == [], "docker children outlived the supervisor and down"
    s.assert_nothing_left(engine=True)


def test_every_child_is_reaped(engine_stack_factory):
    """Probes, restarts, docker CLI calls and log followers of restarted containers: no zombie stays."""
    s = engine_stack_factory("""
        [services.cache]
        image = "redis:7"
        container_port = 6379

        [services.checked]
        type = "worker"
        command = "sleep 300"
        health_check = { command = "true", interval = "100ms" }

        # Runs long enough to count as started, then fails again and again.
        [services.flappy]
        type = "worker"
        command = "sleep 1.2; exit 1"
        restart = "always"
    """)
    s.locald("up", "-d", check=True)
    supervisor = s.supervisor_pid()
    for _ in range(3):
        s.locald("restart", "cache", check=True)
    wait_until(lambda: s.status()["flappy"]["restarts"] >= 3, timeout=30, what="flappy restarting")
    wait_until(lambda: not zombie_children(supervisor), timeout=10, what="no zombie children of the supervisor")
    s.locald("down", check=True)
    s.assert_nothing_left(engine=True)


def test_container_stop_signal_past_the_engines_realtime_names(engine_stack_factory, tmp_path):
    """The engine names realtime signals only up to SIGRTMIN+15: SIGRTMIN+20 once passed validate and then
    failed `up` with "Invalid signal". It reaches the container as its number, and `down` delivers it."""
    seen = tmp_path / "seen"
    seen.mkdir()
    s = engine_stack_factory(f"""
        [services.box]
        image = "debian:bookworm-slim"
        command = ["sh", "-c", "trap 'echo got-it > /seen/signal; exit 0' {signal.SIGRTMIN + 20}; echo armed; while :; do sleep 0.1; done"]
        stop_signal = "SIGRTMIN+20"
        stop_grace_period = "30s"
        volumes = ["{seen}:/seen"]
    """)
    s.locald("up", "-d", check=True)
    wait_until(lambda: "armed" in s.locald("logs", "box").stdout, what="the trap to be set")
    s.locald("down", check=True)
    assert (seen / "signal").read_text().strip() == "got-it"
    s.assert_nothing_left(engine=True)
