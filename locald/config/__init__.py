"""locald.toml: load (with a source map), validate (schema + semantics), build the model."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ConfigError, Problem
from . import envfile, schema, semantic
from .model import Project, build_service
from .source import Source, TomlSyntaxError, load_file, load_text

DEFAULT_FILE = "locald.toml"


@dataclass
class Checked:
    """The outcome of checking one file: every problem found, and the project when there are none."""

    file: str
    problems: list[Problem]
    project: Project | None


def display_name(path: Path) -> str:
    """How the file is named in messages: relative to the working directory when it is below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def check_file(path: str | os.PathLike) -> Checked:
    path = Path(path)
    display = display_name(path)
    try:
        source = load_file(path, display)
    except TomlSyntaxError as exc:
        return Checked(display, [exc.problem], None)
    return check_source(source, path)


def check_source(source: Source, path: Path) -> Checked:
    problems = schema.validate(source)
    adopted = {}
    compose = source.data.get("compose")
    if not problems and isinstance(compose, dict) and compose.get("files"):
        from ..compose.adopt import adopted_services  # only projects that adopt a compose file pay for YAML

        adopted, adopt_problems = adopted_services(source, path.parent.resolve())
        problems += [replace(p, message=schema.shown(p.message)) for p in adopt_problems]  # one line each
    problems += semantic.check(source, set(adopted))
    problems.sort(key=lambda p: (p.line, p.col))
    problems += envfile.check(source, path.parent.resolve(), display_name)  # at the env files' own lines
    if problems:
        return Checked(source.file, problems, None)
    data = source.data
    services = {name: build_service(name, raw) for name, raw in data.get("services", {}).items()
                if not name.startswith("x-")}  # x- keys are extensions, not services
    services.update({n: s for n, s in adopted.items() if n not in services})
    compose = data.get("compose", {})
    project = Project(
        name=data["project"]["name"],
        file=path.resolve(),
        services=services,
        domain=data["project"].get("domain"),
        compose_files=tuple((path.parent.resolve() / f) for f in compose.get("files", ())),
        compose_profiles=tuple(compose.get("profiles", ())),
        compose_resources=_compose_resources(compose, path.parent.resolve()),
    )
    return Checked(source.file, [], project)


def _compose_resources(compose: dict, root: Path) -> dict:
    if not any(k != "profiles" for k in compose):
        return {}
    from ..compose.adopt import compose_resources

    return compose_resources(compose, root)


def load_project(path: str | os.PathLike = DEFAULT_FILE) -> Project:
    """The project, or ConfigError listing every problem."""
    checked = check_file(path)
    if checked.problems:
        raise ConfigError(checked.problems)
    return checked.project


def load_project_text(text: str, path: str | os.PathLike) -> Project:
    """The project from `text` as if it were the file at `path` (its directory is the project's):
    the copy of locald.toml a running stack applied last. ConfigError when it does not validate."""
    path = Path(path)
    try:
        source = load_text(text, display_name(path))
    except TomlSyntaxError as exc:
        raise ConfigError([exc.problem]) from None
    checked = check_source(source, path)
    if checked.problems:
        raise ConfigError(checked.problems)
    return checked.project
