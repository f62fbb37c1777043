"""Shared fixtures. Integration tests use the real engine; when it is missing they fail, never skip:
`scripts/test` (and CI) make it ready first."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_COMPAT = ROOT.parent / "shared" / "compat"
LOCALD = [sys.executable, "-m", "locald"]


@pytest.fixture(scope="session")
def engine() -> None:
    """A running Docker engine with Compose v2."""
    if shutil.which("docker") is None:
        pytest.fail("no docker CLI: run scripts/setup-docker (scripts/test does)")
    ok = subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    if not ok:
        pytest.fail("the Docker engine is not running: run scripts/setup-docker (scripts/test does)")
    ok = subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    if not ok:
        pytest.fail("the Compose v2 plugin is missing: run scripts/setup-docker (scripts/test does)")


def run_locald(*args: str, cwd: Path | str | None = None, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess, as a user would."""
    return subprocess.run([*LOCALD, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, **kw)


@pytest.fixture
def shared_compat() -> Path:
    if not SHARED_COMPAT.is_dir():
        pytest.skip(f"compatibility material not found at {SHARED_COMPAT} (it lives outside the project)")
    return SHARED_COMPAT


def _stack_factory(tmp_path, engine: bool):
    from stack import Stack

    made = []

    def make(toml: str, sub: str = "p"):
        root = tmp_path / sub
        root.mkdir()
        stack = Stack.write(root, toml)
        made.append(stack)
        return stack

    return make, lambda: [s.cleanup(engine=engine) for s in made]


@pytest.fixture
def stack_factory(tmp_path):
    """Write a project (unique name) in a temp dir; whatever a failed test left is removed after it."""
    make, cleanup = _stack_factory(tmp_path, engine=False)
    yield make
    cleanup()


@pytest.fixture
def engine_stack_factory(tmp_path, engine):
    """Like stack_factory, and the cleanup also removes the project's containers and networks."""
    make, cleanup = _stack_factory(tmp_path, engine=True)
    yield make
    cleanup()
