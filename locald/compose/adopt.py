"""Adopt an existing compose project: `[compose] files = ["docker-compose.yml"]` in locald.toml.

The compose file stays the source of truth. Compose loads it (frontend), and each of its services
becomes a ContainerService with `adopted=True` and `compose` = its full normalised definition, which
the translator emits as is. The locald fields (image, depends_on, health_check, port) are mapped
by the same rules as the import (`mapping`) so the coordinator can order and health-gate them and
host processes can `depends_on` them and read `${services.NAME.port}`.
"""

from __future__ import annotations

import dataclasses
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..config.model import ContainerService, build_service
from ..errors import Problem
from . import frontend
from .fileformat import escape_all
from .mapping import (RESOURCES, ImportRefused, MappingContext, map_service, top_level_resources,
                      with_empty_dockerfile)


@dataclasses.dataclass(frozen=True)
class Adoption:
    services: dict[str, ContainerService]
    resources: dict[str, Any]  # top-level networks/volumes/secrets/configs/models of the adopted files
    files: tuple[str, ...]


def _stamp(path: Path) -> float:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


@lru_cache(maxsize=8)
def _load(root: str, files: tuple[str, ...], profiles: tuple[str, ...], stamps: tuple) -> Adoption:
    model = frontend.load(files, profiles, root)  # ComposeLoadError (a LocaldError) when Compose refuses
    project = model.data.get("name") or ""
    services: dict[str, ContainerService] = {}
    ctx = MappingContext(set(model.services), {})
    for name, svc in model.services.items():
        table, _notes = map_service(name, svc, ctx)
        table.pop("compose", None)
        service = build_service(name, {"type": "container", **table})
        # `compose` in the form Compose prints (`$` escaped): the translator emits it as it is.
        services[name] = dataclasses.replace(service, adopted=True, compose=escape_all(with_empty_dockerfile(svc)))
    return Adoption(services, top_level_resources(model.data, project, lambda p: p), files)


def load_adoption(compose: dict, root: Path) -> Adoption:
    files = tuple(compose.get("files") or ())
    profiles = tuple(compose.get("profiles") or ())
    stamps = tuple(_stamp(root / f) for f in files)
    return _load(str(root), files, profiles, stamps)


def adopted_services(source, root: Path) -> tuple[dict[str, ContainerService], list[Problem]]:
    """The services of the compose files named in `[compose] files`, or the problems, located at that key."""
    compose = source.data.get("compose") or {}
    files = compose.get("files") or []
    problems: list[Problem] = []

    def report(path: tuple, message: str) -> None:
        line, col = source.locate(path)
        from ..config.schema import json_path

        problems.append(Problem(source.file, line, col, json_path(path), message))

    for i, f in enumerate(files):
        if not (root / f).is_file():
            report(("compose", "files", i), f"no such compose file: {f} (paths are relative to {source.file})")
    if problems:
        return {}, problems
    try:
        adoption = load_adoption(compose, root)
    except (frontend.ComposeLoadError, ImportRefused) as exc:
        report(("compose", "files"), str(exc))
        return {}, problems

    own = source.data.get("services") if isinstance(source.data.get("services"), dict) else {}
    shown = ", ".join(files)
    for name in adoption.services:
        if name in own:
            report(("services", name), f"service '{name}' is also defined by the adopted compose file ({shown}): "
                                       "rename one of them")
    taken = {raw.get("port"): n for n, raw in own.items() if isinstance(raw, dict) and isinstance(raw.get("port"), int)}
    for name, service in adoption.services.items():
        if service.port is not None and service.port in taken:
            report(("services", taken[service.port], "port"),
                   f"port {service.port} is also published by adopted compose service '{name}' ({shown})")
    return adoption.services, problems


def compose_resources(compose: dict, root: str | os.PathLike) -> dict[str, Any]:
    """Top-level compose definitions for the generated compose file: those of the adopted files, then
    locald.toml's own `[compose.networks]`, `[compose.volumes]`, … (which win, name by name).
    Values are literal, like every user value: escape `$` when writing them."""
    out: dict[str, Any] = {}
    if compose.get("files"):
        try:
            out = {k: dict(v) if isinstance(v, dict) else v for k, v in load_adoption(compose, Path(root)).resources.items()}
        except (frontend.ComposeLoadError, ImportRefused):
            out = {}  # already reported by adopted_services
    for key, value in compose.items():
        if key in RESOURCES and isinstance(value, dict):
            out[key] = {**out.get(key, {}), **value}
        elif key.startswith("x-"):
            out[key] = value
    return out
