"""Where the values of an imported compose project come from, so that secrets stay where they are.

Docker Compose hands the import every value resolved: `${VAR}` interpolated from the caller's
environment and the project's `.env`, env files folded into `environment`, variables listed without a
value (`- HOME`) taken from the shell. Written as they are, those values (passwords, `HOME=/root`) would
end up in a locald.toml that gets committed. So the import also reads the project as written
(`config --no-interpolate`) and the variables Compose used (`config --environment`), and for each
`environment` entry and build argument decides what locald.toml may hold:

- text of the compose file itself (literals, and `${VAR:-default}` defaults when VAR is unset): written;
- no value (`- HOME`) or exactly `${KEY}` for the entry KEY: written without a value, so Compose takes it
  from the environment `locald up` runs in, as it would have;
- anything else a variable's value went into (`${PASSWORD}` under another name, `pre-${X}`): left out
  and explained: locald.toml cannot reference the caller's environment there, and inlining it could
  write a secret;
- env files stay `env_file` references (Compose reads them when the container starts).

Every variable that had a value is reported once, with where it came from.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from . import frontend

_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_OPERATORS = (":-", ":+", ":?", "-", "+", "?")


# --- Compose's interpolation, to know which variables went into a value ---------------------------------

class _NotUnderstood(Exception):
    pass


@dataclass
class Expansion:
    value: str
    used: set[str] = field(default_factory=set)  # variables whose value went into `value`
    seen: set[str] = field(default_factory=set)  # every variable named


def expand(template: str, variables: Mapping[str, str]) -> Expansion | None:
    """`template` interpolated as Compose does (`$$`, `$VAR`, `${VAR}`, `:-`, `-`, `:+`, `+`, `:?`, `?`,
    nested in defaults); None when it is not a template Compose would accept."""
    out = Expansion("")
    try:
        out.value, _end = _expand(template, 0, variables, out, nested=False)
    except _NotUnderstood:
        return None
    return out


def _expand(text: str, i: int, variables: Mapping[str, str], out: Expansion, nested: bool) -> tuple[str, int]:
    parts: list[str] = []
    while i < len(text):
        c = text[i]
        if nested and c == "}":
            return "".join(parts), i
        if c != "$":
            parts.append(c)
            i += 1
            continue
        if text.startswith("$$", i):
            parts.append("$")
            i += 2
            continue
        plain = _NAME.match(text, i + 1)
        if plain:
            parts.append(_value(plain.group(), variables, out))
            i = plain.end()
            continue
        braced = _NAME.match(text, i + 2) if text.startswith("${", i) else None
        if not braced:
            raise _NotUnderstood
        name, i = braced.group(), braced.end()
        if text.startswith("}", i):
            parts.append(_value(name, variables, out))
            i += 1
            continue
        op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
        if op is None:
            raise _NotUnderstood
        inner = Expansion("")
        word, i = _expand(text, i + len(op), variables, inner, nested=True)
        if not text.startswith("}", i):
            raise _NotUnderstood
        i += 1
        out.seen |= inner.seen | {name}
        present = name in variables and (variables[name] != "" or not op.startswith(":"))
        if op.endswith("?") and not present:
            raise _NotUnderstood  # Compose would have refused the file
        if op.endswith("+"):
            parts.append(word if present else "")
            out.used |= inner.used if present else set()
        elif present:
            parts.append(_value(name, variables, out))
        else:
            parts.append(word)
            out.used |= inner.used
    if nested:
        raise _NotUnderstood  # a `${` without its `}`
    return "".join(parts), i


def _value(name: str, variables: Mapping[str, str], out: Expansion) -> str:
    out.seen.add(name)
    if name in variables:
        out.used.add(name)
    return variables.get(name, "")


# --- one project -------------------------------------------------------------------------------------------

@dataclass
class Origins:
    """The project as written, and the variables Compose interpolated it with."""

    written: dict[str, Any]  # `config --no-interpolate`: `${VAR}` kept, env files named
    variables: dict[str, str]  # `config --environment`: the caller's environment and the project's .env
    shell: Mapping[str, str]  # the caller's environment alone

    def origin(self, name: str) -> str:
        return "your environment" if self.shell.get(name) == self.variables.get(name) else "the project's .env"


def read(files: Sequence[str | os.PathLike], workdir: Path, env: dict[str, str] | None,
         shell: Mapping[str, str]) -> Origins:
    """Ask Compose for the project as written and for its interpolation variables (`env`: as given to
    `frontend.load`; `shell`: the caller's environment, to tell it apart from the project's .env)."""
    with ThreadPoolExecutor(2) as pool:  # two `docker compose` runs: side by side
        written = pool.submit(frontend.load, files, frontend.ALL_PROFILES, workdir, env, allow_inconsistent=True,
                              interpolate=False)
        variables = pool.submit(frontend.interpolation_environment, files, workdir, env)
        try:
            return Origins(written.result().data, variables.result(), shell)
        except frontend.ComposeLoadError as exc:  # never seen when the project itself loads; say which step
            raise frontend.ComposeLoadError(f"reading the project as written, to keep its secrets out of "
                                            f"locald.toml: {exc}") from None


@dataclass
class Kept:
    services: dict[str, dict]  # the resolved services, with only what may be written
    notes: dict[str, list[str]]  # service -> what was kept out or referenced, and why
    unwritten: dict[str, list[str]]  # service -> environment keys and build args written without their value
    resolved: dict[str, str]  # each variable that had a value -> where it came from


def keep_out_secrets(services: dict[str, dict], origins: Origins) -> Kept:
    kept = Kept({}, {}, {}, {})
    for name, svc in services.items():
        source = (origins.written.get("services") or {}).get(name) or {}
        svc, notes, unwritten = _service(svc, source, origins)
        kept.services[name] = svc
        if notes:
            kept.notes[name] = notes
        if unwritten:
            kept.unwritten[name] = unwritten
    kept.resolved = {n: origins.origin(n) for n in _names(origins.written, origins.variables)}
    return kept


def _names(value: Any, variables: Mapping[str, str]) -> list[str]:
    """The variables the project names that have a value, in the order written."""
    seen: dict[str, None] = {}
    for text in _strings(value):
        found = expand(text, variables)
        seen.update(dict.fromkeys(sorted(found.seen) if found else ()))
    return [name for name in seen if name in variables]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _service(svc: dict, source: dict, origins: Origins) -> tuple[dict, list[str], list[str]]:
    svc = dict(svc)
    notes: list[str] = []
    unwritten: list[str] = []
    if "environment" in source or svc.get("environment"):
        env, env_notes, env_unwritten = _table("environment", svc.get("environment") or {},
                                               _as_table(source.get("environment")), origins)
        svc["environment"] = env
        notes += env_notes
        unwritten += env_unwritten
    if source.get("env_file"):
        svc["env_file"] = source["env_file"]  # read by Compose when the container starts
    build, source_build = svc.get("build"), source.get("build")
    if isinstance(build, dict) and isinstance(source_build, dict) and build.get("args"):
        args, arg_notes, arg_unwritten = _table("build.args", build["args"], _as_table(source_build.get("args")),
                                                origins)
        svc["build"] = {**build, "args": args}
        notes += arg_notes
        unwritten += arg_unwritten
    return svc, notes, unwritten


def _as_table(value: Any) -> dict:
    """`environment` or `args` as written: a table, or (when Compose does not normalise it) a list of
    `KEY=VALUE` and `KEY` (no value)."""
    if isinstance(value, list):
        return dict((item.split("=", 1) if "=" in item else (item, None)) for item in value if isinstance(item, str))
    return value if isinstance(value, dict) else {}


def _table(what: str, resolved: dict, written: dict, origins: Origins) -> tuple[dict, list[str], list[str]]:
    """One `environment` (or build `args`) table: only the keys the file itself sets (env files stay
    references), each with what may be written (None: no value, Compose takes it from the shell)."""
    out: dict[str, Any] = {}
    from_dot_env: list[str] = []
    left_out: dict[str, str] = {}  # key -> as written
    for key, template in written.items():
        if template is None:
            out[key] = None  # no value: Compose takes it from the shell, at run time as it did now
            continue
        if not isinstance(template, str) or "$" not in template:
            out[key] = resolved.get(key, template)  # text of the file
            continue
        found = expand(template, origins.variables)
        if found is None or found.value != resolved.get(key):
            left_out[key] = template  # not a template we can follow: keep it out, to be safe
        elif template in (f"${key}", f"${{{key}}}"):
            out[key] = None  # the same variable at run time, as Compose would read it
            if key in origins.variables and origins.origin(key) != "your environment":
                from_dot_env.append(key)
        elif not any(origins.variables[n] for n in found.used):
            out[key] = found.value  # text of the compose file itself (defaults), or only empty variables
        else:
            left_out[key] = template
    notes = []
    env = what == "environment"
    if from_dot_env:
        notes.append(f"{what}: {', '.join(from_dot_env)} came from the project's .env, which locald does not read "
                     "for containers: export it before `locald up`" + (", or name that file in `env_file`" if env else ""))
    if left_out:
        many = len(left_out) > 1
        listed = ", ".join(f"{key} ({template})" for key, template in left_out.items())
        notes.append(f"{what}: {listed} left out: {'their values come' if many else 'its value comes'} from "
                     "variables, which locald.toml cannot reference there, and may be secrets; "
                     + ("put them in an env file named in `env_file`" if env else
                        "list them without a value in compose.build.args and export them before `locald up`"))
    return out, notes, [k for k, v in out.items() if v is None] + list(left_out)
