"""An imported compose project runs under `locald up` on the real engine (issue 5, item 5)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from locald.plan import free_port
from stack import LOCALD, Stack

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.usefixtures("engine")


def test_imported_stack_comes_up_in_order_and_goes_down(tmp_path):
    project = tmp_path / "up-stack"
    shutil.copytree(ROOT / "compat" / "fixtures" / "up-stack", project)
    compose = project / "compose.yaml"
    name = f"ltest-import-{uuid.uuid4().hex[:6]}"
    text = compose.read_text().replace("16379:6379", f"{free_port()}:6379").replace("15432:5432", f"{free_port()}:5432")
    compose.write_text(f"name: {name}\n" + text)

    imported = subprocess.run([*LOCALD, "import", "compose", "compose.yaml"], cwd=project, capture_output=True,
                              text=True)
    assert imported.returncode == 0, imported.stderr
    toml = (project / "locald.toml").read_text()
    assert toml.startswith("#:schema ")

    s = Stack(project, name)
    try:
        s.locald("validate", check=True)
        s.locald("up", "-d", check=True)
        status = s.status()
        assert status["cache"]["health"] == "healthy"
        assert status["db"]["health"] == "healthy"
        assert status["migrate"]["exit_code"] == 0
        assert status["app"]["status"] == "running"
        logs = s.locald("logs", "--no-color", "app", check=True).stdout
        assert "app up, cache at cache" in logs
        s.locald("down", check=True)
        s.assert_nothing_left(engine=True)
    finally:
        s.cleanup(engine=True)
        subprocess.run(["docker", "volume", "rm", "-f", f"{name}_db-data"], capture_output=True)
