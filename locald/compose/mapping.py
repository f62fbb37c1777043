"""The compose ↔ locald mapping: one normalised compose service → a locald service table, and the
top-level compose resources locald keeps. Used by the import (which writes locald.toml) and by the
adoption of compose files (which builds services from them), so both read compose the same way.

Each compose key with a locald equivalent maps to it; every other key goes verbatim into the
service's `compose` table. When locald can express only part of a value (a health check with
`start_interval`, a build `target`, a dependency with `restart: true`), the locald key gets the part
locald understands (the coordinator gates on it) and `compose.<key>` carries the rest: the translator
merges `compose` last, tables key by key, so together they give back the original value. A value
locald cannot say at all (`restart: unless-stopped`, a disabled health check) goes to `compose` whole.

This module imports nothing from `locald.config`: the config package uses it (through adoption).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import LocaldError

RESOURCES = ("networks", "volumes", "secrets", "configs", "models")  # top-level compose tables
# locald `depends_on` condition → compose condition (the import reads it the other way).
CONDITIONS = {"started": "service_started", "healthy": "service_healthy",
              "completed_successfully": "service_completed_successfully"}
_FROM_COMPOSE_CONDITION = {v: k for k, v in CONDITIONS.items()}
_ALWAYS_NAMED = ("networks", "volumes", "secrets", "configs")  # Compose prints a name for each
_ATTACHMENTS = ("networks", "models")  # service keys whose entries may be null: attached without options
_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$")
_SIGNAL = re.compile(r"^(SIG)?[A-Z0-9+-]+$")
_GLOB = re.compile(r"[*?\[]")  # what makes a watched path a glob for locald (config/watch.py)


class ImportRefused(LocaldError):
    """The compose project cannot be imported (or adopted) as it is; the message says why and what to do."""


# --- values TOML can hold -----------------------------------------------------------------------------

def _env_list(env: dict) -> list[str]:
    """Compose's list form, the only one that can say "no value: take it from the shell"."""
    return [k if v is None else f"{k}={v}" for k, v in env.items()]


def without_nulls(table: dict, parent: str, each: Callable[[Any, str], Any]) -> dict:
    """A table of Compose's normalised output without its nulls, which mean "unset" — except under
    `networks` and `models`, where null is an attachment without options (`front: null` ≡ `front: {}`).
    `each(value, key)` maps the values kept."""
    return {k: {} if v is None else each(v, k) for k, v in table.items() if v is not None or parent in _ATTACHMENTS}


def tomlable(value: Any, parent: str = "") -> Any:
    """The value without nulls, which TOML cannot write (see without_nulls); variables without a value
    (environment/args) in Compose's list form."""
    if isinstance(value, dict):
        if parent in ("environment", "args") and any(v is None for v in value.values()):
            return _env_list(value)
        out = without_nulls(value, parent, tomlable)
        # A table of nulls only (`exec: {command: null}`) is unset as a whole.
        return {k: v for k, v in out.items()
                if not (v == {} and isinstance(value[k], dict) and value[k] and k not in _ATTACHMENTS)}
    if isinstance(value, list):
        return [tomlable(v, parent) for v in value if v is not None]
    return value


# --- one service -----------------------------------------------------------------------------------------

def _port_string(p: dict) -> str | None:
    """A long-form port as compose's short syntax, when that says exactly the same."""
    if set(p) - {"mode", "host_ip", "target", "published", "protocol"} or p.get("mode", "ingress") != "ingress":
        return None
    host_ip = p.get("host_ip")
    out = ""
    if host_ip:
        out = (f"[{host_ip}]" if ":" in host_ip else host_ip) + ":"
    if p.get("published"):
        out += f"{p['published']}:"
    elif host_ip:
        out += ":"
    out += str(p["target"])
    if p.get("protocol", "tcp") != "tcp":
        out += "/" + p["protocol"]
    return out


def _simple_port(ports: list) -> tuple[int, int] | None:
    """(container port, host port) when the service publishes exactly one plain TCP port."""
    if len(ports) != 1 or not isinstance(ports[0], dict):
        return None
    p = ports[0]
    if set(p) - {"mode", "host_ip", "target", "published", "protocol"} or p.get("mode", "ingress") != "ingress":
        return None
    if p.get("protocol", "tcp") != "tcp" or p.get("host_ip") not in (None, "127.0.0.1"):
        return None
    published = p.get("published")
    if published is None or not str(published).isdigit():
        return None  # no host port (Compose picks one each time) or a range: keep it in `ports`
    return p["target"], int(published)


def _volume_string(v: dict) -> str | None:
    """A long-form volume as short syntax, when that says exactly the same."""
    ro = ":ro" if v.get("read_only") else ""
    keys = set(v) - {"read_only"}
    if v.get("type") == "bind" and keys == {"type", "source", "target", "bind"} and v["bind"] == {"create_host_path": True}:
        return f"{v['source']}:{v['target']}{ro}"
    if v.get("type") == "volume" and keys == {"type", "source", "target", "volume"} and v["volume"] == {}:
        return f"{v['source']}:{v['target']}{ro}"
    if v.get("type") == "volume" and keys == {"type", "target", "volume"} and v["volume"] == {} and not ro:
        return v["target"]
    return None


def _host_path(value: Any) -> bool:
    """Compose resolves every local path to an absolute one, and the import makes it relative to
    locald.toml (`./…`, `../…`); what Compose leaves alone is not a path on this host: a remote build
    context (a git URL) or an absolute path of another system (`C:\\data`, `\\\\server\\share`)."""
    return isinstance(value, str) and value.startswith(("/", "."))


def _foreign_bind(v: Any) -> bool:
    return isinstance(v, dict) and v.get("type") == "bind" and "source" in v and not _host_path(v["source"])


def with_empty_dockerfile(svc: dict) -> dict:
    """Compose prints `dockerfile: Dockerfile` for a build that does not name one, and nothing when the
    file set it empty (`dockerfile: ${UNSET}`); written back without it, it would come back named.
    The service with that empty value said."""
    build = svc.get("build")
    if not isinstance(build, dict) or "dockerfile" in build or "dockerfile_inline" in build:
        return svc
    return {**svc, "build": {**build, "dockerfile": ""}}


def _build(build: dict, out: dict, compose: dict, notes: list[str]) -> None:
    """`build` in locald's terms (context, dockerfile, args), the rest in `compose.build`."""
    args = build.get("args") or {}
    context = build.get("context", ".")
    native: dict[str, Any] = {"context": context}
    if build.get("dockerfile", "Dockerfile") not in ("Dockerfile", ""):
        native["dockerfile"] = build["dockerfile"]
    if args and all(v is not None for v in args.values()):
        native["args"] = args
    out["build"] = native["context"] if list(native) == ["context"] else native
    extra = {k: v for k, v in build.items() if k not in ("context", "dockerfile", "args")}
    if any(v is None for v in args.values()):
        extra["args"] = _env_list(args)  # a list replaces the table: an argument without value stays so
    if not _host_path(context):
        # locald's `build.context` is a directory relative to locald.toml: Compose gets the URL itself.
        extra["context"] = context
        notes.append("build.context is not a directory on this host (a git URL): compose.build.context hands it "
                     "to Compose as is")
    if build.get("dockerfile") == "":
        extra["dockerfile"] = ""  # see with_empty_dockerfile; locald's `build` would leave it out
    if extra:
        compose["build"] = extra


@dataclass
class MappingContext:
    names: set[str]  # every compose service name
    renamed: dict[str, str]  # compose name -> locald name, for the services that need one
    host_ports: dict[int, str] = field(default_factory=dict)  # `port` values already given, and to whom

def map_service(name: str, svc: dict, ctx: MappingContext) -> tuple[dict, list[str]]:
    """One normalised compose service → (locald service table, notes on what was approximated)."""
    rest = dict(with_empty_dockerfile(svc))  # a copy: keys are taken out as they are mapped
    out: dict[str, Any] = {}
    compose: dict[str, Any] = {}
    notes: list[str] = []
    take = rest.pop

    provider = take("provider", None)
    if provider is not None:
        kind = provider.get("type") if isinstance(provider, dict) else None
        raise ImportRefused(f"service '{name}' uses compose's `provider`" + (f" ({kind})" if kind else "")
                            + ", which is not supported yet: locald runs containers from an `image` or a "
                            "`build`; remove the service, or start it with Docker Compose itself")
    image, build = take("image", None), take("build", None)
    if not image and not build:
        raise ImportRefused(f"service '{name}' has neither `image` nor `build`: locald runs containers from one "
                            "of them")
    if image:
        out["image"] = image
    if isinstance(build, dict):
        _build(build, out, compose, notes)
    elif build:
        out["build"] = build

    for key in ("command", "entrypoint"):
        value = take(key, None)
        if isinstance(value, list) and value:
            out[key] = value
        elif isinstance(value, str) and value:
            out[key] = value
        elif value is not None:  # [] clears the image's value: locald cannot say that
            compose[key] = value

    if "working_dir" in rest:
        out["workdir"] = take("working_dir")
    if "user" in rest:
        out["user"] = take("user")

    env = take("environment", None)
    if env:
        given = {k: v for k, v in env.items() if v is not None}
        if given:
            out["env"] = given
        if len(given) < len(env):
            compose["environment"] = _env_list(env)
            unset = ", ".join(k for k, v in env.items() if v is None)
            notes.append(f"environment: {unset} without a value (Compose takes it from the environment `locald up` "
                         "runs in); kept in compose.environment")

    env_files = take("env_file", None)
    if env_files:
        paths = [e.get("path") for e in env_files if isinstance(e, dict) and set(e) <= {"path", "required"}
                 and e.get("required", True) is True]
        if len(paths) == len(env_files):
            out["env_file"] = paths
        else:  # optional files or another format: locald's `env_file` names required .env files only
            compose["env_file"] = env_files

    ports = take("ports", None)
    if ports:
        simple = _simple_port(ports)
        if simple and simple[1] not in ctx.host_ports:
            out["container_port"], out["port"] = simple
            ctx.host_ports[simple[1]] = name
        else:
            out["ports"] = [_port_string(p) or p for p in ports]

    volumes = take("volumes", None)
    if volumes:
        written = [v if _foreign_bind(v) else _volume_string(v) or v for v in volumes]
        if any(_foreign_bind(v) for v in volumes):
            compose["volumes"] = written  # the whole list: a list in `compose` replaces, it does not merge
            notes.append("volumes: a bind source is a path of another system (C:\\…), which locald cannot say "
                         "(its paths are relative to locald.toml); all volumes kept in compose.volumes")
        else:
            out["volumes"] = written

    deps = take("depends_on", None)
    if deps:
        native, rest_deps = {}, {}
        for dep, spec in deps.items():
            spec, new = spec or {}, ctx.renamed.get(dep, dep)
            cond = _FROM_COMPOSE_CONDITION.get(spec.get("condition", "service_started"))
            if cond is None or dep not in ctx.names:
                rest_deps[new] = spec
                continue
            required = spec.get("required", True)
            native[new] = cond if required else {"condition": cond, "required": False}
            extra = {k: v for k, v in spec.items() if k not in ("condition", "required")}
            if extra:
                rest_deps[new] = extra
                notes.append(f"depends_on.{dep}: {', '.join(sorted(extra))} has no locald equivalent; "
                             "kept in compose.depends_on")
        if native:
            out["depends_on"] = native
        if rest_deps:
            compose["depends_on"] = rest_deps

    health = take("healthcheck", None)
    if health:
        mapped = _health(health)
        if mapped is not None:
            out["health_check"] = mapped
        if mapped is None:
            compose["healthcheck"] = health
        else:
            said = mapped if isinstance(mapped, dict) else {"command": mapped}
            extra = {k: v for k, v in health.items() if k != "test" and k not in said}
            if extra:
                compose["healthcheck"] = extra
                notes.append(f"healthcheck: {', '.join(extra)} has no locald equivalent; kept in compose.healthcheck")

    restart = take("restart", None)
    if restart and restart != "no":
        if restart in ("always", "on-failure"):
            out["restart"] = restart
        elif restart.startswith("on-failure:") and restart.split(":", 1)[1].isdigit():
            out["restart"] = "on-failure"
            out["max_restarts"] = int(restart.split(":", 1)[1])
        elif restart == "unless-stopped":
            out["restart"] = "always"
            compose["restart"] = restart
            notes.append("restart: unless-stopped → always (locald stops the service itself on `down`); "
                         "compose.restart keeps unless-stopped for the engine")
        else:
            compose["restart"] = restart

    signal = take("stop_signal", None)
    if signal is not None:
        (out if isinstance(signal, str) and _SIGNAL.fullmatch(signal) else compose)["stop_signal"] = signal
        if signal in ("SIGTERM", "TERM"):  # locald's default too, but written it overrides the image's STOPSIGNAL
            compose["stop_signal"] = signal
    grace = take("stop_grace_period", None)
    if grace is not None:
        (out if isinstance(grace, str) and _DURATION.fullmatch(grace) else compose)["stop_grace_period"] = grace

    develop = take("develop", None)
    if develop:
        rules = watch_rules(develop.get("watch"), bool(out.get("build") or compose.get("build")))
        if rules:
            out["watch"] = rules
            develop = {k: v for k, v in develop.items() if k != "watch"}
        elif develop.get("watch"):
            notes.append("develop.watch: an entry locald cannot say (sync+exec, initial_sync, a relative target, a "
                         "glob in `path`, …); all of develop.watch kept in compose.develop, which locald does not act on")
        if develop:
            compose["develop"] = develop

    if rest.get("networks") == {"default": None}:
        del rest["networks"]  # what Compose adds to every service: nothing to say
    if ctx.renamed:
        rename_references(rest, ctx.renamed)
    compose.update(rest)
    if compose:
        out["compose"] = tomlable(compose)
    return out, notes


_WATCH_KEYS = {"path", "action", "target", "ignore", "include", "exec", "initial_sync"}
_WATCH_ACTIONS = ("restart", "sync", "rebuild", "sync+restart")


def watch_rules(entries: Any, builds: bool) -> list[dict] | None:
    """Compose's `develop.watch` as locald's `watch` tables (one per entry, `include` patterns as globs
    below `path`), or None when an entry says something locald cannot (then all of it stays in compose:
    a list in `compose` replaces, it does not merge)."""
    if not isinstance(entries, list) or not entries:
        return None
    rules = [_watch_rule(e, builds) for e in entries]
    return None if any(r is None for r in rules) else rules


def _watch_rule(entry: Any, builds: bool) -> dict | None:
    if not isinstance(entry, dict) or set(entry) - _WATCH_KEYS or entry.get("initial_sync"):
        return None
    if any(v is not None for v in (entry.get("exec") or {}).values()):  # Compose prints `exec: {command: null}`
        return None
    path, action, target = entry.get("path"), entry.get("action"), entry.get("target")
    sync = action in ("sync", "sync+restart")
    if not isinstance(path, str) or _GLOB.search(path) or action not in _WATCH_ACTIONS or (action == "rebuild"
                                                                                            and not builds):
        return None
    if (target is not None) != sync or (sync and not (isinstance(target, str) and target.startswith("/"))):
        return None
    include = entry.get("include") or []
    # An include pattern becomes a glob below `path`: its first part must hold the glob, or locald would
    # read the glob-free part as part of the base.
    if not all(isinstance(p, str) and p and _GLOB.search(p.split("/", 1)[0]) for p in include):
        return None
    rule: dict[str, Any] = {"paths": [path.rstrip("/") + "/" + p for p in include] if include else [path],
                            "action": action}
    if sync:
        rule["target"] = target
    if entry.get("ignore"):
        rule["ignore"] = list(entry["ignore"])
    return rule


def _health(hc: dict) -> dict | str | None:
    """A compose healthcheck as locald's `health_check`, or None when locald cannot say it."""
    test = hc.get("test")
    if hc.get("disable") or not isinstance(test, list) or not test:
        return None
    if test[0] == "CMD-SHELL" and len(test) == 2 and test[1]:
        command: str | list = test[1]
    elif test[0] == "CMD" and len(test) > 1:
        command = test[1:]
    else:
        return None
    out: dict[str, Any] = {"command": command}
    for k in ("interval", "timeout", "start_period"):
        if isinstance(hc.get(k), str) and _DURATION.fullmatch(hc[k]):
            out[k] = hc[k]
    if isinstance(hc.get("retries"), int) and hc["retries"] >= 1:
        out["retries"] = hc["retries"]
    return command if list(out) == ["command"] and isinstance(command, str) else out


def _rename_ref(value: str, renamed: dict[str, str], prefix: str = "") -> str:
    """`svc`, `svc:suffix` or `service:svc`-style references to a renamed service."""
    if prefix:
        if not value.startswith(prefix):
            return value
        return prefix + renamed.get(value[len(prefix):], value[len(prefix):])
    head, sep, tail = value.partition(":")
    return renamed.get(head, head) + sep + tail


def rename_references(svc: dict, renamed: dict[str, str]) -> None:
    """References to renamed services in one service: links, volumes_from, `service:` modes."""
    if isinstance(svc.get("links"), list):
        svc["links"] = [_rename_ref(x, renamed) for x in svc["links"]]
    if isinstance(svc.get("volumes_from"), list):
        svc["volumes_from"] = [x if x.startswith("container:") else _rename_ref(x, renamed) for x in svc["volumes_from"]]
    for k in ("network_mode", "ipc", "pid"):
        if isinstance(svc.get(k), str):
            svc[k] = _rename_ref(svc[k], renamed, "service:")


# --- the project ------------------------------------------------------------------------------------------

def own_definition(section: str, key: str, spec: dict | None, project: str) -> dict | None:
    """A top-level definition without what Compose derives from the project name (the `PROJECT_KEY`
    name, an empty ipam); None for the implicit default network. Compose names every network, volume,
    secret and config, so one without a name had it set empty in the file (`name: ${UNSET}`): that
    stays said, or the name would come back derived."""
    spec = dict(spec or {})
    if spec.get("name") == f"{project}_{key}":
        del spec["name"]
    elif section in _ALWAYS_NAMED and "name" not in spec:
        spec["name"] = ""
    if spec.get("ipam") == {}:
        del spec["ipam"]
    if section == "networks" and key == "default" and not spec:
        return None
    return spec


def top_level_resources(data: dict, project: str, rel: Callable[[str], str]) -> dict:
    """Top-level networks/volumes/secrets/configs/models and x- extensions, as the file said them (see
    `own_definition`) so they follow locald's project name; `file` paths through `rel`."""
    out: dict[str, Any] = {}
    for section in RESOURCES:
        items = {}
        for key, spec in (data.get(section) or {}).items():
            own = own_definition(section, key, spec, project)
            if own is None:
                continue
            if "file" in own:
                own["file"] = rel(own["file"])
            items[key] = tomlable(own)
        if items:
            out[section] = items
    out.update({k: tomlable(v) for k, v in data.items() if k.startswith("x-")})
    return out
