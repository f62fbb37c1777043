"""What changed between two plans, service by service: the edit loop's diff.

A service's *definition* is everything that decides how it runs once resolved: for a container, its
compose service exactly as the runtime writes it (env after interpolation, image, ports, volumes,
health check, …); for a host process, its command, working directory, resolved env, the contents of
its env files, port, health check and stop/restart settings. Dependencies are not part of it: an
edge decides order, not how the service runs. Two plans are compared definition by definition, so
a service whose env changes because a dependency's port changed counts as changed too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..compose.translate import LABEL_CONFIG_HASH, config_hash
from ..plan import Plan

_PROCESS_FIELDS = ("kind", "command", "workdir", "health_check", "stop_signal", "stop_grace_period", "restart",
                   "max_restarts", "path")


def _file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def process_definition(plan: Plan, name: str) -> dict[str, Any]:
    service = plan.service(name)
    out: dict[str, Any] = {f: _plain(getattr(service, f, None)) for f in _PROCESS_FIELDS}
    out["env"] = dict(plan.env(name))
    out["port"] = plan.ports.get(name)
    root = plan.project.root
    files = [".env", *service.env_file]
    out["env_files"] = {f: _file_digest(root / f) for f in files}
    return out


def definitions(plan: Plan, names, document: Mapping | None = None) -> dict[str, dict]:
    """Each service's resolved definition. `document`: the compose document the container runtime
    writes for this plan (containers are compared as compose sees them, less the hash label that is
    derived from the rest)."""
    out = {}
    for name in names:
        if plan.service(name).is_container:
            service = json.loads(json.dumps((document or {}).get("services", {}).get(name, {}), default=str))
            service.get("labels", {}).pop(LABEL_CONFIG_HASH, None)
            out[name] = service
        else:
            out[name] = process_definition(plan, name)
    return out


def fingerprints(definitions: Mapping[str, Mapping]) -> dict[str, str]:
    """name → config hash: kept in state.json (containers carry theirs as a label)."""
    return {name: config_hash(d) for name, d in definitions.items()}


@dataclass(frozen=True)
class Changes:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)  # name → what changed ("env DATABASE_URL", "image")
    unchanged: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def summary(self) -> str:
        """`applied: +api, ~web (env DATABASE_URL), -old` (or `no changes`)."""
        if not self:
            return "no changes"
        parts = [f"+{n}" for n in self.added]
        parts += [f"~{n} ({', '.join(what)})" if what else f"~{n}" for n, what in self.changed.items()]
        parts += [f"-{n}" for n in self.removed]
        return "applied: " + ", ".join(parts)


def diff(old: Mapping[str, Mapping], new: Mapping[str, Mapping]) -> Changes:
    """Compare definitions by name; order follows `new` (then `old` for removals)."""
    changes = Changes(added=[n for n in new if n not in old], removed=[n for n in old if n not in new])
    for name in new:
        if name not in old:
            continue
        what = _what_changed(old[name], new[name])
        if what:
            changes.changed[name] = what
        else:
            changes.unchanged.append(name)
    return changes


def _what_changed(old: Mapping, new: Mapping) -> list[str]:
    out = []
    for key in dict.fromkeys([*old, *new]):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if key in ("env", "environment") and isinstance(a, dict) and isinstance(b, dict):
            names = sorted(k for k in {*a, *b} if a.get(k) != b.get(k))
            out.append(f"{key} {' '.join(names)}")
        else:
            out.append(key)
    return out


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    return list(value) if isinstance(value, tuple) else value
