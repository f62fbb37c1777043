"""Two stacks, one compose project name, on the real engine: locald only ever touches the containers
it created for this locald.toml; a clash is refused before anything starts, naming the other
directory (or a compose project locald did not make) and the fix. Names that sanitise to nothing get
distinct compose projects."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from locald.config import load_project
from locald.plan import compose_project_name
from stack import Stack

pytestmark = pytest.mark.usefixtures("engine")

SLEEPER = """
[services.box]
image = "debian:bookworm-slim"
command = "sleep 1000"
"""


def pair(tmp_path: Path, name: str, toml: str = SLEEPER) -> tuple[Stack, Stack]:
    stacks = []
    for sub in ("a", "b"):
        root = tmp_path / sub
        root.mkdir()
        s = Stack(root, name)
        s.file.write_text(f'[project]\nname = "{name}"\n{toml}')
        stacks.append(s)
    return stacks[0], stacks[1]


def ids(compose_project: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={compose_project}"],
                         capture_output=True, text=True).stdout
    return sorted(out.split())


@pytest.fixture
def clash_pair(tmp_path):
    made: list[Stack] = []

    def make(name: str) -> tuple[Stack, Stack]:
        a, b = pair(tmp_path, name)
        made.extend([a, b])
        return a, b

    yield make
    for s in made:
        s.cleanup(engine=True)


def test_same_name_in_two_directories_never_touches_the_other(clash_pair):
    name = f"ltest-clash-{uuid.uuid4().hex[:8]}"
    a, b = clash_pair(name)
    a.locald("up", "-d", check=True)
    mine = ids(name)
    assert len(mine) == 1

    up_b = b.locald("up", "-d")
    text = up_b.stdout + up_b.stderr
    assert up_b.returncode == 1, text
    assert str(a.root) in text and "[project] name" in text, text
    assert ids(name) == mine, "b's up must not replace a's container"

    down_b = b.locald("down")
    assert down_b.returncode == 0, down_b.stderr
    assert ids(name) == mine, "b's down must not remove a's container"

    a.locald("down", check=True)
    b.locald("up", "-d", check=True)
    theirs = ids(name)
    assert len(theirs) == 1
    a.locald("down", check=True)  # a is not running: its down must leave b alone
    assert ids(name) == theirs
    logs_a = a.locald("logs", "box")  # compose's logs go by the project name: they would be b's
    assert "containers' logs left out" in logs_a.stdout and str(b.root) in logs_a.stdout, logs_a.stdout
    run_a = a.locald("run", "box", "--", "true")  # nor may a one-off of a's join b's compose project
    assert run_a.returncode == 1 and str(b.root) in run_a.stderr, run_a.stdout + run_a.stderr
    assert ids(name) == theirs
    b.locald("down", check=True)
    assert ids(name) == []


def test_two_ups_at_the_same_moment_one_wins_the_name(clash_pair):
    """Both would pass the label check before either made a container: the name is held while a run
    lives, so the second is refused, naming the first, and the first's container stays its own."""
    from stack import LOCALD

    name = f"ltest-clash-{uuid.uuid4().hex[:8]}"
    a, b = clash_pair(name)
    ups = {s: subprocess.Popen([*LOCALD, "-f", str(s.file), "up", "-d"], cwd=s.root, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True) for s in (a, b)}
    outs = {s: proc.communicate(timeout=180)[0] for s, proc in ups.items()}
    winners = [s for s, proc in ups.items() if proc.returncode == 0]
    assert len(winners) == 1, outs
    [winner], [loser] = winners, [s for s in (a, b) if s is not winners[0]]
    assert ups[loser].returncode == 1, outs[loser]
    assert str(winner.root) in outs[loser] and "[project] name" in outs[loser], outs[loser]
    [container] = ids(name)
    config = subprocess.run(["docker", "inspect", "--format", '{{index .Config.Labels "dev.locald.config"}}',
                             container], capture_output=True, text=True).stdout.strip()
    assert config == str(winner.file)
    assert loser.locald("down").returncode == 0 and ids(name) == [container]
    winner.locald("down", check=True)
    assert ids(name) == []


def test_crash_cleanup_only_removes_this_projects_containers(clash_pair):
    """a's supervisor is killed; `down` in b (same name, never started) must not clean up a's
    containers as if they were its own leftovers; a's own `down` does."""
    import os
    import signal

    name = f"ltest-clash-{uuid.uuid4().hex[:8]}"
    a, b = clash_pair(name)
    a.locald("up", "-d", check=True)
    mine = ids(name)
    os.kill(a.supervisor_pid(), signal.SIGKILL)
    b.locald("down")
    up_b = b.locald("up", "-d")
    assert up_b.returncode == 1, up_b.stdout + up_b.stderr
    assert ids(name) == mine
    a.locald("down", check=True)
    assert ids(name) == []


def test_plain_compose_project_with_the_same_name_is_left_alone(engine_stack_factory, tmp_path):
    s = engine_stack_factory(SLEEPER)
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "compose.yaml").write_text("services:\n  other:\n    image: debian:bookworm-slim\n"
                                        "    command: sleep 1000\n    init: true\n")
    compose = ["docker", "compose", "-f", str(plain / "compose.yaml"), "-p", s.name]
    try:
        subprocess.run([*compose, "up", "-d"], check=True, capture_output=True, timeout=120)
        theirs = ids(s.name)
        up = s.locald("up", "-d")
        text = up.stdout + up.stderr
        assert up.returncode == 1, text
        assert "a compose project not made by locald" in text and "[project] name" in text, text
        assert ids(s.name) == theirs
        s.locald("down")
        assert ids(s.name) == theirs
    finally:
        subprocess.run([*compose, "down"], capture_output=True, timeout=120)


@pytest.mark.parametrize("names", [("日本", "日本"), ("---", "___")])
def test_names_that_sanitise_to_nothing_get_distinct_projects(tmp_path, names):
    projects = []
    for sub, name in zip(("a", "b"), names):
        root = tmp_path / sub / "shop"  # same directory name too
        root.mkdir(parents=True)
        (root / "locald.toml").write_text(f'[project]\nname = "{name}"\n')
        projects.append(load_project(root / "locald.toml"))
    first, second = (compose_project_name(p) for p in projects)
    assert first != second
    assert first.startswith("shop-") and second.startswith("shop-")
    assert compose_project_name(load_project(projects[0].file)) == first, "stable"


def test_sanitised_names_run_side_by_side(tmp_path):
    a, b = pair(tmp_path, "日本")
    try:
        a.locald("up", "-d", check=True)
        b.locald("up", "-d", check=True)
        for s in (a, b):  # each still has its own container, running
            out = subprocess.run(["docker", "ps", "--filter", f"label=dev.locald.config={s.file.resolve()}",
                                  "--format", "{{.State}}"], capture_output=True, text=True).stdout
            assert out.split() == ["running"], (s.root, out)
    finally:
        for s in (a, b):
            s.locald("down", timeout=120)
    for s in (a, b):
        assert ids(compose_project_name(load_project(s.file))) == []
