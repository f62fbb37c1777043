"""Compose round trip: import → locald.toml → `locald export compose` → compare with the original.

    python compat/roundtrip.py [DIR_OR_FILE ...] [--json FILE] [-v]

For each compose project: Docker Compose loads the original (`docker compose config`), locald imports
it (`locald import compose`), loads the locald.toml it wrote (the same checks as `locald validate`),
exports it (`locald export compose`), and Docker Compose loads the export. The two normalised
projects are compared service by service and key by key. Differences that are locald's by design are
removed by the rules in BY_DESIGN (each documented once in compat/README.md) and counted; anything
else is printed. A project Docker Compose itself refuses must be refused by the import too, with a
message (a LocaldError), never a traceback.

Default inputs: the corpus in ../shared/compat/compose-corpus (files/, each run from its original
layout under trees/ when it has one) and the fixtures in compat/fixtures/. Every project is copied
to a temporary directory first, and the locald.toml is written next to its compose file, as a user
would.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from locald.compose import frontend  # noqa: E402
from locald.compose.mapping import own_definition, rename_references, without_nulls  # noqa: E402
from locald.config.model import DEFAULT_TIMEOUT  # noqa: E402
from locald.errors import LocaldError  # noqa: E402

CORPUS = ROOT.parent / "shared" / "compat" / "compose-corpus"
FIXTURES = HERE / "fixtures"
SECTIONS = ("networks", "volumes", "secrets", "configs", "models")


# --- cases ----------------------------------------------------------------------------------------------

@dataclass
class Case:
    name: str  # what the table shows
    root: Path  # the directory copied to the temporary place
    files: list[str]  # compose files, relative to `root` ([] : Compose's default discovery in workdir)
    workdir: str = "."  # relative to `root`: where import runs and locald.toml is written
    expect_refusal: str | None = None  # why the corpus says the file is invalid
    unsupported: str | None = None  # a fixture locald refuses on purpose: part of the expected message


def corpus_cases(corpus: Path = CORPUS) -> list[Case]:
    """Each corpus file, from its original layout under trees/ when it has one (extends, include and
    env_file name neighbours)."""
    def rows(name):
        with open(corpus / name, newline="") as f:
            return list(csv.DictReader(f, delimiter="\t"))

    trees = {(r["source_repo"], r["path"]): r["tree_path"] for r in rows("TREES.tsv")}
    validation = rows("VALIDATION.tsv")
    verdict = [k for k in validation[0] if k not in ("file", "first_errors")][0]  # schema_valid(…)
    invalid = {r["file"]: r["first_errors"] for r in validation if r[verdict].startswith("no")}
    cases = []
    for r in rows("MANIFEST.tsv"):
        tree = trees.get((r["source_repo"], r["path"]))
        if tree:
            top = Path(tree).parts[:2]  # trees/<owner+repo>
            root = corpus.joinpath(*top)
            rel = Path(tree).relative_to(Path(*top))
            case = Case(r["file"], root, [rel.name], str(rel.parent))
        else:
            case = Case(r["file"], corpus / "files", [r["file"]])
        case.expect_refusal = invalid.get(r["file"])
        cases.append(case)
    return cases


def directory_cases(path: Path) -> list[Case]:
    """A compose file, or a directory of compose files, or a directory of fixture directories (each run
    with the files listed in its `files` file, else Compose's default discovery; an `unsupported` file
    holds part of the message locald must refuse it with)."""
    if path.is_file():
        return [Case(path.name, path.parent, [path.name])]
    cases = []
    for entry in sorted(path.iterdir()):
        if entry.is_dir():
            listed, unsupported = entry / "files", entry / "unsupported"
            files = listed.read_text().split() if listed.is_file() else []
            cases.append(Case(entry.name, entry, files,
                              unsupported=unsupported.read_text().strip() if unsupported.is_file() else None))
        elif entry.suffix in (".yaml", ".yml"):
            cases.append(Case(entry.name, path, [entry.name]))
    return cases


# --- comparison ------------------------------------------------------------------------------------------

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_KEYS = {"interval", "timeout", "start_period", "start_interval", "stop_grace_period"}


def _seconds(value: str) -> float | str:
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return value
    return round(sum(float(n) * _UNIT[u] for n, u in parts), 9)


def canonical(value: Any, key: str = "") -> Any:
    """Spellings Compose treats as the same: null ≡ absent (an attachment without options ≡ {}),
    durations by their length, signal names with or without SIG, build ssh keys in any order."""
    if isinstance(value, dict):
        return without_nulls(value, key, canonical)
    if isinstance(value, list):
        items = [canonical(v, key) for v in value]
        return sorted(items, key=str) if key == "ssh" else items  # Compose prints ssh keys in no fixed order
    if key in _DURATION_KEYS and isinstance(value, str):
        return _seconds(value)
    if key == "stop_signal" and isinstance(value, str):
        return value if value.startswith("SIG") else "SIG" + value
    return value


_ENGINE_DEFAULTS = {"restart": "no", "stop_grace_period": 10.0}  # what the engine does when the key is absent


def _without_engine_defaults(service: dict) -> dict:
    return {k: v for k, v in service.items() if _ENGINE_DEFAULTS.get(k, object()) != v}


# By-design differences: (rule id, what locald does and why: one line each, as in compat/README.md,
# and the function that removes it from the exported service given the original one).
Rule = Callable[[dict, dict], bool]


def _init(orig: dict, exp: dict) -> bool:
    if exp.get("init") is True and "init" not in orig:
        del exp["init"]
        return True
    return False


def _host_gateway(orig: dict, exp: dict) -> bool:
    hosts = exp.get("extra_hosts")
    if not isinstance(hosts, list):
        return False
    ours = [h for h in hosts if h in ("host.docker.internal=host-gateway", "host.docker.internal:host-gateway")
            and h not in (orig.get("extra_hosts") or [])]
    if not ours:
        return False
    rest = [h for h in hosts if h not in ours]
    if rest:
        exp["extra_hosts"] = rest
    else:
        del exp["extra_hosts"]
    return True


def _loopback(orig: dict, exp: dict) -> bool:
    ports_o, ports_e = orig.get("ports") or [], exp.get("ports") or []
    changed = False
    for po, pe in zip(ports_o, ports_e):
        if isinstance(po, dict) and isinstance(pe, dict) and "host_ip" not in po and pe.get("host_ip") == "127.0.0.1":
            del pe["host_ip"]
            changed = True
    return changed


# start_period: as long as locald waits for the service (no imported dependent sets a timeout).
_HEALTH_DEFAULTS = {"interval": 1.0, "timeout": 5.0, "retries": 3, "start_period": DEFAULT_TIMEOUT}


def _health_timing(orig: dict, exp: dict) -> bool:
    ho, he = orig.get("healthcheck"), exp.get("healthcheck")
    if not isinstance(ho, dict) or not isinstance(he, dict):
        return False
    changed = False
    for k, default in _HEALTH_DEFAULTS.items():
        if k not in ho and he.get(k) == default:
            del he[k]
            changed = True
    return changed


def _published_main_port(orig: dict, exp: dict) -> bool:
    ports = exp.get("ports")
    if orig.get("ports") or not isinstance(ports, list) or len(ports) != 1:
        return False
    if not isinstance(ports[0], dict) or ports[0].get("host_ip") != "127.0.0.1":
        return False
    del exp["ports"]
    return True


def _renamed(orig: dict, exp: dict, old: str, renamed: dict[str, str]) -> bool:
    """References to renamed services in the original, and the alias kept for the old name."""
    before = json.dumps(orig, sort_keys=True)
    if isinstance(orig.get("depends_on"), dict):
        orig["depends_on"] = {renamed.get(k, k): v for k, v in orig["depends_on"].items()}
    rename_references(orig, renamed)
    changed = json.dumps(orig, sort_keys=True) != before
    if old not in renamed:
        return changed
    for net in (exp.get("networks") or {}).values():
        if isinstance(net, dict) and old in (net.get("aliases") or []):
            net["aliases"] = [a for a in net["aliases"] if a != old]
            if not net["aliases"]:
                del net["aliases"]
            changed = True
    return changed


BY_DESIGN: list[tuple[str, str, Rule]] = [
    ("init", "every container runs with `init: true` (a PID 1 that forwards signals and reaps zombies)", _init),
    ("host-gateway", "every container gets `extra_hosts: host.docker.internal:host-gateway` so it can reach "
                     "host processes", _host_gateway),
    ("loopback", "a published port without an address is bound to 127.0.0.1", _loopback),
    ("health-timing", "health-check timing the compose file leaves unset takes locald's defaults (interval 1s, "
                      "timeout 5s, retries 3, start_period as long as locald waits: 120s) instead of the "
                      "engine's (30s, 30s, 3, 0s)", _health_timing),
    ("published-main-port", "a container without ports whose image exposes a single TCP port is published on "
                            "a host port (bound to 127.0.0.1) so host processes can reach it", _published_main_port),
]
DECLARED_RULE = ("declared-volumes", "a named volume a service uses is declared at the top level even when the "
                 "compose file forgot to (Compose's consistency check refuses such a file)")
UNWRITTEN_RULE = ("env-from-variables", "an environment variable or build argument the compose file takes from a "
                  "variable is written without its value, or left out, so no secret reaches locald.toml")
RENAMED_RULE = ("renamed", "a service whose name locald cannot use is renamed (lowercase, `-` for other "
                "characters); its old name stays a network alias")


@dataclass
class Result:
    case: Case
    status: str  # "equal", "differ", "refused" (as expected), "unsupported" (as expected), "error"
    services: int = 0
    differences: list[str] = field(default_factory=list)
    by_design: dict[str, int] = field(default_factory=dict)
    message: str = ""


def _diff(path: str, a: Any, b: Any, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in b:
                out.append(f"{path}.{k}: only in the original ({_short(a[k])})")
            elif k not in a:
                out.append(f"{path}.{k}: only in the export ({_short(b[k])})")
            else:
                _diff(f"{path}.{k}", a[k], b[k], out)
    elif a != b:
        out.append(f"{path}: {_short(a)} ≠ {_short(b)}")


def _short(v: Any) -> str:
    text = json.dumps(v, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "…"


def _unwritten(orig: dict, exp: dict, keys: list[str]) -> bool:
    """Environment entries and build arguments the import did not write with the value they had."""
    changed = False
    tables = [(orig.get("environment"), exp.get("environment"))]
    if isinstance(orig.get("build"), dict) and isinstance(exp.get("build"), dict):
        tables.append((orig["build"].get("args"), exp["build"].get("args")))
    for o, e in tables:
        for key in keys:
            if isinstance(o, dict) and (o.get(key) != (e or {}).get(key)):
                o.pop(key, None)
                if isinstance(e, dict):
                    e.pop(key, None)
                changed = True
    return changed


def compare(original: dict, exported: dict, renamed: dict[str, str],
            unwritten: dict[str, list[str]] | None = None) -> tuple[list[str], dict[str, int]]:
    """Differences left once the by-design rules have run, and how often each rule applied.
    `unwritten`: service -> environment keys and build arguments the import wrote without their value."""
    counts: dict[str, int] = {}
    diffs: list[str] = []
    svc_o = canonical(original.get("services") or {})
    svc_e = canonical(exported.get("services") or {})
    for name in sorted(set(svc_o) | {k for k in svc_e if k not in renamed.values()}):
        new = renamed.get(name, name)
        if name not in svc_o:
            diffs.append(f"services.{new}: only in the export")
            continue
        if new not in svc_e:
            diffs.append(f"services.{name}: only in the original")
            continue
        o, e = _without_engine_defaults(svc_o[name]), _without_engine_defaults(svc_e[new])
        for rule_id, _why, rule in BY_DESIGN:
            if rule(o, e):
                counts[rule_id] = counts.get(rule_id, 0) + 1
        if renamed and _renamed(o, e, name, renamed):
            counts[RENAMED_RULE[0]] = counts.get(RENAMED_RULE[0], 0) + 1
        if unwritten and _unwritten(o, e, unwritten.get(new, [])):
            counts[UNWRITTEN_RULE[0]] = counts.get(UNWRITTEN_RULE[0], 0) + 1
        _diff(f"services.{new}", o, e, diffs)
    for section in SECTIONS:
        a = canonical(_without_derived(original, section), section)
        b = canonical(_without_derived(exported, section), section)
        if section == "volumes" and _declared_volumes(original, a, b):
            counts[DECLARED_RULE[0]] = counts.get(DECLARED_RULE[0], 0) + 1
        _diff(section, a, b, diffs)
    return diffs, counts


def _declared_volumes(original: dict, a: dict, b: dict) -> bool:
    """Named volumes a service uses but the original never declared (Compose then refuses to run it)."""
    used = {v.get("source") for s in (original.get("services") or {}).values() for v in (s.get("volumes") or [])
            if isinstance(v, dict) and v.get("type") == "volume"}
    extra = [k for k in b if k not in a and b[k] == {} and k in used]
    for k in extra:
        del b[k]
    return bool(extra)


def _without_derived(project: dict, section: str) -> dict:
    """A section without what Compose derives from the project name (and the implicit default network)."""
    name = project.get("name", "")
    owned = {key: own_definition(section, key, spec, name) for key, spec in (project.get(section) or {}).items()}
    return {key: spec for key, spec in owned.items() if spec is not None}


# --- one case --------------------------------------------------------------------------------------------

def _quiet_env() -> dict[str, str]:
    """The environment the export is loaded in: nothing of the user's (locald runs compose that way)."""
    return {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_CONFIG", "DOCKER_HOST")}


def export_text(toml: Path, out: Path) -> str:
    from locald.compose.export import export_project
    from locald.config import load_project

    text, _warnings = export_project(load_project(toml), out)
    return text


def adopting_toml(original: frontend.ComposeModel, files: list[str]) -> str:
    """A locald.toml that adopts the compose files as they are, every profile enabled."""
    profiles = sorted({p for s in original.services.values() for p in (s.get("profiles") or [])})
    text = f'[project]\nname = {json.dumps(original.data.get("name") or "adopted")}\n\n[compose]\nfiles = {json.dumps(files)}\n'
    return text + (f"profiles = {json.dumps(profiles)}\n" if profiles else "")


def _adopt(case: Case, workdir: Path) -> None:
    """Raise LocaldError as `locald validate` would report the adoption's problems."""
    from locald.config import load_project

    toml = workdir / "locald.toml"
    toml.write_text(f'[project]\nname = "adopted"\n\n[compose]\nfiles = {json.dumps(case.files or ["compose.yaml"])}\n')
    load_project(toml)


def run_case(case: Case, scratch: Path, adopt: bool = False) -> Result:
    """adopt: instead of importing, write a locald.toml that adopts the files (`[compose] files`)."""
    from locald.compose.importer import import_compose

    root = scratch / case.root.name
    shutil.copytree(case.root, root, symlinks=True)
    workdir = (root / case.workdir).resolve()
    try:
        original = frontend.load(case.files, frontend.ALL_PROFILES, workdir, allow_inconsistent=not adopt)
    except LocaldError as exc:
        reason = str(exc)
        try:
            if adopt:
                _adopt(case, workdir)
            else:
                import_compose(case.files, out_dir=workdir, workdir=workdir)
        except LocaldError as refused:
            return Result(case, "refused", message=_one_line(str(refused)))
        except Exception:  # noqa: BLE001 - a traceback is exactly what the harness reports
            return Result(case, "error", message="traceback on a file Compose refuses: " + traceback.format_exc(limit=3))
        return Result(case, "error", message=f"imported although Docker Compose refuses it: {_one_line(reason)}")
    if case.expect_refusal:
        return Result(case, "error", message=f"Docker Compose loads a file the corpus marks invalid ({case.expect_refusal})")
    renamed: dict[str, str] = {}
    unwritten: dict[str, list[str]] = {}
    try:
        toml = workdir / "locald.toml"
        if adopt:
            toml.write_text(adopting_toml(original, case.files or frontend.default_files(workdir)))
        else:
            imported = import_compose(case.files, out_dir=workdir, workdir=workdir)
            toml.write_text(imported.text)
            renamed, unwritten = imported.renamed, imported.unwritten
        out = workdir / "locald-export.compose.yaml"
        out.write_text(export_text(toml, out))
        exported = frontend.load([out.name], frontend.ALL_PROFILES, workdir, env=_quiet_env(),
                                 env_files=[os.devnull], allow_inconsistent=not original.consistent)
    except LocaldError as exc:
        if case.unsupported and case.unsupported in str(exc):
            return Result(case, "unsupported", len(original.services), message=_one_line(str(exc)))
        return Result(case, "error", len(original.services), message=_one_line(str(exc)))
    except Exception:  # noqa: BLE001
        return Result(case, "error", len(original.services), message=traceback.format_exc(limit=4))
    if case.unsupported:
        return Result(case, "error", len(original.services), message=f"imported, although locald should refuse it "
                                                                     f"({case.unsupported})")
    diffs, counts = compare(original.data, exported.data, renamed, unwritten)
    return Result(case, "differ" if diffs else "equal", len(original.services), diffs, counts)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- the run ---------------------------------------------------------------------------------------------

def run(cases: list[Case], adopt: bool = False) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="locald-roundtrip-") as tmp:
        for i, case in enumerate(cases):
            scratch = Path(tmp) / f"{i:03d}"
            scratch.mkdir()
            results.append(run_case(case, scratch, adopt))
    return results


def summary(results: list[Result]) -> str:
    valid = [r for r in results if r.status in ("equal", "differ") or (r.status == "error" and r.services)]
    equal = [r for r in results if r.status == "equal"]
    refused = [r for r in results if r.status == "refused"]
    unsupported = [r for r in results if r.status == "unsupported"]
    errors = [r for r in results if r.status == "error" and not r.services]
    negatives = [r for r in refused if r.case.expect_refusal]
    line = f"{len(equal)} of {len(valid)} files round-trip"
    line += (f"; {len(refused)} refused with a clear message, as Docker Compose refuses them "
             f"({len(negatives)} deliberate negatives, {len(refused) - len(negatives)} other)")
    if unsupported:
        line += f"; {len(unsupported)} refused by locald as not supported yet"
    if errors:
        line += f"; {len(errors)} mishandled"
    return line


def table(results: list[Result], verbose: bool = False) -> str:
    width = max([len(r.case.name) for r in results] + [4])
    lines = [f"{'file':<{width}}  services  result"]
    for r in results:
        if r.status == "equal":
            what = "equal" + (f"  (by design: {', '.join(f'{k}×{n}' for k, n in sorted(r.by_design.items()))})"
                              if r.by_design and verbose else "")
        elif r.status == "differ":
            what = f"{len(r.differences)} difference(s): " + "; ".join(r.differences[: (None if verbose else 3)])
        elif r.status == "unsupported":
            what = "not supported yet: " + (r.message if verbose else r.message[:160])
        elif r.status == "refused":
            what = ("refused (negative): " if r.case.expect_refusal else "refused: ") + (
                r.message if verbose else r.message[:160])
        else:
            what = "ERROR: " + (r.message if verbose else _one_line(r.message)[:300])
        lines.append(f"{r.case.name:<{width}}  {r.services or '-':>8}  {what}")
    totals: dict[str, int] = {}
    for r in results:
        for k, n in r.by_design.items():
            totals[k] = totals.get(k, 0) + n
    if totals:
        lines.append("by design (compat/README.md): " + ", ".join(f"{k} ×{n}" for k, n in sorted(totals.items())))
    lines.append(summary(results))
    return "\n".join(lines)


def default_cases() -> list[Case]:
    cases = corpus_cases() if CORPUS.is_dir() else []
    if FIXTURES.is_dir():
        cases += directory_cases(FIXTURES)
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="compose files or directories (default: corpus + fixtures)")
    parser.add_argument("-v", "--verbose", action="store_true", help="every difference, and the by-design counts")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--adopt", action="store_true",
                        help="adopt the files ([compose] files = …) instead of importing them, then export")
    args = parser.parse_args(argv)
    cases = [c for p in args.paths for c in directory_cases(p.resolve())] if args.paths else default_cases()
    if not cases:
        print(f"no compose files (corpus not found at {CORPUS})", file=sys.stderr)
        return 2
    results = run(cases, args.adopt)
    print(table(results, args.verbose))
    if args.json:
        args.json.write_text(json.dumps([{"file": r.case.name, "status": r.status, "services": r.services,
                                          "differences": r.differences, "by_design": r.by_design,
                                          "message": r.message} for r in results], indent=1))
    ok = all(r.status in ("equal", "refused", "unsupported") for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
