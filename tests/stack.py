"""Helpers for lifecycle tests: write a project, run the real CLI, prove nothing is left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

from locald.runtime.cleanup import find_leftovers

LOCALD = [sys.executable, "-m", "locald"]


class Stack:
    def __init__(self, root: Path, name: str):
        """A project whose locald.toml already exists in `root`, named `name`."""
        self.root = root
        self.name = name
        self.file = root / "locald.toml"

    @classmethod
    def write(cls, root: Path, toml: str) -> "Stack":
        """A new project in `root` with a unique name and these services."""
        stack = cls(root, f"ltest-{uuid.uuid4().hex[:8]}")
        stack.file.write_text(f'[project]\nname = "{stack.name}"\n\n' + textwrap.dedent(toml))
        return stack

    @property
    def state_dir(self) -> Path:
        return self.root / ".locald"

    def locald(self, *args: str, timeout: float = 180, check: bool = False) -> subprocess.CompletedProcess:
        proc = subprocess.run([*LOCALD, "-f", str(self.file), *args], cwd=self.root, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"locald {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def up_attached(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([*LOCALD, "-f", str(self.file), "up", "--no-color", *args], cwd=self.root,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)

    def status(self) -> dict[str, dict]:
        rows = json.loads(self.locald("status", "--json", check=True).stdout)
        return {r["name"]: r for r in rows}

    def state(self) -> dict:
        try:
            return json.loads((self.state_dir / "state.json").read_text())
        except (OSError, ValueError):
            return {}

    def log(self, service: str) -> str:
        try:
            return (self.state_dir / "logs" / f"{service}.log").read_text()
        except OSError:
            return ""

    def wait_log(self, service: str, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log(service)
            if text in log:
                return log
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared in {service}'s log:\n{self.log(service)}")

    def containers(self) -> list[str]:
        out = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={self.name}"],
                             capture_output=True, text=True).stdout
        return out.split()

    def networks(self) -> list[str]:
        out = subprocess.run(["docker", "network", "ls", "-q", "--filter",
                              f"label=com.docker.compose.project={self.name}"], capture_output=True, text=True).stdout
        return out.split()

    def leftover_processes(self) -> list[int]:
        return find_leftovers(self.state_dir)

    def assert_nothing_left(self, engine: bool = False) -> None:
        deadline = time.monotonic() + 5
        while self.leftover_processes() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert self.leftover_processes() == [], "host processes left running"
        if engine:
            assert self.containers() == [], "containers left behind"
            assert self.networks() == [], "networks left behind"

    def interrupt_without_state_dir(self, proc: subprocess.Popen, timeout: float) -> tuple[str, Path]:
        """Once the attached run `proc` is ready, put a file where its state directory was (it can no
        longer write there), then Ctrl-C it. Its output, and where the state directory was."""
        wait_until(lambda: self.state().get("phase") == "ready", timeout=timeout, what="ready")
        marker_dir = self.state_dir.resolve()
        self.state_dir.rename(self.root / ".locald.moved")
        self.state_dir.write_text("in the way")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=timeout)
        return out, marker_dir

    def supervisor_pid(self) -> int:
        return int(self.state()["pid"])

    def cleanup(self, engine: bool = False) -> None:
        """Finalizer: whatever a failed test left, remove it."""
        try:
            self.locald("down", timeout=120)
        except subprocess.TimeoutExpired:
            pass
        for pid in self.leftover_processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if engine:
            ids = self.containers()
            if ids:
                subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
            nets = self.networks()
            if nets:
                subprocess.run(["docker", "network", "rm", *nets], capture_output=True)


def wait_until(predicate, timeout: float = 30, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")
