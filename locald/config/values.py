"""Values the schema lets through but nothing downstream can take: they passed `validate` once and then
crashed `up` (os.execve, the engine, a thread's wait). Each check skips values of the wrong type: the
schema reported those."""

from __future__ import annotations

import math
import re
from typing import Any, Callable

from . import volumes
from .model import CONTAINER_KINDS, kind_of, parse_duration
from .schema import schema

Report = Callable[[tuple, str], None]

# Go's time.Duration (Docker, Compose) and Python's threading timeouts both end at 2**63 ns.
MAX_DURATION = 9_223_372_036  # seconds, about 292 years
_DURATION_KEYS = ("stop_grace_period",)
_HEALTH_DURATIONS = ("interval", "timeout", "start_period")


def check(data: dict, services: dict[str, dict], report: Report) -> None:
    _nul_bytes(data, (), report)
    for name, raw in services.items():
        base = ("services", name)
        _env_names(raw, base, report)
        if kind_of(raw) in CONTAINER_KINDS:
            _short_volumes(raw, base, report)
        for path, value in _durations(raw, base):
            if parse_duration(value) > MAX_DURATION:
                report(path, f"a duration can be at most {MAX_DURATION} seconds (about 292 years)")


def _nul_bytes(value: Any, path: tuple, report: Report) -> None:
    """C strings end at a NUL byte: argv, the environment, file names and the engine's API all refuse one."""
    if isinstance(value, str) and "\0" in value:
        report(path, "contains a NUL byte (\\u0000): no command, environment variable or file name can hold one")
    elif isinstance(value, dict):
        for key, item in value.items():
            _nul_bytes(item, path + (key,), report)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _nul_bytes(item, path + (i,), report)


def _env_names(raw: dict, base: tuple, report: Report) -> None:
    """Names of `env` and of `build.args`: both travel as NAME=value (exec's environment, the engine's API,
    `--build-arg`), so an empty name, '=', a NUL byte or a line break cannot be told apart from the value."""
    build = raw.get("build")
    tables = [(base + ("env",), raw.get("env")), (base + ("build", "args"), build.get("args") if isinstance(build, dict) else None)]
    for path, table in tables:
        for name in table if isinstance(table, dict) else ():
            what = next((words for bad, words in _BAD_NAMES if bad(name)), None)
            if what:
                kind = "an environment variable" if path[-1] == "env" else "a build argument"
                report(path + (name,), f"{kind} name cannot {what}")


_BAD_NAMES = ((lambda n: n == "", "be empty"), (lambda n: "=" in n, "contain '='"),
              (lambda n: "\0" in n, "contain a NUL byte"), (lambda n: "\n" in n or "\r" in n, "contain a line break"))


def _short_volumes(raw: dict, base: tuple, report: Report) -> None:
    specs = raw.get("volumes")
    for i, spec in enumerate(specs if isinstance(specs, list) else ()):
        problem = volumes.problem(spec) if isinstance(spec, str) and "\0" not in spec else None
        if problem:
            report(base + ("volumes", i), problem)


def _durations(raw: dict, base: tuple):
    """(path, value) of each well-formed duration of the service."""
    found = [(base + (k,), raw.get(k)) for k in _DURATION_KEYS]
    health = raw.get("health_check")
    if isinstance(health, dict):
        found += [(base + ("health_check", k), health.get(k)) for k in _HEALTH_DURATIONS]
    deps = raw.get("depends_on")
    if isinstance(deps, dict):
        found += [(base + ("depends_on", n, "timeout"), d.get("timeout")) for n, d in deps.items() if isinstance(d, dict)]
    return [(path, value) for path, value in found if _is_duration(value)]


def _is_duration(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return math.isfinite(value)  # NaN and the infinities are the schema's to report
    pattern = schema()["definitions"]["duration"]["oneOf"][1]["pattern"]
    return isinstance(value, str) and re.fullmatch(pattern, value) is not None
