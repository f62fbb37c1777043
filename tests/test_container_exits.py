"""Containers that exit before they are ready, on the real engine: a crash at once fails `up` as a
host process's does (exit code, last log lines); a one-shot job awaited with completed_successfully
still works; a container that keeps crashing under a restart policy is reported as such."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("engine")


@pytest.mark.parametrize("delay", ["0", "1"])  # at once; and after a second, when it always looked started
def test_container_that_exits_at_once_fails_up(engine_stack_factory, delay):
    s = engine_stack_factory(f"""
        [services.boom]
        image = "debian:bookworm-slim"
        command = ["sh", "-c", "echo boom-marker-23 >&2; sleep {delay}; exit 3"]
    """)
    up = s.locald("up", "-d")
    text = up.stdout + up.stderr
    assert up.returncode == 1, text
    assert "'boom' exited with code 3" in text and "boom-marker-23" in text, text
    s.assert_nothing_left(engine=True)


def test_one_shot_container_still_releases_its_dependent(engine_stack_factory):
    s = engine_stack_factory("""
        [services.seed]
        image = "debian:bookworm-slim"
        command = ["sh", "-c", "echo seeded"]
        restart = "no"

        [services.hello]
        image = "debian:bookworm-slim"
        command = ["sh", "-c", "echo hello-done"]

        [services.app]
        type = "worker"
        command = "echo app-started; sleep 300"
        depends_on = { seed = "completed_successfully" }
    """)
    s.locald("up", "-d", check=True)
    s.wait_log("app", "app-started")
    status = s.status()
    assert status["seed"]["exit_code"] == 0 and status["hello"]["exit_code"] == 0
    s.locald("down", check=True)
    s.assert_nothing_left(engine=True)


def test_crash_looping_container_is_reported_as_such(engine_stack_factory):
    s = engine_stack_factory("""
        [services.loop]
        image = "debian:bookworm-slim"
        command = ["sh", "-c", "echo loop-marker-5; exit 2"]
        restart = "on-failure"

        [services.app]
        type = "worker"
        command = "sleep 300"
        depends_on = { loop = { condition = "started", timeout = "6s" } }
    """)
    up = s.locald("up", "-d")
    text = up.stdout + up.stderr
    assert up.returncode == 1, text
    assert "'loop' keeps crashing" in text and "exited with code 2" in text and "loop-marker-5" in text, text
    s.assert_nothing_left(engine=True)


def test_container_that_used_up_its_restarts_fails_without_waiting_out_the_timeout(engine_stack_factory):
    s = engine_stack_factory("""
        [services.loop]
        image = "debian:bookworm-slim"
        command = ["sh", "-c", "echo gave-up-marker; exit 4"]
        restart = "on-failure"
        max_restarts = 1

        [services.app]
        type = "worker"
        command = "sleep 300"
        depends_on = { loop = { condition = "started", timeout = "2m" } }
    """)
    up = s.locald("up", "-d", timeout=100)
    text = up.stdout + up.stderr
    assert up.returncode == 1, text
    assert "exited with code 4" in text and "gave up after 1 restart" in text and "gave-up-marker" in text, text
    s.assert_nothing_left(engine=True)
