"""Container images, made ready before the plan is drawn up: built (`compose build`), pulled when
missing, then inspected. A built or pulled image's EXPOSE and HEALTHCHECK decide container ports and
readiness, so the plan can only be frozen after this step."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping

from ...compose.fileformat import dump_yaml
from ...compose.translate import build_document
from ...config.model import ContainerService, Project
from ...errors import LocaldError
from ...plan import compose_project_name
from ..helpers import spawn_helper
from ..service_runtime import Cancelled
from ...presets import container_port_of, image_of
from . import engine, errors
from .compose_cli import compose_argv

PULL_TIMEOUT = float(os.environ.get("LOCALD_PULL_TIMEOUT", "600"))


def image_name(project: Project, service: ContainerService) -> str:
    image = service.compose.get("image") if service.adopted else (service.compose.get("image") or image_of(service))
    # Compose names an image it builds without `image:` after the project and the service.
    return image or f"{compose_project_name(project)}-{service.name}"


def builds(project: Project, service: ContainerService) -> bool:
    return bool(service.compose.get("build") if service.adopted else (service.build or service.compose.get("build")))


@dataclass(frozen=True)
class Images:
    """What the engine knows about the images of a run: its API version and each service's image."""

    api: tuple[int, int]
    infos: Mapping[str, engine.ImageInfo | None]  # by service name

    def has_healthcheck(self, name: str) -> bool:
        info = self.infos.get(name)
        return bool(info and info.healthcheck)


def exposed_ports(project: Project, infos: Mapping[str, engine.ImageInfo | None]) -> dict[str, int]:
    """The image's single exposed TCP port, for containers that set no container_port."""
    out = {}
    for name, info in infos.items():
        service = project.services[name]
        if not service.adopted and not container_port_of(service) and info and info.single_tcp_port:
            out[name] = info.single_tcp_port
    return out


def inspect(project: Project, names: list[str]) -> dict[str, engine.ImageInfo | None]:
    """Each service's image as the engine has it (None: not present)."""
    by_service = {n: image_name(project, project.services[n]) for n in names}
    infos = engine.image_info(list(by_service.values()))
    return {n: infos.get(image) for n, image in by_service.items()}


def known_exposed_ports(project: Project) -> dict[str, int]:
    """For `export compose`, which works without Docker: exposed ports of the images already present,
    nothing when no engine answers."""
    names = [s.name for s in project.containers if not s.adopted and not container_port_of(s) and image_of(s)]
    if not names:
        return {}
    try:
        return exposed_ports(project, inspect(project, names))
    except (LocaldError, OSError, ValueError):
        return {}


def survey(project: Project, names: list[str]) -> Images:
    """What the engine has now, without building or pulling anything."""
    return Images(engine.check_engine().api, inspect(project, names))


def prepare(project: Project, names: list[str], say: Callable[[str], None],
            cancel: threading.Event | None = None) -> Images:
    """Check the engine, build what has `build` (the cache makes it quick), pull what is missing
    (showing Docker's progress through `say`), and inspect every image. First of all, refuse a
    compose project name that containers locald did not make for this locald.toml already use.
    `cancel` is checked between steps and ends a build or pull in progress (Cancelled)."""
    info = engine.check_engine()
    engine.check_owner(engine.Owner.of(project))
    to_build = [n for n in names if builds(project, project.services[n])]
    build_images(project, to_build, say, cancel)
    _check(cancel)
    missing: dict[str, list[str]] = {}
    for name, image in inspect(project, [n for n in names if n not in to_build]).items():
        if image is None:
            missing.setdefault(image_name(project, project.services[name]), []).append(name)
    for image, services in missing.items():
        _check(cancel)
        say(f"pulling {image} (for {', '.join(services)})")
        _stream([engine.docker(), "pull", "--", image], project, say,
                lambda out, image=image, services=services: errors.pull_failed(image, services, out),
                timeout=PULL_TIMEOUT, cancel=cancel)
    _check(cancel)
    return Images(info.api, inspect(project, names))


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled while preparing images")


def build_images(project: Project, names: list[str], say: Callable[[str], None],
                 cancel: threading.Event | None = None) -> None:
    """`compose build` of these services (those with `build`), showing its output; LocaldError when it
    fails, Cancelled when `cancel` is set (the build is killed)."""
    if not names:
        return
    _check(cancel)
    say(f"building {', '.join(names)}")
    project_name = compose_project_name(project)
    document = dump_yaml(build_document(project, names, project_name))
    argv = compose_argv(["-"], project_name, project.root) + ["build", "--", *names]
    _stream(argv, project, say, lambda out: errors.build_failed(names, out), stdin=document, cancel=cancel)


def _stream(argv: list[str], project: Project, say, error, timeout: float | None = None,
            stdin: str | None = None, cancel: threading.Event | None = None) -> None:
    """Run a command, showing each output line; on failure raise error(all output). It is killed
    after `timeout` seconds or as soon as `cancel` is set (then Cancelled), and dies with us."""
    proc = spawn_helper(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                        text=True, errors="replace", start_new_session=True, cwd=project.root)
    if stdin is not None:
        proc.stdin.write(stdin)
        proc.stdin.close()
    lines: list[str] = []
    finished = threading.Event()
    threading.Thread(target=_end_early, args=(proc, finished, timeout, cancel), daemon=True,
                     name="image-guard").start()
    try:
        for line in proc.stdout:
            line = line.rstrip()
            if line:
                lines.append(line)
                say(f"  {line}")
        code = proc.wait()
    finally:
        finished.set()
        if proc.poll() is None:
            engine.kill_group(proc)
            proc.wait()
    _check(cancel)
    if code != 0:
        if code < 0 and timeout:
            lines.append(f"error: gave up after {timeout:g}s (LOCALD_PULL_TIMEOUT)")
        raise error("\n".join(lines))


def _end_early(proc: subprocess.Popen, finished: threading.Event, timeout: float | None,
               cancel: threading.Event | None) -> None:
    """Kill `proc` when `timeout` passes or `cancel` is set, unless it finished first."""
    deadline = time.monotonic() + timeout if timeout else None
    while not finished.wait(0.1):
        if (cancel is not None and cancel.is_set()) or (deadline is not None and time.monotonic() > deadline):
            engine.kill_group(proc)
            return
