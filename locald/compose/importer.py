"""Compose project → locald.toml.

Input is the project as Docker Compose normalises it (frontend.load): files merged, `extends` and
`include` resolved, every value interpolated and literal; `provenance` then puts env files back as
references and keeps values that came from variables out of locald.toml.
Services and top-level resources are mapped by `mapping` (the rules the adoption of compose files
shares); this module adds what only a written locald.toml needs: service names locald can use, host
paths relative to locald.toml, and the TOML text itself, checked as `locald validate` would.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import LocaldError
from . import frontend, provenance, toml_writer
from .mapping import ImportRefused, MappingContext, map_service, top_level_resources

SCHEMA_URL = "https://locald.dev/schema/locald.schema.json"
LOCALD_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass
class Imported:
    doc: dict[str, Any]  # the locald.toml document
    text: str  # the same, as TOML
    renamed: dict[str, str] = field(default_factory=dict)  # compose service name -> locald name
    notes: dict[str, list[str]] = field(default_factory=dict)  # service -> approximations, explained
    warnings: list[str] = field(default_factory=list)  # Compose's own warnings (unset variables, …)
    resolved: dict[str, str] = field(default_factory=dict)  # each variable that had a value -> from where
    unwritten: dict[str, list[str]] = field(default_factory=dict)  # service -> env keys/args written without value


# --- names ------------------------------------------------------------------------------------------

def locald_name(name: str) -> str:
    """The closest valid locald service name: lowercase, other characters become '-'."""
    clean = re.sub(r"[^a-z0-9_-]+", "-", name.lower())
    return re.sub(r"^[^a-z0-9]+", "", clean)


def rename_services(names: Sequence[str]) -> dict[str, str]:
    """compose name -> locald name, for the names that need one; refuses collisions."""
    renamed = {n: locald_name(n) for n in names if not LOCALD_NAME.fullmatch(n)}
    taken = {n for n in names if n not in renamed}
    for old, new in renamed.items():
        if not new or new in taken:
            why = "has no usable characters" if not new else f"would become '{new}', which is already taken"
            raise ImportRefused(
                f"service '{old}' cannot keep its name in locald.toml (locald names are lowercase letters, digits, "
                f"'-' and '_', starting with a letter or digit) and {why}: rename it in the compose file first")
        taken.add(new)
    return renamed


# --- paths ---------------------------------------------------------------------------------------------

def relative_paths(base: Path) -> Callable[[str], str]:
    """Absolute host paths (Compose resolves them) made relative to the directory of locald.toml,
    so the project stays portable; paths that share nothing with it but `/` stay absolute."""
    base_s = str(base)

    def rel(p: str) -> str:
        if not isinstance(p, str) or not os.path.isabs(p):
            return p
        if os.path.commonpath([p, base_s]) == os.sep:
            return p
        r = os.path.relpath(p, base_s)
        return "." if r == "." else (r if r.startswith("..") else "./" + r)

    return rel


def relativise_service(svc: dict, rel: Callable[[str], str]) -> dict:
    """The host paths in one normalised service: build contexts and ssh keys, bind sources, env files,
    watch paths."""
    svc = dict(svc)
    build = svc.get("build")
    if isinstance(build, dict):
        build = dict(build)
        for k in ("context", "dockerfile"):
            if k in build:
                build[k] = rel(build[k])
        if isinstance(build.get("additional_contexts"), dict):
            build["additional_contexts"] = {k: rel(v) for k, v in build["additional_contexts"].items()}
        if isinstance(build.get("ssh"), list):  # `ID=PATH` keys
            build["ssh"] = [_rel_after("=", k, rel) for k in build["ssh"]]
        svc["build"] = build
    if isinstance(svc.get("volumes"), list):
        svc["volumes"] = [dict(v, source=rel(v["source"])) if isinstance(v, dict) and v.get("type") == "bind"
                          and "source" in v else v for v in svc["volumes"]]
    if isinstance(svc.get("env_file"), list):
        svc["env_file"] = [dict(e, path=rel(e["path"])) if isinstance(e, dict) and "path" in e else rel(e)
                           for e in svc["env_file"]]
    develop = svc.get("develop")
    if isinstance(develop, dict) and isinstance(develop.get("watch"), list):
        svc["develop"] = dict(develop, watch=[dict(w, path=rel(w["path"])) if isinstance(w, dict) and "path" in w
                                              else w for w in develop["watch"]])
    return svc


def _rel_after(sep: str, value: Any, rel: Callable[[str], str]) -> Any:
    if not isinstance(value, str) or sep not in value:
        return value
    head, path = value.split(sep, 1)
    return f"{head}{sep}{rel(path)}"


def _keep_old_name(compose_name: str, table: dict) -> None:
    """A renamed service stays reachable under its compose name: a network alias on each network."""
    compose = table.setdefault("compose", {})
    if "network_mode" in compose:
        return
    networks = compose.get("networks") or {"default": {}}
    for net, spec in networks.items():
        spec = dict(spec or {})
        spec["aliases"] = [*spec.get("aliases", []), compose_name]
        networks[net] = spec
    compose["networks"] = networks


# --- the project ------------------------------------------------------------------------------------------

def convert(model: frontend.ComposeModel, out_dir: Path, source_names: Sequence[str] = (),
            kept: provenance.Kept | None = None) -> Imported:
    """The locald.toml for a loaded compose project; paths relative to `out_dir`. `kept`: the services
    with only what may be written (provenance), and why; without it, the values Compose resolved."""
    data = model.data
    rel = relative_paths(Path(out_dir).resolve())
    project = data.get("name") or "my-app"
    services = kept.services if kept else data.get("services") or {}
    if not services:
        raise ImportRefused("the compose project has no services to import")
    renamed = rename_services(list(services))
    ctx = MappingContext(set(services), renamed)
    tables: dict[str, dict] = {}
    notes: dict[str, list[str]] = {}
    for name, svc in services.items():
        new = renamed.get(name, name)
        table, svc_notes = map_service(name, relativise_service(svc, rel), ctx)
        if name in renamed:
            _keep_old_name(name, table)
            svc_notes.insert(0, f"renamed from '{name}' (locald names are lowercase letters, digits, '-' and '_'); "
                                "its old name stays a network alias")
        svc_notes += kept.notes.get(name, []) if kept else []
        tables[new] = table
        if svc_notes:
            notes[new] = svc_notes
    doc: dict[str, Any] = {"project": {"name": project}, "services": tables}
    resources = top_level_resources(data, project, rel)
    if resources:
        doc["compose"] = resources
    resolved = kept.resolved if kept else {}
    text = render(doc, notes, source_names or [str(f) for f in model.files], resolved)
    unwritten = {renamed.get(n, n): keys for n, keys in kept.unwritten.items()} if kept else {}
    return Imported(doc, text, renamed, notes, list(model.warnings), resolved, unwritten)


def render(doc: dict, notes: dict[str, list[str]], sources: Sequence[str], resolved: Sequence[str] = ()) -> str:
    """`resolved`: the variables whose values the import used."""
    header = [f"#:schema {SCHEMA_URL}", ""]
    what = ", ".join(sources) or "the compose project"
    header += [f"# Imported from {what} by `locald import compose`.",
               "# Keys locald has no equivalent for are kept verbatim in each service's `compose` table and in",
               "# the [compose.*] tables (top-level networks, volumes, secrets, configs)."]
    if resolved:
        header.append("# Variables resolved when importing (outside `env`, their values are written here): "
                      + ", ".join(f"${{{name}}}" for name in resolved) + ".")
    comments = {("services", name): lines for name, lines in notes.items()}
    return toml_writer.dumps(doc, header, comments)


def import_compose(files: Sequence[str | os.PathLike] = (), out_dir: str | os.PathLike | None = None,
                   workdir: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> Imported:
    """Load compose files as Docker Compose does (all profiles) and convert them, keeping env files
    and secrets out (provenance); the result is checked with the same validation `locald validate`
    runs before it is returned."""
    workdir = Path(workdir or os.getcwd()).resolve()
    out_dir = Path(out_dir).resolve() if out_dir else workdir
    with ThreadPoolExecutor(1) as pool:  # the project as written is read while Compose resolves it
        origins = pool.submit(provenance.read, files, workdir, env, os.environ if env is None else env)
        model = frontend.load(files, frontend.ALL_PROFILES, workdir, env, allow_inconsistent=True)
        kept = provenance.keep_out_secrets(model.services, origins.result())
    found = model.files or [workdir / n for n in frontend.default_files(workdir)]
    names = [os.path.relpath(p, out_dir) if not os.path.relpath(p, out_dir).startswith("..") else str(p)
             for p in found] or ["the compose file found in " + str(workdir)]
    imported = convert(model, out_dir, names, kept)
    check(imported.text, out_dir)
    return imported


def check(text: str, out_dir: Path) -> None:
    """Fail loudly if the generated file does not pass `locald validate` (that is a locald bug)."""
    from ..config import check_source
    from ..config.source import load_text

    checked = check_source(load_text(text, "locald.toml"), Path(out_dir) / "locald.toml")
    if checked.problems:
        raise LocaldError("the generated locald.toml does not validate (a bug in locald's importer, please "
                          "report it):\n" + "\n".join(str(p) for p in checked.problems))
