"""Checks the schema cannot express: references between services, cycles, ports, kinds.

They run on the raw document even when the schema found problems, so one `validate` reports
every mistake; each check skips values of the wrong type (the schema already reported those).
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Iterator

from ..errors import Problem
from ..graph import Graph
from . import signals, values, watch
from .model import CONTAINER_KINDS, kind_of
from .schema import did_you_mean, json_path, schema, shown
from .source import Source

REFERENCE = re.compile(r"\$\{services\.([^.}]*)\.([^}]*)\}")
REFERENCE_FIELDS = ("port", "host", "url", "domain", "public_url")

# Keys that make sense for one kind only: key -> kinds it applies to.
_CONTAINER_ONLY = ("image", "build", "container_port", "ports", "volumes", "entrypoint", "user", "compose")
_ONLY_FOR = {**{k: CONTAINER_KINDS for k in _CONTAINER_ONLY}, "path": ("site",), "version": ("postgres",)}
_KIND_WORDS = {"exec": "a host process", "worker": "a host process (worker)", "site": "a static site",
               "container": "a container", "postgres": "a postgres container"}


_SIGNAL_FORM = re.compile(r"^(SIG)?[A-Z0-9+-]+$")  # the schema's pattern: anything else was reported there


def _misspelt(raw: dict, *keys: str) -> bool:
    """Whether the service has a misspelling of one of `keys` (`comand`): the schema reports it with a
    did-you-mean, and "has no command" would only repeat the same mistake."""
    known = schema()["definitions"]["service"]["properties"]
    return any(k not in known and difflib.get_close_matches(k, keys, n=1, cutoff=0.6) for k in raw)


def _services(data: dict) -> dict[str, dict]:
    services = data.get("services")
    if not isinstance(services, dict):
        return {}
    return {k: v for k, v in services.items() if isinstance(v, dict) and not k.startswith("x-")}


def fixed_port(raw: dict) -> int | None:
    """The fixed host port of a raw service, when it has a valid one (3000.0 counts: draft-07 integer)."""
    port = raw.get("port")
    if isinstance(port, bool) or not isinstance(port, (int, float)):
        return None
    if isinstance(port, float) and not port.is_integer():  # also NaN and infinities
        return None
    return int(port) if 1 <= port <= 65535 else None


def dependency_names(raw: dict) -> Iterator[tuple[str, Any]]:
    """(name, path element) for each entry of `depends_on`, in either form."""
    deps = raw.get("depends_on")
    if isinstance(deps, list):
        for i, name in enumerate(deps):
            if isinstance(name, str):
                yield name, i
    elif isinstance(deps, dict):
        for name in deps:
            yield name, name


def check(source: Source, known_services: set[str] = frozenset()) -> list[Problem]:
    """`known_services`: names that exist outside this file (adopted compose services)."""
    problems: list[Problem] = []

    def report(path: tuple, message: str) -> None:
        line, col = source.locate(path)
        problems.append(Problem(source.file, line, col, json_path(path), shown(message)))

    services = _services(source.data)
    names = set(services) | set(known_services)

    for name, raw in services.items():
        base = ("services", name)
        kind = kind_of(raw)
        for key, kinds in _ONLY_FOR.items():
            if key in raw and kind not in kinds:
                report(base + (key,), f"`{key}` does not apply to {_KIND_WORDS[kind]} (type = \"{kind}\")"
                       + ("" if key != "image" else "; set type = \"container\" or remove `type`"))
        stop = raw.get("stop_signal")
        if isinstance(stop, str) and _SIGNAL_FORM.match(stop) and not signals.is_signal(stop):
            report(base + ("stop_signal",), f"unknown signal '{stop}'{did_you_mean(stop.upper(), signals.NAMES)}")
        if kind == "worker" and "port" in raw:
            report(base + ("port",), "a worker gets no port; use type = \"exec\" for a service that listens")
        if kind == "site" and "command" in raw:
            report(base + ("command",), "a site serves `path`; it takes no `command` (use type = \"exec\")")
        if kind in ("exec", "worker") and "command" not in raw and not _misspelt(raw, "command"):
            report(base, f"service '{name}' has no `command`: say what to run, e.g. command = \"npm run dev\"")
        if kind == "container" and "image" not in raw and "build" not in raw and not _misspelt(raw, "image", "build"):
            report(base, f"container service '{name}' needs `image` or `build`")

        health = raw.get("health_check")
        if isinstance(health, dict) and health.get("type") == "command" and "command" not in health \
                and not _misspelt(health, "command"):
            report(base + ("health_check",), 'a health check of type = "command" needs the `command` to run '
                   "(exit status 0 = ready)")

        for dep, elem in dependency_names(raw):
            path = base + ("depends_on", elem)
            if dep == name:
                report(path, f"service '{name}' depends on itself")
            elif dep not in names:
                report(path, f"depends on unknown service '{dep}'{did_you_mean(dep, names)}")

        env = raw.get("env")
        if isinstance(env, dict):
            for var, value in env.items():
                if isinstance(value, str):
                    for ref in REFERENCE.finditer(value):
                        target, fld = ref.groups()
                        where = base + ("env", var)
                        if target not in names:
                            report(where, f"${{services.{target}.{fld}}} names unknown service '{target}'"
                                   f"{did_you_mean(target, names)}")
                        elif fld not in REFERENCE_FIELDS:
                            report(where, f"${{services.{target}.{fld}}}: unknown field '{fld}'; "
                                   f"use one of {', '.join(REFERENCE_FIELDS)}")
                        elif fld != "host" and target in services and kind_of(services[target]) == "worker":
                            report(where, f"${{services.{target}.{fld}}}: '{target}' is a worker and has no port; "
                                   "make it type = \"exec\" if it listens")

    values.check(source.data, services, report)
    watch.check(services, report)
    _port_clashes(services, report)
    _cycles(services, report)
    return problems


def _port_clashes(services: dict[str, dict], report) -> None:
    owner: dict[int, str] = {}
    for name, raw in services.items():
        port = fixed_port(raw)
        if port is None:
            continue
        if port in owner:
            report(("services", name, "port"), f"port {port} is already used by service '{owner[port]}'")
        else:
            owner[port] = name


def _cycles(services: dict[str, dict], report) -> None:
    """Report each dependency cycle once, at the edge that closes it."""
    graph = Graph({n: [d for d, _ in dependency_names(raw)] for n, raw in services.items()})
    for cycle in graph.cycles():
        node, dep = cycle[-2], cycle[-1]
        elem = next(e for d, e in dependency_names(services[node]) if d == dep)
        report(("services", node, "depends_on", elem), "dependency cycle: " + " → ".join(cycle))
