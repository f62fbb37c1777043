"""`locald deploy swarm` on a real single-node swarm: dependency waves read from task states, one-shots,
failures explained, `status --swarm`, `down --swarm` leaving nothing.

The module turns the shared engine into a swarm only while it runs (tests/swarm_support.py: a lock
shared with every other run, left at the end when we made it). The services record their order in a
volume they share.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest

from locald.config import load_project
from locald.plan import free_port
from locald.swarm import cluster
from locald.swarm.deploy import deploy
from locald.swarm.manage import down
from swarm_support import JOB_STACK, NEVER, assert_ran_in_order, instant, order_stack, swarm_mode


@pytest.fixture(scope="module")
def swarm(engine):
    with swarm_mode():
        yield


@pytest.fixture
def swarm_stack(swarm, stack_factory):
    """A project (unique name, so a unique stack); afterwards its stack and volumes are removed."""
    made = []

    def make(toml: str):
        stack = stack_factory(toml, sub=f"p{len(made)}")
        made.append(stack)
        return stack

    yield make
    for stack in made:
        try:
            down(load_project(stack.file))
        finally:
            volumes = cluster.volumes(stack.name)
            if volumes:
                subprocess.run(["docker", "volume", "rm", *volumes], capture_output=True)


def volume_files(stack_name: str) -> Path:
    out = subprocess.run(["docker", "volume", "inspect", "-f", "{{.Mountpoint}}", f"{stack_name}_shared"],
                         capture_output=True, text=True, check=True).stdout.strip()
    return Path(out)


def test_deploy_waits_for_a_healthy_store_and_a_migration_then_down_leaves_nothing(swarm_stack):
    port = free_port()
    stack = swarm_stack(order_stack(port, free_port()) + '\n[services.docs]\ncommand = "python3 -m http.server $PORT"\n')
    result = stack.locald("deploy", "swarm", *NEVER, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"deployed stack {stack.name} (3 services); left on the host: docs" in result.stdout
    # Progress per service and wave; the host process is named once, as the export names it.
    for line in ("[1/3] store: healthy", "[2/3] migrate: completed", "[3/3] app: healthy"):
        assert line in result.stderr
    assert "host processes left out (compose runs containers only): docs (exec)" in result.stderr

    # Order, from inside: the migration started after the store was healthy, the app after it finished,
    # and the app started once (it crashes without the migration: it never had to).
    assert_ran_in_order(volume_files(stack.name))

    # Order, from the swarm: one task each, none failed; each wave's task was created after the one
    # before reached its state.
    services = cluster.services(stack.name)
    assert {n: [t.state for t in s.tasks] for n, s in services.items()} == {
        "store": ["running"], "migrate": ["complete"], "app": ["running"]}
    store, migrate, app = (services[n].tasks[0] for n in ("store", "migrate", "app"))
    assert migrate.exit_code == 0
    assert instant(store.updated) < instant(migrate.created)
    assert instant(migrate.updated) < instant(app.created)

    # The app answers on its published port (host mode).
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
        assert response.read().decode().startswith("migrated at ")

    # Deploying the unchanged stack again is quick: nothing restarts, the one-shot does not run again.
    again = stack.locald("deploy", "swarm", *NEVER, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "[2/3] migrate: completed" in again.stderr
    assert {n: len(s.tasks) for n, s in cluster.services(stack.name).items()} == {"store": 1, "migrate": 1, "app": 1}

    status = json.loads(stack.locald("status", "--swarm", "--json", check=True).stdout)
    assert status["stack"] == stack.name
    rows = {r["name"]: r for r in status["services"]}
    assert {n: rows[n]["status"] for n in rows} == {"store": "running", "migrate": "complete", "app": "running",
                                                   "docs": "on the host (not in the stack)"}
    assert rows["app"]["ports"] == [f"{port}->8080/tcp (host)"]
    table = stack.locald("status", "--swarm", check=True).stdout
    assert f"stack {stack.name}" in table and "STATUS" in table

    removed = stack.locald("down", "--swarm", check=True)
    assert f"removed stack {stack.name}" in removed.stdout
    assert f"{stack.name}_shared" in removed.stderr, "the kept volume is named"
    assert cluster.leftovers(stack.name) == {"services": [], "networks": [], "containers": []}
    assert cluster.orphan_tasks(stack.name) == []
    assert f"stack {stack.name} is not deployed" in stack.locald("down", "--swarm", check=True).stdout


def test_a_failing_one_shot_stops_the_deploy_and_is_explained(swarm_stack):
    stack = swarm_stack('''
[services.broken]
image = "debian:bookworm-slim"
command = ["sh", "-c", "echo boom-before-exit; exit 3"]

[services.after]
image = "debian:bookworm-slim"
command = "sleep 1000"
depends_on = { broken = "completed_successfully" }
''')
    result = stack.locald("deploy", "swarm", *NEVER, timeout=300)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "service 'broken' failed on the swarm: task: non-zero exit (3)" in result.stderr
    assert "boom-before-exit" in result.stderr, "its last log lines"
    assert "`locald down --swarm` removes it" in result.stderr
    services = cluster.services(stack.name)
    assert "after" not in services, "the next wave never deployed"
    assert [t.state for t in services["broken"].tasks] == ["failed"], "a one-shot is not restarted"


def test_jobs_on_request_run_the_one_shot_as_a_swarm_job(swarm_stack):
    stack = swarm_stack(JOB_STACK)
    events = []
    name, built = deploy(load_project(stack.file), resolve_image="never", timeout=240, jobs=True,
                         on_event=events.append)
    assert built.document["services"]["first"]["deploy"]["mode"] == "replicated-job"
    assert [(e.service, e.state) for e in events if e.ready] == [("first", "completed"), ("second", "running")]
    services = cluster.services(name)
    assert services["first"].job and not services["second"].job
    assert instant(services["first"].tasks[-1].updated) < instant(services["second"].tasks[0].created)
    removed = down(load_project(stack.file))
    assert removed is not None
    # The job's finished container is removed too (the swarm leaves it: moby/moby#44312).
    assert cluster.leftovers(name) == {"services": [], "networks": [], "containers": []}
