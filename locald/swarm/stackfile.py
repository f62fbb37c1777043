"""The export document (what `locald export compose` writes) → a stack file `docker stack deploy` reads.

A transformation of that document, never a second translator: every service keeps its image, command,
env, volumes, health check and init; then
- `deploy`: one replica, DNS round-robin endpoints, `restart_policy` from `restart`, resources from `mem_limit`/`cpus`/… (the
  `compose` passthrough), and for a service something waits on with `completed_successfully`, a one-shot
  (`mode: replicated-job` when the swarm has jobs, else a replica that is never restarted);
- ports in Swarm's long syntax, host mode (see ports.py);
- `depends_on` leaves the file but not the stack: its conditions become `needs`, which `deploy`
  walks in waves (`docker stack deploy` itself ignores it);
- every key Swarm would reject or silently ignore is dropped and named once in `notes`;
- `version: "3.9"`: the newest format every docker CLI since 20.10 reads (older CLIs refuse a file
  without it); no `name` (the stack's name is an argument of `docker stack deploy`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ..compose.translate import deep_merge
from ..errors import LocaldError
from ..graph import Graph
from .ports import host_mode

VERSION = "3.9"

# Service keys `docker stack deploy` turns into the swarm service (docker/cli compose/convert/service.go).
KEPT = frozenset({
    "image", "command", "entrypoint", "environment", "env_file", "working_dir", "user", "hostname",
    "extra_hosts", "dns", "dns_search", "healthcheck", "labels", "volumes", "networks", "secrets", "configs",
    "init", "stop_signal", "stop_grace_period", "tty", "stdin_open", "read_only", "cap_add", "cap_drop",
    "sysctls", "ulimits", "logging", "isolation", "credential_spec", "deploy"})
HEALTHCHECK_KEYS = frozenset({"test", "interval", "timeout", "retries", "start_period", "disable"})
TOP_LEVEL = ("networks", "volumes", "secrets", "configs")
# Compose's resource keys and where a swarm service keeps them.
RESOURCES = {"mem_limit": ("limits", "memory"), "cpus": ("limits", "cpus"), "pids_limit": ("limits", "pids"),
             "mem_reservation": ("reservations", "memory")}

REASONS = {
    "build": "a swarm pulls images, it does not build them: build and push the image first",
    "container_name": "Swarm names the containers of a service itself",
    "depends_on": "`docker stack deploy` ignores it; `locald deploy swarm` deploys in dependency waves instead",
    "expose": "services on the same network reach every port anyway",
    "healthcheck.start_interval": "not in the stack file format (engine API 1.44)",
    "127.0.0.1 port binding": "Swarm cannot bind an address: published ports listen on every interface "
                        "of the node that runs the task",
}
UNSUPPORTED = "Swarm services do not support it"

CONDITIONS = {"service_started": "started", "service_healthy": "healthy",
              "service_completed_successfully": "completed"}
STRENGTH = ("started", "healthy", "completed")  # what a dependent may wait for, weakest first


@dataclass(frozen=True)
class Stack:
    document: dict
    needs: dict[str, dict[str, str]]  # service → {dependency: started | healthy | completed}
    one_shots: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what Swarm could not keep, one line per key
    graph: Graph = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "graph", Graph({n: list(d) for n, d in self.needs.items()}))

    @property
    def services(self) -> list[str]:
        return list(self.document["services"])

    def waves(self) -> list[list[str]]:
        """Deploy waves: a service comes after everything it depends on."""
        return self.graph.levels()

    def wait_for(self, name: str) -> str:
        """What must be true of `name` before the next wave: the strongest condition any dependent
        asks for; `healthy` when none does (the deploy ends with everything healthy)."""
        asked = [deps[name] for deps in self.needs.values() if name in deps]
        return max(asked, key=STRENGTH.index, default="healthy")

    def subset(self, names: list[str]) -> dict:
        """The document with only these services: what one wave deploys (services already deployed
        stay as they are: `docker stack deploy` without --prune leaves them alone)."""
        doc = dict(self.document)
        doc["services"] = {n: self.document["services"][n] for n in names}
        return doc


def to_stack(export_doc: dict, jobs: bool = False) -> Stack:
    """The stack for an export document. jobs: the swarm runs `replicated-job` services."""
    services = export_doc.get("services") or {}
    needs = {name: {dep: CONDITIONS.get((spec or {}).get("condition"), "started")
                    for dep, spec in _depends_on(definition).items() if dep in services}
             for name, definition in services.items()}
    one_shots = tuple(n for n in services if any(d.get(n) == "completed" for d in needs.values()))
    dropped: dict[str, list[str]] = {}
    out_services = {name: _service(name, definition, name in one_shots, jobs, dropped)
                    for name, definition in services.items()}
    doc: dict[str, Any] = {"version": VERSION, "services": out_services}
    for key, value in export_doc.items():
        if key in TOP_LEVEL or key.startswith("x-"):
            doc[key] = copy.deepcopy(value)
        elif key not in ("name", "services"):
            dropped.setdefault(key, []).append("top level")
    notes = tuple(f"dropped {key} ({', '.join(names)}): {REASONS.get(key, UNSUPPORTED)}"
                  for key, names in dropped.items())
    return Stack(doc, needs, one_shots, notes)


def _depends_on(definition: dict) -> dict:
    deps = definition.get("depends_on") or {}
    return {d: {} for d in deps} if isinstance(deps, list) else deps


def _service(name: str, definition: dict, one_shot: bool, jobs: bool, dropped: dict[str, list[str]]) -> dict:
    out: dict[str, Any] = {}
    resources: dict[str, dict] = {}
    for key, value in definition.items():
        if key in KEPT or key.startswith("x-"):
            out[key] = copy.deepcopy(value)
        elif key in RESOURCES:
            group, field_name = RESOURCES[key]
            resources.setdefault(group, {})[field_name] = int(value) if field_name == "pids" else str(value)
        elif key == "build":
            if not definition.get("image"):
                raise LocaldError(f"service '{name}' has `build` but no `image`: a swarm pulls images, it does not "
                                  f"build them. Set `image = \"registry.example.com/{name}:1\"` on it in "
                                  "locald.toml, build and push that image, then deploy")
            dropped.setdefault(key, []).append(name)
        elif key == "ports":
            out["ports"] = _ports(name, value, dropped)
        elif key != "restart":  # restart becomes deploy.restart_policy below
            dropped.setdefault(key, []).append(name)
    hc = out.get("healthcheck")
    if isinstance(hc, dict):
        for key in [k for k in hc if k not in HEALTHCHECK_KEYS]:
            dropped.setdefault(f"healthcheck.{key}", []).append(name)
            del hc[key]
    out["deploy"] = _deploy(definition, one_shot, jobs, resources)
    return out


def _ports(name: str, ports: list, dropped: dict[str, list[str]]) -> list[dict]:
    out: list[dict] = []
    bound = False
    for spec in ports:
        entries, address = host_mode(name, spec)
        out.extend(e for e in entries if e not in out)
        bound = bound or address is not None
    if bound:
        dropped.setdefault("127.0.0.1 port binding", []).append(name)
    return out


def _deploy(definition: dict, one_shot: bool, jobs: bool, resources: dict[str, dict]) -> dict:
    """Ours first, then whatever the user's `deploy` says on top (their word wins)."""
    ours: dict[str, Any] = {"mode": "replicated-job"} if one_shot and jobs else {"replicas": 1}
    # Services find each other by DNS round robin, not a virtual IP: the VIP needs IPVS, which some
    # kernels lack (measured on our CI machines: `No route to host`; dnsrr works across nodes), and with
    # host-mode ports (ports.py) the VIP's load balancing has nothing to add. As with compose, a name
    # then resolves to the task's own address, which changes when the task is replaced.
    ours["endpoint_mode"] = "dnsrr"
    ours["restart_policy"] = restart_policy(definition.get("restart"), one_shot)
    if resources:
        ours["resources"] = resources
    return deep_merge(ours, definition.get("deploy") or {})


def restart_policy(restart: str | None, one_shot: bool) -> dict:
    """Compose's `restart` as a swarm restart policy. `no` (locald's default) means no restart here too;
    a one-shot only ever retries on failure (a finished job must not run again)."""
    name, _, attempts = (restart or "no").partition(":")
    if name == "on-failure":
        policy: dict[str, Any] = {"condition": "on-failure"}
        if attempts:
            policy["max_attempts"] = int(attempts)
        return policy
    if name in ("always", "unless-stopped") and not one_shot:
        return {"condition": "any"}
    return {"condition": "none"}

