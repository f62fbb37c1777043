"""Container services as one generated compose project, driven through python-on-whales.

The only module that imports python_on_whales (lazily: ~180 ms of pydantic). Compose verbs that
change things (up, down, build) go through it with quiet=True, so Compose's stderr lands in the
exception; quick questions (ps, image inspect, events, logs) go straight to the docker CLI
(engine.py, engine_watch.py), and long streams run in the caller's own Popen.

Readiness comes from the engine only — the container's health status or its state — never from a
host-side TCP connect: docker-proxy accepts one on a published port before anything listens inside.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

from ..compose.fileformat import dump_yaml
from ..compose.translate import has_healthcheck, to_compose
from ..plan import Plan
from ..presets import container_port_of, image_of
from . import docker_errors, engine
from .docker_errors import ContainerError, WaitCancelled
from .engine_watch import ContainerWatch

COMPOSE_FILE = "compose.yaml"
PULL_TIMEOUT = float(os.environ.get("LOCALD_PULL_TIMEOUT", "600"))
LOG_LINES = 15
CONDITIONS = ("started", "healthy", "completed_successfully", "auto")


class ContainerRuntime:
    """`plan` is public and may be updated in place (e.g. container_ports after exposed_ports())."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.compose_file = plan.state_dir / COMPOSE_FILE
        self.info: engine.EngineInfo | None = None
        self._client = None
        self._images: dict[str, engine.ImageInfo | None] = {}
        self._doc: dict | None = None
        self._written = False
        self._watch = ContainerWatch(plan.compose_project)
        atexit.register(self._watch.close)

    # --- engine, images, file --------------------------------------------------------------------

    def check_engine(self) -> None:
        """Raise a clear LocaldError when the docker CLI, the engine or Compose v2 is missing."""
        self.info = engine.check_engine()

    @property
    def engine_api(self) -> tuple[int, int]:
        if self.info is None:
            self.check_engine()
        return self.info.api

    def document(self) -> dict:
        """The compose document for the current plan (what write_compose writes)."""
        return to_compose(self.plan, engine_api=self.engine_api)

    def _definition(self, name: str) -> dict:
        if self._doc is None:
            self._doc = self.document()
        return self._doc["services"].get(name, {})

    def _build_of(self, name: str):
        service = self.plan.service(name)
        return service.compose.get("build") if service.adopted else service.build

    def _image_of(self, name: str) -> str:
        service = self.plan.service(name)
        image = service.compose.get("image") if service.adopted else image_of(service)
        # Compose names an image it builds without `image:` after the project and the service.
        return image or f"{self.plan.compose_project}-{name}"

    def _image_infos(self, names: list[str]) -> dict[str, engine.ImageInfo | None]:
        wanted = [self._image_of(n) for n in names]
        unknown = [i for i in wanted if self._images.get(i) is None]
        if unknown:
            self._images.update(engine.image_info(unknown))
        return {n: self._images.get(self._image_of(n)) for n in names}

    def ensure_images(self, names: list[str], echo: Callable[[str], None] = print) -> None:
        """Build services that have `build` (the cache makes it quick); pull images only when missing,
        showing Docker's progress through `echo`."""
        builds = [n for n in names if self._build_of(n)]
        if builds:
            echo(f"building {', '.join(builds)}")
            self._stream(self._compose_cmd() + ["build", *builds], echo, lambda out: docker_errors.build_failed(builds, out))
            for n in builds:
                self._images.pop(self._image_of(n), None)
        others = [n for n in names if n not in builds]
        missing: dict[str, list[str]] = {}
        for name, info in self._image_infos(others).items():
            if info is None:
                missing.setdefault(self._image_of(name), []).append(name)
        for image, services in missing.items():
            echo(f"pulling {image} (for {', '.join(services)})")
            self._stream([engine.docker(), "pull", image], echo,
                         lambda out, image=image, services=services: docker_errors.pull_failed(image, services, out),
                         timeout=PULL_TIMEOUT)
            self._images.pop(image, None)

    def _stream(self, argv: list[str], echo, error, timeout: float | None = None) -> None:
        """Run a command, echoing each output line; on failure raise error(all output)."""
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                text=True, errors="replace", start_new_session=True, cwd=self.plan.project.root)
        lines: list[str] = []
        timer = None
        if timeout:
            timer = threading.Timer(timeout, lambda: _kill_group(proc))
            timer.start()
        try:
            for line in proc.stdout:
                line = line.rstrip()
                if line:
                    lines.append(line)
                    echo(f"  {line}")
            code = proc.wait()
        finally:
            if timer:
                timer.cancel()
            if proc.poll() is None:
                _kill_group(proc)
                proc.wait()
        if code != 0:
            if code < 0 and timeout:
                lines.append(f"error: gave up after {timeout:g}s (LOCALD_PULL_TIMEOUT)")
            raise error("\n".join(lines))

    def exposed_ports(self, names: list[str]) -> dict[str, int]:
        """The image's single exposed TCP port, for containers that set no container_port.
        Call after ensure_images (the image must be present to be inspected)."""
        asking = [n for n in names if not self.plan.service(n).adopted and not container_port_of(self.plan.service(n))]
        if not asking:
            return {}
        out = {}
        for name, info in self._image_infos(asking).items():
            port = info.single_tcp_port if info else None
            if port:
                out[name] = port
        return out

    def write_compose(self) -> Path:
        self._doc = self.document()
        self.plan.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.compose_file.with_suffix(".tmp")
        tmp.write_text("# Generated by locald from locald.toml: do not edit (it is rewritten on every up).\n"
                       + dump_yaml(self._doc))
        tmp.replace(self.compose_file)
        self._written = True
        return self.compose_file

    # --- compose through python-on-whales --------------------------------------------------------

    @property
    def client(self):
        if self._client is None:
            from python_on_whales import DockerClient

            self._client = DockerClient(compose_files=[self.compose_file],
                                        compose_project_name=self.plan.compose_project,
                                        compose_project_directory=self.plan.project.root,
                                        compose_env_files=[os.devnull])
        return self._client

    def _compose_cmd(self) -> list[str]:
        """The same argv python-on-whales builds, without importing it (logs, build)."""
        return [engine.docker(), "compose", "--file", str(self.compose_file), "--env-file", os.devnull,
                "--project-name", self.plan.compose_project, "--project-directory", str(self.plan.project.root)]

    def start(self, names: list[str]) -> None:
        """Create and start these services in one `compose up -d --no-deps` (the caller orders batches)."""
        if not names:
            return
        if not self._written:
            self.write_compose()
        from python_on_whales.exceptions import DockerException

        self._watch.start()
        try:
            self.client.compose.up(names, detach=True, dependencies=False, quiet=True, remove_orphans=True)
        except DockerException as exc:
            by_port = {p: n for n, p in self.plan.ports.items() if n in names}
            raise docker_errors.start_failed(_text(exc.stderr) or _text(exc.stdout), by_port, names) from None

    def stop(self, names: list[str] | None = None) -> None:
        """Stop and remove these services' containers; None: the whole project (`compose down`: the
        network too). Named volumes are kept. Without the compose file, fall back to labels."""
        if names is not None and not names:
            return
        if not self.compose_file.exists():
            if names is None:
                self.remove_project(self.plan.compose_project)
                self._watch.close()
            else:
                self._remove_by_label(names)
            return
        from python_on_whales.exceptions import DockerException

        try:
            self.client.compose.down(services=names, remove_orphans=names is None, quiet=True)
        except DockerException as exc:
            raise docker_errors.engine_failed("stop " + (", ".join(names) if names else "the containers"),
                                              _text(exc.stderr)) from None
        finally:
            if names is None:
                self._watch.close()

    def _remove_by_label(self, names: list[str]) -> None:
        ids = [r.id for r in engine.containers(self.plan.compose_project) if r.service in names]
        if ids:
            engine.run(["rm", "-f", *ids], timeout=120)

    def close(self) -> None:
        """Stop watching the engine (kills our `docker events` child)."""
        self._watch.close()

    @staticmethod
    def remove_project(compose_project: str) -> None:
        """Crash clean-up: every container and network of the project, even without its file."""
        engine.remove_project(compose_project)

    # --- readiness -------------------------------------------------------------------------------

    def has_readiness_check(self, name: str) -> bool:
        """A configured health_check, the postgres preset's, a `compose` healthcheck, or the image's."""
        decided = has_healthcheck(self._definition(name))
        if decided is not None:
            return decided
        info = self._image_infos([name]).get(name)
        return bool(info and info.healthcheck)

    def wait(self, name: str, condition: str, timeout: float, cancel: threading.Event | None = None) -> None:
        """Block until the service meets the condition; ContainerError when it cannot, WaitCancelled
        when `cancel` is set."""
        if condition not in CONDITIONS:
            raise ValueError(f"unknown condition {condition!r}")
        if condition == "auto":
            condition = "healthy" if self.has_readiness_check(name) else "started"
        elif condition == "healthy" and not self.has_readiness_check(name):
            raise ContainerError(f"container service '{name}' has no health check, so it can never be healthy: "
                                 "add `health_check` to it in locald.toml, or depend on it with "
                                 "condition \"started\"")
        restarts = self.plan.service(name).restart != "no"
        self._watch.start()
        begin = time.monotonic()
        deadline = begin + timeout
        snapshot = None
        while snapshot is None:
            snapshot = self._watch.rows_after(begin, min(0.2, max(0.0, deadline - time.monotonic())) or 0.05)
            self._check_cancel(name, condition, cancel)
            if snapshot is None and time.monotonic() > deadline:
                raise self._timeout(name, condition, timeout, [])
        while True:
            rows, taken = snapshot
            mine = [r for r in rows if r.service == name]
            verdict = _judge(mine, condition, restarts)
            if verdict is True:
                return
            if isinstance(verdict, str):
                raise self._failed(name, condition, verdict, mine)
            self._check_cancel(name, condition, cancel)
            if time.monotonic() >= deadline:
                raise self._timeout(name, condition, timeout, mine)
            slice_ = min(0.2, max(0.01, deadline - time.monotonic()))
            snapshot = self._watch.next_rows(taken, slice_) or snapshot

    def _check_cancel(self, name: str, condition: str, cancel: threading.Event | None) -> None:
        if cancel is not None and cancel.is_set():
            raise WaitCancelled(f"stopped waiting for container service '{name}' to be {_words(condition)}: "
                                "shutting down")

    def _failed(self, name: str, condition: str, why: str, rows: list[engine.ContainerRow]) -> ContainerError:
        detail = ""
        if rows and "unhealthy" in why:
            probe = engine.health_log(rows[0].id)
            if probe:
                detail = f" (last health check: {probe})"
        return ContainerError(f"container service '{name}' {why} while locald waited for it to be "
                              f"{_words(condition)}{detail}.{self._logs_paragraph(rows)}")

    def _timeout(self, name: str, condition: str, timeout: float, rows: list[engine.ContainerRow]) -> ContainerError:
        if not rows:
            state = "it has no container (was it started?)"
        else:
            r = rows[0]
            state = f"it is {r.state}" + (f", health: {r.health}" if r.health else "")
            if r.health:
                probe = engine.health_log(r.id)
                if probe:
                    state += f"; last health check: {probe}"
        return ContainerError(f"container service '{name}' was not {_words(condition)} after {timeout:g}s: "
                              f"{state}.{self._logs_paragraph(rows)}")

    def _logs_paragraph(self, rows: list[engine.ContainerRow]) -> str:
        if not rows:
            return ""
        lines = engine.last_logs(rows[0].id, LOG_LINES)
        if not lines:
            return " It printed nothing."
        return " Its last log lines:\n" + "\n".join("  " + line for line in lines)

    # --- status and logs -------------------------------------------------------------------------

    def status(self) -> dict[str, dict]:
        """Per service: state, health (None without a health check), exit_code, ports, container."""
        out: dict[str, dict] = {}
        for r in engine.containers(self.plan.compose_project):
            out[r.service] = {"state": r.state, "health": r.health, "exit_code": r.exit_code, "ports": r.ports,
                              "container": r.name}
        return out

    def logs_command(self, names: list[str], follow: bool, tail: int | None = None, *,
                     prefix: bool = True, timestamps: bool = False) -> list[str]:
        """argv of `docker compose logs` for the caller's own Popen (python-on-whales' streaming
        generators leak their child). Lines are prefixed `SERVICE-N  | ` unless prefix=False."""
        argv = self._compose_cmd() + ["logs", "--no-color"]
        if follow:
            argv.append("--follow")
        if tail is not None:
            argv += ["--tail", str(tail)]
        if not prefix:
            argv.append("--no-log-prefix")
        if timestamps:
            argv.append("--timestamps")
        return argv + list(names)


def log_line_service(head: str) -> str:
    """The service of a `docker compose logs` prefix: 'cache-1' → 'cache'."""
    head = head.strip()
    base, sep, index = head.rpartition("-")
    return base if sep and index.isdigit() else head


def _judge(rows: list[engine.ContainerRow], condition: str, restarts: bool) -> bool | str | None:
    """True: met. A string: it can no longer be met (why). None: not yet."""
    if not rows:
        return None
    r = rows[0]
    if r.state in ("exited", "dead"):
        code = r.exit_code
        if condition == "completed_successfully":
            return True if code == 0 else f"exited with code {code}"
        if condition == "started" and code == 0:
            return True
        if restarts:
            return None  # the restart policy brings it back; the deadline decides
        return f"exited with code {code}"
    if condition == "completed_successfully":
        return None
    if r.state != "running":
        return None  # created, restarting, paused, removing
    if condition == "started":
        return True
    if r.health == "healthy":
        return True
    if r.health == "unhealthy":
        return "is unhealthy"
    return None  # health: starting (or not reported yet)


def _words(condition: str) -> str:
    return {"completed_successfully": "completed successfully"}.get(condition, condition)


def _text(value) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _kill_group(proc: subprocess.Popen) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
