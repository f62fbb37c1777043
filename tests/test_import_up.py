"""An imported compose project runs under `locald up` on the real engine (issue 5, item 5)."""

from __future__ import annotations

import os
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


def test_values_kept_out_of_locald_toml_still_reach_the_container(tmp_path):
    """Issue 8 item 6: the env file stays a reference and `${TOKEN}` / `- GREETING` stay variables, so
    locald.toml holds no secret and the container still gets them, from the environment of `locald up`."""
    name = f"ltest-import-env-{uuid.uuid4().hex[:6]}"
    (tmp_path / "compose.yaml").write_text(f"""name: {name}
services:
  app:
    image: debian:bookworm-slim
    command: ["sleep", "infinity"]
    env_file: [app.env]
    environment:
      - GREETING
      - TOKEN=${{TOKEN}}
""")
    (tmp_path / "app.env").write_text("FROM_FILE=file-secret\n")
    env = dict(os.environ, TOKEN="token-when-importing", GREETING="hello")
    imported = subprocess.run([*LOCALD, "import", "compose"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert imported.returncode == 0, imported.stderr
    assert "resolved ${TOKEN} from your environment" in imported.stderr
    toml = (tmp_path / "locald.toml").read_text()
    assert not any(secret in toml for secret in ("token-when-importing", "hello", "file-secret"))

    s = Stack(tmp_path, name)
    try:
        up = subprocess.run([*LOCALD, "up", "-d"], cwd=tmp_path, capture_output=True, text=True, timeout=180,
                            stdin=subprocess.DEVNULL, env=env | {"TOKEN": "token-at-up"})
        assert up.returncode == 0, up.stderr
        (container,) = s.containers()
        seen = subprocess.run(["docker", "exec", container, "env"], capture_output=True, text=True).stdout.split()
        assert {"TOKEN=token-at-up", "GREETING=hello", "FROM_FILE=file-secret"} <= set(seen)
        s.locald("down", check=True)
        s.assert_nothing_left(engine=True)
    finally:
        s.cleanup(engine=True)
